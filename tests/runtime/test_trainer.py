"""Trainer (`net.fit`): history records, convergence, determinism, the optimizers, weight decay,
bit-exact resume (per epoch and after Ctrl-C mid-epoch), refusals, divergence and bad data."""

from __future__ import annotations

import os
import re
import signal
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netc
from netc.runtime.checkpoint import load_checkpoint
from netc.runtime.data import load_dataset
from netc.runtime.optim import OPTIMIZERS, Optimizer, plan_update

ROOT = Path(__file__).resolve().parents[2]
SPIRAL_SPEC = ROOT / "specs" / "spiral.net"
RELU = "input: 2\naffine(16) -> relu -> affine(3) -> softmax_ce\n"
# Dropout and batchnorm make resume depend on the network's generator and running statistics.
STATEFUL = "input: 2\naffine(16) -> batchnorm -> relu -> dropout(0.2) -> affine(3) -> softmax_ce\n"


@pytest.fixture(scope="module")
def spiral() -> tuple[np.ndarray, np.ndarray]:
    d = load_dataset("spiral")
    return d.x_train, d.t_train


def write_spec(folder: Path, text: str, name: str = "net.net") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def without_seconds(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in rec.items() if k != "seconds"} for rec in history]


# --- history --------------------------------------------------------------------------------


def test_history_has_one_record_per_epoch(spiral):
    x, t = spiral
    net = netc.compile(RELU)
    seen: list[dict[str, Any]] = []
    h = net.fit(x, t, epochs=3, batch_size=50, lr=0.5, on_epoch=seen.append, eval_train=True)
    assert len(h) == 3
    assert [r["epoch"] for r in h] == [1, 2, 3]
    for rec in h:
        assert set(rec) == {"epoch", "train_loss", "train_acc", "seconds"}
        assert np.isfinite(rec["train_loss"]) and 0.0 <= rec["train_acc"] <= 1.0
        assert rec["seconds"] >= 0.0
    assert h.last is h[-1]
    assert seen == list(h)
    # With eval_train the recorded train loss is the evaluation-mode loss over the whole set.
    assert h.last["train_loss"] == pytest.approx(net.loss(x, t), rel=1e-5)
    assert h.last["train_acc"] == pytest.approx(net.accuracy(x, t))


def test_history_with_validation_data_has_val_fields(spiral):
    x, t = spiral
    net = netc.compile(RELU)
    h = net.fit(x, t, epochs=2, batch_size=50, lr=0.5, validation_data=(x[:90], t[:90]))
    for rec in h:
        assert set(rec) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                            "seconds"}
    assert h.last["val_loss"] == pytest.approx(net.loss(x[:90], t[:90]), rel=1e-5)
    assert h.last["val_acc"] == pytest.approx(net.accuracy(x[:90], t[:90]))


def test_on_step_reports_every_step(spiral):
    x, t = spiral
    calls: list[tuple[int, int, int]] = []
    netc.compile(RELU).fit(x, t, epochs=2, batch_size=70, lr=0.1,
                           on_step=lambda e, s, n, loss: calls.append((e, s, n)))
    # 300 samples in batches of 70: 5 steps per epoch, the last one partial.
    assert calls == [(e, s, 5) for e in (1, 2) for s in range(1, 6)]


# --- convergence and determinism ------------------------------------------------------------


def test_spiral_spec_reaches_95_percent(spiral):
    x, t = spiral
    net = netc.load(SPIRAL_SPEC)
    run = net.plan.run
    h = net.fit(x, t, epochs=run.epochs, batch_size=run.batch_size, optimizer=run.optimizer,
                seed=run.seed, **dict(run.hyper))
    assert h.last["train_acc"] >= 0.95
    assert net.accuracy(x, t) >= 0.95


