"""fit and `netc run` train the same way: settings from the spec, running means, History
columns, epoch-line counts (issue 12, "the same run from every entry point")."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.runtime.checkpoint import load_checkpoint
from netc.runtime.data import load_dataset
from netc.runtime.progress import Progress, log_interval

SPEC = """input: 2
affine(12) -> relu -> affine(3) -> softmax_ce
optimizer: adam(lr=0.05)
train: epochs=3, batch_size=40, seed=7
"""


@pytest.fixture(scope="module")
def spiral() -> tuple[np.ndarray, np.ndarray]:
    d = load_dataset("spiral")
    return d.x_train, d.t_train


def _no_seconds(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def test_fit_takes_the_spec_settings(spiral):
    x, t = spiral
    net = netc.compile(SPEC)
    seen: list[tuple[int, int, int]] = []
    h = net.fit(x, t, on_step=lambda e, s, n, loss: seen.append((e, s, n)))
    assert len(h) == 3  # train: epochs=3, not the default 10
    assert seen[-1] == (3, math.ceil(len(x) / 40), math.ceil(len(x) / 40))  # batch_size=40
    # adam(lr=0.05) with seed 7 is what ran: the same explicitly gives the same weights.
    ref = netc.compile(SPEC)
    ref.fit(x, t, epochs=3, batch_size=40, seed=7, optimizer="adam", lr=0.05)
    for k in net.params:
        np.testing.assert_array_equal(net.params[k], ref.params[k])


def test_fit_keywords_override_the_spec(spiral):
    x, t = spiral
    h = netc.compile(SPEC).fit(x, t, epochs=1)
    assert len(h) == 1
    a, b = netc.compile(SPEC), netc.compile(SPEC)
    a.fit(x, t, lr=0.001)
    b.fit(x, t)
    assert not np.array_equal(a.flat_params, b.flat_params)
    # Another optimizer does not inherit adam's hyper-parameters (beta1 would be refused).
    netc.compile(SPEC).fit(x, t, optimizer="sgd", epochs=1)


def test_cli_and_fit_end_bit_identical(tmp_path, spiral, capsys):
    x, t = spiral
    xv, tv = x[:60], t[:60]
    data = tmp_path / "d.npz"
    np.savez(data, x_train=x, t_train=t, x_test=xv, t_test=tv)
    spec = tmp_path / "s.net"
    spec.write_text(SPEC)
    ck, metrics = tmp_path / "c.ckpt.npz", tmp_path / "m.json"
    assert main(["run", str(spec), "--data", str(data), "--checkpoint", str(ck),
                 "--metrics-json", str(metrics), "--quiet"]) == 0
    cli_history = json.loads(metrics.read_text())["history"]
    net = netc.load(spec)
    dx = load_dataset(str(data))
    h = net.fit(dx.x_train, dx.t_train, validation_data=(dx.x_test, dx.t_test),
                validation_label="test")
    saved = load_checkpoint(ck)
    for k in net.params:
        np.testing.assert_array_equal(net.params[k], saved.params[k], err_msg=k)
    assert _no_seconds(cli_history) == _no_seconds(json.loads(json.dumps(list(h))))
    assert {"test_loss", "test_acc"} <= set(cli_history[-1])


def test_running_means_are_batch_weighted_means_of_the_batch_losses(spiral):
    x, t = spiral
    net = netc.compile(SPEC)
    losses: list[float] = []
    n, bs = len(x), 40
    h = net.fit(x, t, epochs=1, on_step=lambda e, s, k, loss: losses.append(loss))
    sizes = [min(bs, n - i * bs) for i in range(len(losses))]
    assert sizes[-1] != bs  # 300 samples: the last batch is partial, so weighting matters
    want = sum(v * w for v, w in zip(losses, sizes, strict=True)) / n
    assert h.last["train_loss"] == pytest.approx(want, rel=1e-6)
    assert 0.0 <= h.last["train_acc"] <= 1.0


def test_running_accuracy_counts_the_batches_outputs(spiral):
    """lr so small the weights barely move: the running accuracy is then close to one
    evaluation of the (almost) unchanged network (no dropout here)."""
    x, t = spiral
    net = netc.compile(SPEC)
    before = net.accuracy(x, t)
    h = net.fit(x, t, epochs=1, lr=1e-9)
    assert h.last["train_acc"] == pytest.approx(before, abs=1e-9)



def test_running_accuracy_is_the_same_for_labels_and_one_hot_rows(spiral):
    x, t = spiral
    one_hot = np.eye(3)[t]
    a = netc.compile(SPEC).fit(x, t, epochs=3, verbose=0)
    b = netc.compile(SPEC).fit(x, one_hot, epochs=3, verbose=0)
    assert [r["train_acc"] for r in a] == [r["train_acc"] for r in b]
    # A count over whole samples: a multiple of 1/n, not a sum of rounded batch means.
    assert all(round(r["train_acc"] * len(x)) == r["train_acc"] * len(x) for r in a)

def test_eval_train_is_a_full_evaluation(spiral):
    x, t = spiral
    net = netc.compile(SPEC)
    h = net.fit(x, t, eval_train=True)
    assert h.last["train_loss"] == pytest.approx(net.loss(x, t), rel=1e-6)
    assert h.last["train_acc"] == net.accuracy(x, t)


def test_old_evaluate_keyword_is_deprecated_but_works(spiral):
    x, t = spiral
    with pytest.warns(DeprecationWarning, match="eval_train"):
        h = netc.compile(SPEC).fit(x, t, evaluate=True)
    ref = netc.compile(SPEC).fit(x, t, eval_train=True)
    assert _no_seconds(h) == _no_seconds(ref)


def test_history_columns(spiral):
    x, t = spiral
    h = netc.compile(SPEC).fit(x, t, validation_data=(x[:50], t[:50]))
    cols = h.history
    assert list(cols) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]
    assert cols["val_loss"] == [r["val_loss"] for r in h]
    assert cols["epoch"] == [1, 2, 3]


@pytest.mark.parametrize(("epochs", "every", "lines"), [
    (300, None, 21), (300, 1, 300), (7, None, 7), (10, 4, 4), (45, None, 16)])
def test_epoch_line_counts(epochs, every, lines, capsys):
    import io

    out = io.StringIO()
    p = Progress(epochs, out=out, log_every=every)
    for e in range(1, epochs + 1):
        p.on_epoch({"epoch": e, "train_loss": 1.0, "seconds": 0.0})
    p.finish()
    printed = out.getvalue().splitlines()
    assert len(printed) == lines
    assert printed[0].startswith("epoch  " if epochs >= 10 else "epoch 1/")
    assert f"{epochs}/{epochs}" in printed[-1]


def test_a_run_stopped_early_prints_its_last_epoch():
    import io

    out = io.StringIO()
    p = Progress(300, out=out)  # a line every 15 epochs
    for e in range(1, 23):
        p.on_epoch({"epoch": e, "train_loss": 1.0, "seconds": 0.0})
    p.finish()
    assert [ln.split()[1] for ln in out.getvalue().splitlines()] == ["1/300", "15/300",
                                                                     "22/300"]


def test_log_every_must_be_positive():
    assert log_interval(300, None) == 15
    with pytest.raises(ValueError, match="log_every"):
        log_interval(10, 0)


def test_cli_log_every(tmp_path, capsys):
    spec = Path(__file__).resolve().parents[2] / "specs" / "spiral.net"
    assert main(["run", str(spec), "--epochs", "40", "--log-every", "1"]) == 0
    assert sum(ln.startswith("epoch") for ln in capsys.readouterr().out.splitlines()) == 40
    assert main(["run", str(spec), "--epochs", "40"]) == 0
    assert sum(ln.startswith("epoch") for ln in capsys.readouterr().out.splitlines()) == 21


# --- DLFS ch. 6: subset, validation_split, weight decay's reach -----------------------------


def _steps_seen(net, x, t, **kw) -> tuple[int, object]:
    steps: list[int] = []
    h = net.fit(x, t, on_step=lambda e, s, n, loss: steps.append(n), **kw)
    return steps[0], h


def test_subset_trains_on_the_first_n_samples(spiral):
    x, t = spiral
    steps, _ = _steps_seen(netc.compile(SPEC), x, t, epochs=1, subset=80)
    assert steps == 2  # 80 samples at batch 40
    a, b = netc.compile(SPEC), netc.compile(SPEC)
    a.fit(x, t, subset=80)
    b.fit(x[:80], t[:80])
    np.testing.assert_array_equal(a.flat_params, b.flat_params)


def test_validation_split_is_deterministic_and_sized(spiral):
    x, t = spiral
    steps, h = _steps_seen(netc.compile(SPEC), x, t, validation_split=0.1)
    assert steps == math.ceil(270 / 40) and {"val_loss", "val_acc"} <= set(h.last)
    _, again = _steps_seen(netc.compile(SPEC), x, t, validation_split=0.1)
    assert _no_seconds(h) == _no_seconds(again)
    from netc.runtime.fitsettings import held_out

    tx, tt, (vx, vt) = held_out(x, t, 0, 0.1, 7, None)
    assert (len(tx), len(vx)) == (270, 30)
    assert len(set(map(tuple, vx.tolist())) & set(map(tuple, tx.tolist()))) == 0
    assert len(np.unique(vt)) == 3  # seeded shuffle: every class of the ordered spiral
    with pytest.raises(ValueError, match="not both"):
        netc.compile(SPEC).fit(x, t, validation_split=0.1, validation_data=(x, t))
    with pytest.raises(ValueError, match="no sample to hold out"):
        netc.compile(SPEC).fit(x[:5], t[:5], validation_split=0.1)


def test_spec_train_settings_reach_fit_and_netc_run(tmp_path, capsys):
    d = load_dataset("spiral", seed=7)  # netc run draws the spiral with the spec's seed
    x, t = d.x_train, d.t_train
    text = SPEC.replace("seed=7", "seed=7, subset=200, validation_split=0.25, eval_train=1, "
                                  "wd_all=1").replace("adam(lr=0.05)", "sgd(lr=0.5, wd=0.01)")
    spec = tmp_path / "s.net"
    spec.write_text(text)
    net = netc.load(spec)
    h = net.fit(x, t)
    ref = netc.load(spec)
    href = ref.fit(x, t, subset=200, validation_split=0.25, eval_train=True, wd_all=True,
                   optimizer="sgd", lr=0.5, wd=0.01)
    np.testing.assert_array_equal(net.flat_params, ref.flat_params)
    assert _no_seconds(h) == _no_seconds(href)
    metrics = tmp_path / "m.json"
    assert main(["run", str(spec), "--quiet", "--metrics-json", str(metrics)]) == 0
    assert _no_seconds(json.loads(metrics.read_text())["history"]) == _no_seconds(
        json.loads(json.dumps(list(h))))
    assert "val loss" in capsys.readouterr().out


def test_cli_log_every_zero_is_a_usage_error(capsys):
    spec = Path(__file__).resolve().parents[2] / "specs" / "spiral.net"
    with pytest.raises(SystemExit) as stop:
        main(["run", str(spec), "--log-every", "0"])
    assert stop.value.code == 2
    assert "argument --log-every: must be at least 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["no", 2, 0.5])
def test_switches_take_bools_or_0_1(spiral, bad):
    x, t = spiral
    with pytest.raises((TypeError, ValueError), match="wd_all"):
        netc.compile(SPEC).fit(x, t, wd_all=bad)
    h = netc.compile(SPEC).fit(x, t, epochs=1, eval_train=1, wd_all=0)
    assert len(h) == 1


def test_fit_prints_about_20_epoch_lines_and_verbose_0_nothing(spiral, capsys):
    x, t = spiral
    seen: list[int] = []
    netc.compile(SPEC).fit(x, t, epochs=40, on_epoch=lambda r: seen.append(r["epoch"]))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 21 and lines[-1].startswith("epoch 40/40")
    assert seen == list(range(1, 41))  # the caller's on_epoch still sees every epoch
    netc.compile(SPEC).fit(x, t, epochs=5, log_every=1)
    assert len(capsys.readouterr().out.splitlines()) == 5
    netc.compile(SPEC).fit(x, t, epochs=5, verbose=0)
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="verbose must be 0 or 1"):
        netc.compile(SPEC).fit(x, t, verbose=2)