def test_same_seed_is_bit_identical_and_other_seed_differs(spiral):
    x, t = spiral

    def train(seed: int) -> netc.runtime.network.Network:  # type: ignore[name-defined]
        net = netc.compile(STATEFUL, seed=1)
        net.fit(x, t, epochs=3, batch_size=32, optimizer="adam", lr=0.01, seed=seed)
        return net

    a, b, c = train(5), train(5), train(6)
    assert_same_arrays(dict(a.params), dict(b.params))
    assert_same_arrays(dict(a.buffers), dict(b.buffers))
    assert any(not np.array_equal(a.params[k], c.params[k]) for k in a.params)


# --- optimizers -----------------------------------------------------------------------------

TRAIN_LR = {"sgd": 1.0, "momentum": 0.1, "nesterov": 0.1, "adagrad": 0.1, "rmsprop": 0.01,
            "adam": 0.02}


def test_every_optimizer_is_covered():
    assert set(TRAIN_LR) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", sorted(TRAIN_LR))
def test_every_optimizer_trains(spiral, name):
    x, t = spiral
    net = netc.compile(RELU)
    before = net.loss(x, t)
    h = net.fit(x, t, epochs=15, batch_size=30, optimizer=name, lr=TRAIN_LR[name])
    losses = [r["train_loss"] for r in h]
    assert losses[-1] < 0.5 * before
    assert losses[-1] < losses[0]
    assert h.last["train_acc"] > 0.8


def hand_update(name: str, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], t: int,
                h: dict[str, float]) -> np.ndarray:
    """The textbook (DLFS 1 ch. 6) update, written independently of the kernels."""
    g = g + h.get("wd", 0.0) * p
    lr = h["lr"]
    if name == "sgd":
        return p - lr * g
    if name == "momentum":
        state["v"] = h["momentum"] * state["v"] - lr * g
        return p + state["v"]
    if name == "nesterov":
        m = h["momentum"]
        state["v"] = m * state["v"] - lr * g
        return p + m * m * state["v"] - (1 + m) * lr * g
    if name == "adagrad":
        state["h"] = state["h"] + g * g
        return p - lr * g / (np.sqrt(state["h"]) + h["eps"])
    if name == "rmsprop":
        state["h"] = h["decay"] * state["h"] + (1 - h["decay"]) * g * g
        return p - lr * g / (np.sqrt(state["h"]) + h["eps"])
    assert name == "adam"
    b1, b2 = h["beta1"], h["beta2"]
    state["m"] = state["m"] + (1 - b1) * (g - state["m"])
    state["v"] = state["v"] + (1 - b2) * (g * g - state["v"])
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    return p - lr_t * state["m"] / (np.sqrt(state["v"]) + h["eps"])


@pytest.mark.parametrize("wd", [0.0, 0.05])
@pytest.mark.parametrize("name", sorted(TRAIN_LR))
def test_generated_step_matches_reference_and_formula(name, wd):
    spec = "input: 3\naffine(4) -> tanh -> affine(2) -> softmax_ce\n"
    rng = np.random.default_rng(0)
    x0, t0 = rng.standard_normal((1, 3)), np.array([1])
    steps = 3
    hyper = {**dict(OPTIMIZERS[name].hyper), "lr": 0.05, "wd": wd}

    # fit: the same sample repeated, batch size 1, so every step sees exactly this batch.
    net = netc.compile(spec, seed=0, dtype="float64")
    start = {k: p.copy() for k, p in net.params.items()}
    net.fit(np.repeat(x0, steps, 0), np.repeat(t0, steps), epochs=1, batch_size=1,
            optimizer=name, lr=0.05, wd=wd, wd_all=True)  # the formula decays every parameter

    # Reference: the interpreted Optimizer, and the hand formula, fed the same gradients.
    ref = netc.compile(spec, seed=0, dtype="float64")
    assert_same_arrays(dict(ref.params), start)
    opt = Optimizer(name, lr=0.05, wd=wd)
    hand = {k: p.copy() for k, p in start.items()}
    slots = {k: {s: np.zeros_like(p) for s in ("v", "h", "m")} for k, p in start.items()}
    for step in range(1, steps + 1):
        grads = ref.gradients(x0, t0)
        for k in hand:
            hand[k] = hand_update(name, ref.params[k].copy(), grads[k], slots[k], step, hyper)
        opt.update(ref.params, grads)
        for k in hand:
            np.testing.assert_allclose(ref.params[k], hand[k], rtol=1e-10, atol=1e-14)
            hand[k] = ref.params[k].copy()
    if plan_update(OPTIMIZERS[name], hyper).grad_scale == 1.0:
        assert_same_arrays(dict(net.params), dict(ref.params))
    else:
        # Plain SGD folds lr into the loss gradient (lr/n, not 1/n): equal up to rounding.
        assert plan_update(OPTIMIZERS[name], hyper).kernel.__name__ == "sgd_prescaled_update"
        for k in start:
            np.testing.assert_allclose(net.params[k], ref.params[k], rtol=1e-13, atol=1e-16)
    assert any(not np.array_equal(net.params[k], start[k]) for k in start)


def test_weight_decay_shrinks_weights(spiral):
    x, t = spiral
    nets = {}
    for wd in (0.0, 0.1):
        nets[wd] = netc.compile(RELU)
        nets[wd].fit(x, t, epochs=5, batch_size=30, lr=0.5, wd=wd)
    norm = {wd: sum(float(np.sum(p**2)) for k, p in n.params.items() if k.endswith(".W"))
            for wd, n in nets.items()}
    assert norm[0.1] < 0.9 * norm[0.0]
    # `weight_decay=` is the same hyper-parameter under its long name.
    alias = netc.compile(RELU)
    alias.fit(x, t, epochs=5, batch_size=30, lr=0.5, weight_decay=0.1)
    assert_same_arrays(dict(alias.params), dict(nets[0.1].params))


def shifted(spec: str) -> Any:
    """A float64 network whose biases, gamma and beta are not 0 (decay of 0 is no change)."""
    net = netc.compile(spec, seed=0, dtype="float64")
    for k, p in net.params.items():
        if not k.endswith(".W"):
            p += 0.5
    return net


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_weight_decay_reaches_weights_only_by_default(name):
    """DLFS's weight decay: W gets g + wd*W; biases and batchnorm's gamma/beta get plain g
    (same update as with wd=0); wd_all=True decays them too (the former behaviour)."""
    spec = "input: 3\naffine(4) -> batchnorm -> tanh -> affine(2) -> softmax_ce\n"
    x, t = np.random.default_rng(1).standard_normal((8, 3)), np.arange(8) % 2
    nets = {}
    for key, kw in (("none", {"wd": 0.0}), ("w", {"wd": 0.1}), ("all", {"wd": 0.1,
                                                                     "wd_all": True})):
        nets[key] = shifted(spec)
        start = {k: p.copy() for k, p in nets[key].params.items()}
        nets[key].fit(x, t, epochs=1, batch_size=8, optimizer=name, lr=0.05, **kw)
    grads = shifted(spec).gradients(x, t)
    for k, p0 in start.items():
        if k.endswith(".W"):  # decayed: differs from no decay, matches the formula (one step)
            assert not np.array_equal(nets["w"].params[k], nets["none"].params[k])
            if name == "sgd":
                np.testing.assert_allclose(nets["w"].params[k],
                                           p0 - 0.05 * (grads[k] + 0.1 * p0), rtol=1e-12)
            np.testing.assert_allclose(nets["w"].params[k], nets["all"].params[k], rtol=1e-12)
        else:  # untouched by decay: exactly the wd=0 update; wd_all decays them
            np.testing.assert_array_equal(nets["w"].params[k], nets["none"].params[k])
            assert not np.array_equal(nets["all"].params[k], nets["none"].params[k])


def test_unknown_optimizer_and_hyper_parameter_are_refused(spiral):
    x, t = spiral
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'"):
        netc.compile(RELU).fit(x, t, optimizer="adamw")
    with pytest.raises(ValueError, match="sgd has no hyper-parameter 'momentum'"):
        netc.compile(RELU).fit(x, t, optimizer="sgd", momentum=0.9)


# --- resume ---------------------------------------------------------------------------------


def resume_case(tmp_path: Path, spec: str, x, t, **fit: Any) -> None:
    """4 epochs straight == 2 epochs, then a fresh net resuming to 4, bit for bit."""
    full, half, rest = tmp_path / "full.npz", tmp_path / "half.npz", tmp_path / "rest.npz"
    a = netc.compile(spec, seed=3)
    ha = a.fit(x, t, epochs=4, checkpoint=full, **fit)

    b = netc.compile(spec, seed=3)
    b.fit(x, t, epochs=2, checkpoint=half, **fit)
    assert load_checkpoint(half).meta["epoch"] == 2

    c = netc.compile(spec, seed=99)  # different initial weights: all must come from the file
    hc = c.fit(x, t, epochs=4, checkpoint=rest, resume=half, **fit)

    assert len(hc) == 4
    assert without_seconds(hc) == without_seconds(ha)
    assert_same_arrays(dict(c.params), dict(a.params))
    assert_same_arrays(dict(c.buffers), dict(a.buffers))
    assert c.rng.bit_generator.state == a.rng.bit_generator.state
    ca, cc = load_checkpoint(full), load_checkpoint(rest)
    assert_same_arrays(ca.optimizer, cc.optimizer)
    for key in ("epoch", "step", "updates", "shuffle_rng", "net_rng", "optimizer", "hyper"):
        assert ca.meta[key] == cc.meta[key], key


def test_resume_is_bit_identical_sgd(tmp_path, spiral):
    resume_case(tmp_path, RELU, *spiral, batch_size=32, optimizer="sgd", lr=0.5)


def test_resume_is_bit_identical_with_dropout_batchnorm_adam(tmp_path, spiral):
    x, t = spiral
    resume_case(tmp_path, STATEFUL, x, t, batch_size=32, optimizer="adam", lr=0.01,
                validation_data=(x[::3], t[::3]))


def test_resume_of_a_finished_run_trains_nothing(tmp_path, spiral):
    x, t = spiral
    ck = tmp_path / "ck.npz"
    a = netc.compile(RELU)
    a.fit(x, t, epochs=2, batch_size=50, checkpoint=ck)
    b = netc.compile(RELU, seed=7)
    h = b.fit(x, t, epochs=2, batch_size=50, resume=ck)
    assert len(h) == 2
    assert_same_arrays(dict(b.params), dict(a.params))


def test_ctrl_c_mid_epoch_saves_and_resumes_bit_identical(tmp_path, spiral):
    x, t = spiral
    fit = dict(batch_size=32, optimizer="adam", lr=0.01)
    straight = netc.compile(STATEFUL)
    h_straight = straight.fit(x, t, epochs=3, **fit)

    saved = tmp_path / "interrupted.npz"
    steps: list[tuple[int, int]] = []

    def ctrl_c(epoch: int, step: int, n: int, loss: float) -> None:
        steps.append((epoch, step))
        if (epoch, step) == (2, 4):
            os.kill(os.getpid(), signal.SIGINT)

    previous = signal.getsignal(signal.SIGINT)
    net = netc.compile(STATEFUL)
    with pytest.raises(KeyboardInterrupt):
        net.fit(x, t, epochs=3, interrupt_checkpoint=saved, on_step=ctrl_c, **fit)
    assert signal.getsignal(signal.SIGINT) is previous
    # The first Ctrl-C lets the current step finish and stops before the next one.
    assert steps[-1] == (2, 4)
    assert saved.exists()
    meta = load_checkpoint(saved).meta
    assert (meta["epoch"], meta["step"]) == (1, 4)
    assert len(meta["history"]) == 1 and meta["perm"] is not None

    resumed = netc.compile(STATEFUL, seed=42)
    h = resumed.fit(x, t, epochs=3, resume=saved, **fit)
    assert without_seconds(h) == without_seconds(h_straight)
    assert_same_arrays(dict(resumed.params), dict(straight.params))
    assert_same_arrays(dict(resumed.buffers), dict(straight.buffers))


def test_ctrl_c_between_epochs_resumes_bit_identical(tmp_path, spiral):
    # Ctrl-C during the end-of-epoch callback: the trainer draws the next epoch's shuffle,
    # stops before its first step, and must save that shuffle too.
    x, t = spiral
    fit = dict(batch_size=32, optimizer="momentum", lr=0.1)
    straight = netc.compile(RELU)
    h_straight = straight.fit(x, t, epochs=3, **fit)

    def ctrl_c(rec: dict[str, Any]) -> None:
        if rec["epoch"] == 1:
            os.kill(os.getpid(), signal.SIGINT)

    saved = tmp_path / "interrupted.npz"
    with pytest.raises(KeyboardInterrupt):
        netc.compile(RELU).fit(x, t, epochs=3, interrupt_checkpoint=saved, on_epoch=ctrl_c,
                               **fit)
    meta = load_checkpoint(saved).meta
    assert (meta["epoch"], meta["step"]) == (1, 0)
    resumed = netc.compile(RELU, seed=42)
    h = resumed.fit(x, t, epochs=3, resume=saved, **fit)
    assert without_seconds(h) == without_seconds(h_straight)
    assert_same_arrays(dict(resumed.params), dict(straight.params))


def test_resume_with_other_settings_is_refused(tmp_path, spiral):
    x, t = spiral
    ck = tmp_path / "ck.npz"
    netc.compile(RELU).fit(x, t, epochs=1, batch_size=30, optimizer="momentum", lr=0.1,
                           checkpoint=ck)
    other_spec = "input: 2\naffine(8) -> relu -> affine(3) -> softmax_ce\n"
    with pytest.raises(netc.DataError, match="different spec"):
        netc.compile(other_spec).fit(x, t, epochs=2, batch_size=30, optimizer="momentum",
                                     resume=ck)
    with pytest.raises(netc.DataError, match="optimizer 'momentum', this run uses 'adam'"):
        netc.compile(RELU).fit(x, t, epochs=2, batch_size=30, optimizer="adam", resume=ck)
    with pytest.raises(netc.DataError, match="batch_size 30, this run uses 64"):
        netc.compile(RELU).fit(x, t, epochs=2, batch_size=64, optimizer="momentum", resume=ck)
    with pytest.raises(netc.DataError, match="dtype 'float32', this run uses 'float64'"):
        netc.compile(RELU, dtype="float64").fit(x, t, epochs=2, batch_size=30,
                                                optimizer="momentum", resume=ck)
    # The refused attempts left the checkpoint as it was, and the same settings still resume.
    h = netc.compile(RELU).fit(x, t, epochs=2, batch_size=30, optimizer="momentum", lr=0.1,
                               resume=ck)
    assert [r["epoch"] for r in h] == [1, 2]


def test_missing_checkpoint_folder_fails_before_training(tmp_path, spiral):
    x, t = spiral
    calls: list[int] = []
    with pytest.raises(netc.DataError, match="does not exist"):
        netc.compile(RELU).fit(x, t, epochs=1, checkpoint=tmp_path / "nope" / "ck.npz",
                               on_step=lambda *a: calls.append(1))
    assert calls == []


# --- divergence -----------------------------------------------------------------------------


def regression(n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 2))
    return x, x @ np.array([[1.0], [-2.0]]) + 0.5


MSE = "input: 2\naffine(1) -> mse\n"


def test_divergence_names_epoch_step_layer_and_fix(tmp_path):
    spec = write_spec(tmp_path, "# linear regression\n" + MSE)
    x, t = regression()
    net = netc.load(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(netc.TrainingError) as err:
            net.fit(x, t, epochs=3, batch_size=20, lr=1e6)
    msg = str(err.value)
    assert "diverged in epoch 1 at step 5: the loss is inf" in msg
    assert f"The output of 1.mse ({spec}:3:14) went non-finite first" in msg
    assert "lower the learning rate (now 1000000.0), e.g. --lr 100000" in msg
    assert "keeps epoch" not in msg  # no checkpoint was asked for

    # Huge inputs overflow inside the network: the first non-finite layer is named.
    deep = write_spec(tmp_path, "input: 2\naffine(10) -> relu -> affine(3) -> softmax_ce\n",
                      "deep.net")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(netc.TrainingError) as err:
            netc.load(deep).fit(x * 1e3, (x[:, 0] > 0).astype(int), epochs=2, batch_size=20,
                                lr=1e6)
    msg = str(err.value)
    assert "diverged in epoch 1 at step " in msg
    assert re.search(rf"The (output|parameters) of \d\.\w+ \({re.escape(str(deep))}:2:\d+\)",
                     msg), msg
    assert "lower the learning rate" in msg


def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    spec = write_spec(tmp_path, MSE)
    x, t = regression()
    ck = tmp_path / "ck.npz"
    good = netc.load(spec)
    good.fit(x, t, epochs=2, batch_size=20, lr=0.05, checkpoint=ck)
    before = ck.read_bytes()

    # Continue the same run with a learning rate that blows up in its third epoch.
    net = netc.load(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(netc.TrainingError) as err:
            net.fit(x, t, epochs=4, batch_size=20, lr=1e6, checkpoint=ck, resume=ck,
                    resume_anyway=True)
    msg = str(err.value)
    assert "diverged in epoch 3 at step " in msg
    assert f"1.mse ({spec}:2:14)" in msg
    assert f"the checkpoint {ck} keeps epoch 2" in msg
    assert "lower the learning rate" in msg

    assert ck.read_bytes() == before
    restored = netc.load(spec, checkpoint=ck)
    assert_same_arrays(dict(restored.params), dict(good.params))
    assert load_checkpoint(ck).meta["epoch"] == 2


# --- bad data -------------------------------------------------------------------------------


def test_bad_data_is_a_clear_data_error(tmp_path, spiral):
    x, t = spiral
    spec = write_spec(tmp_path, RELU)
    net = netc.load(spec)
    with pytest.raises(netc.DataError,
                       match=r"3 features per sample, but the network takes 2 \(the input of "
                             rf"affine at {spec}:2:1\)"):
        net.fit(np.ones((300, 3)), t, epochs=1)
    bad = t.copy()
    bad[7] = 3
    with pytest.raises(netc.DataError,
                       match=rf"label 3 is out of range: softmax_ce at {spec}:2:\d+ has 3 "
                             r"classes \(labels 0 to 2\)"):
        net.fit(x, bad, epochs=1)
    bad[7] = -1
    with pytest.raises(netc.DataError, match="label -1 is out of range"):
        net.fit(x, bad, epochs=1)
    nan = x.copy()
    nan[5, 1] = np.nan
    with pytest.raises(netc.DataError,
                       match=r"mine.npz: inputs contain NaN or infinite values \(sample 5\)"):
        net.fit(nan, t, epochs=1, data_name="mine.npz")
    with pytest.raises(netc.DataError, match="299 targets for 300 samples"):
        net.fit(x, t[:-1], epochs=1)
    with pytest.raises(netc.DataError, match="class labels must be whole numbers"):
        net.fit(x, t + 0.5, epochs=1)
    with pytest.raises(netc.DataError, match="1 features per sample"):
        net.fit(x, t, epochs=1, validation_data=(x[:, :1], t))
    # None of the refused calls trained anything.
    assert_same_arrays(dict(net.params), dict(netc.load(spec).params))


def test_fit_names_the_sample_with_non_finite_targets() -> None:
    rng = np.random.default_rng(0)
    net = netc.compile("input: 3\naffine(2) -> mse", seed=0)
    x, t = rng.standard_normal((50, 3)), rng.standard_normal((50, 2))
    t[17, 0] = np.inf
    with pytest.raises(netc.DataError,
                       match=r"reg.csv: targets contain NaN or infinite values \(sample 17\)"):
        net.fit(x, t, epochs=1, batch_size=10, data_name="reg.csv")
