"""Callbacks (`runtime/callbacks.py`): early stopping with the best weights restored, the best
checkpoint only, learning-rate schedules that change lr exactly when due, a callback that stops
training, the spec's `train:` settings reaching `netc run`, and bit-exact resume with them."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.errors import DataError
from netc.runtime.callbacks import BestCheckpoint, EarlyStopping, ReduceOnPlateau, StepDecay
from netc.runtime.checkpoint import load_checkpoint
from netc.runtime.data import load_dataset

RELU = "input: 2\naffine(16) -> relu -> affine(3) -> softmax_ce\n"
# Batchnorm buffers and dropout's generator: restoring "the weights" must cover both.
STATEFUL = "input: 2\naffine(16) -> batchnorm -> relu -> dropout(0.2) -> affine(3) -> softmax_ce\n"


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    d = load_dataset("spiral", seed=0)
    x, t = d.x_train, d.t_train
    # A small held-out split of the spiral: its loss rises and falls at a high lr.
    return x[:240], t[:240], x[240:], t[240:]


def held_out(history: list[dict[str, Any]]) -> str:
    """The validation column, whatever the History names it (`val_loss` or `test_loss`)."""
    return next(k for k in ("val_loss", "test_loss") if k in history[0])


def without_seconds(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def state(net: Any) -> dict[str, np.ndarray]:
    return {**{k: v.copy() for k, v in net.params.items()},
            **{"buffer:" + k: v.copy() for k, v in net.buffers.items()}}


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def fit(data: tuple[np.ndarray, ...], spec: str = STATEFUL, **options: Any) -> tuple[Any, Any]:
    x, t, vx, vt = data
    options = {"epochs": 30, "batch_size": 30, "lr": 2.0, "validation_data": (vx, vt),
               **options}
    net = netc.compile(spec, seed=1)
    return net, net.fit(x, t, **options)


def expected_stop(values: list[float], patience: int) -> tuple[int, int]:
    """(stop epoch, best epoch) for `values`, computed independently of the callback."""
    best, best_epoch = float("inf"), 0
    for epoch, v in enumerate(values, 1):
        if v < best:
            best, best_epoch = v, epoch
        elif epoch - best_epoch >= patience:
            return epoch, best_epoch
    return len(values), best_epoch


# --- early stopping -------------------------------------------------------------------------


def test_early_stopping_stops_at_the_right_epoch_and_restores_the_best_weights(data):
    _, full = fit(data)
    key = held_out(full)
    stop, best = expected_stop([r[key] for r in full], 3)
    assert stop < 30, "the data must give a plateau for this test to mean anything"
    early = EarlyStopping(monitor=None, patience=3)
    net, h = fit(data, callbacks=[early])
    assert len(h) == stop and early.stopped_epoch == stop
    assert early.restored_epoch == best
    assert without_seconds(h) == without_seconds(full[:stop])  # nothing else changed
    ref, _ = fit(data, epochs=best)  # the same run stopped at the best epoch
    assert_same(state(net), state(ref))


def test_early_stopping_without_restore_keeps_the_last_epoch(data):
    early = EarlyStopping(monitor=None, patience=3, restore_best=False)
    net, h = fit(data, callbacks=[early])
    ref, _ = fit(data, epochs=len(h))
    assert_same(state(net), state(ref))


def test_an_unknown_monitor_is_named_with_the_columns_there_are(data):
    with pytest.raises(ValueError) as info:
        fit(data, validation_data=None, callbacks=[EarlyStopping(monitor="train_los")])
    message = str(info.value)
    assert "EarlyStopping: the History has no 'train_los' to monitor" in message
    assert "did you mean 'train_loss'?" in message and "'train_acc'" in message


def test_callbacks_must_be_a_list(data):
    with pytest.raises(TypeError, match="fit: callbacks must be a list, got EarlyStopping"):
        fit(data, callbacks=EarlyStopping())


@pytest.mark.parametrize("bad", [{"patience": -1}, {"patience": 1.5}, {"mode": "up"},
                                 {"min_delta": float("nan")}])
def test_early_stopping_refuses_bad_settings(bad):
    with pytest.raises(ValueError, match="EarlyStopping: "):
        EarlyStopping(**bad)


# --- best checkpoint ------------------------------------------------------------------------


def test_best_checkpoint_holds_the_best_epoch(data, tmp_path):
    path = tmp_path / "best.ckpt.npz"
    best = BestCheckpoint(path, monitor=None)
    net, h = fit(data, epochs=12, callbacks=[best])
    values = [r[held_out(h)] for r in h]
    want = int(np.argmin(values)) + 1
    assert best.best_epoch == want and want < 12
    ckpt = load_checkpoint(path)
    assert ckpt.meta["epoch"] == want and len(ckpt.meta["history"]) == want
    ref, _ = fit(data, epochs=want)
    assert_same({**ckpt.params, **{"buffer:" + k: v for k, v in ckpt.buffers.items()}},
                state(ref))


def test_best_checkpoint_checks_its_path_before_training(data, tmp_path):
    seen: list[Any] = []
    with pytest.raises(DataError, match="missing"):
        fit(data, callbacks=[BestCheckpoint(tmp_path / "missing" / "b.npz")],
            on_epoch=seen.append)
    same = tmp_path / "run.ckpt.npz"
    with pytest.raises(ValueError, match="is also the run's checkpoint"):
        fit(data, checkpoint=same, callbacks=[BestCheckpoint(same)], on_epoch=seen.append)
    assert seen == []


# --- learning-rate schedules ----------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_step_decay_changes_lr_exactly_at_the_epochs_due(data, tmp_path, optimizer):
    lr = 0.4 if optimizer != "adam" else 0.01
    net, h = fit(data, epochs=5, lr=lr, optimizer=optimizer,
                 callbacks=[StepDecay(every=2, factor=0.5)])
    assert [r["lr"] for r in h] == [lr, lr, lr / 2, lr / 2, lr / 4]
    plain_net, plain = fit(data, epochs=5, lr=lr, optimizer=optimizer)
    assert without_seconds(plain[:2]) == [{k: v for k, v in r.items() if k != "lr"}
                                         for r in without_seconds(h[:2])]
    assert plain[2]["train_loss"] != h[2]["train_loss"]
    # The new lr is exactly the one the step uses: two epochs, then one at lr/2 by hand.
    ckpt = tmp_path / "c.npz"
    fit(data, epochs=2, lr=lr, optimizer=optimizer, checkpoint=ckpt)
    by_hand, _ = fit(data, epochs=3, lr=lr / 2, optimizer=optimizer, resume=ckpt,
                     resume_anyway=True)
    three, _ = fit(data, epochs=3, lr=lr, optimizer=optimizer, callbacks=[StepDecay(2, 0.5)])
    assert_same(state(three), state(by_hand))


def test_reduce_on_plateau_follows_the_monitored_loss(data):
    _, h = fit(data, epochs=15, lr=3.0,
               callbacks=[ReduceOnPlateau(monitor="train_loss", factor=0.25, patience=0)])
    lrs, losses = [r["lr"] for r in h], [r["train_loss"] for r in h]
    best, expected = float("inf"), [3.0]
    for loss in losses[:-1]:
        expected.append(expected[-1] if loss < best else expected[-1] * 0.25)
        best = min(best, loss)
    assert lrs == expected
    assert len(set(lrs)) > 1, "the run must hit a plateau for this test to mean anything"


class SetLr:
    """The protocol's plain form: write `trainer.hyper["lr"]`, the next epoch uses it."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def on_epoch_end(self, record: dict[str, Any], trainer: Any) -> None:
        if record["epoch"] == 2:
            trainer.hyper["lr"] = self.lr


def test_a_callback_may_set_the_lr_directly(data):
    mine, _ = fit(data, epochs=4, lr=0.4, optimizer="momentum", callbacks=[SetLr(0.1)])
    decay, _ = fit(data, epochs=4, lr=0.4, optimizer="momentum",
                   callbacks=[StepDecay(every=2, factor=0.25)])  # also 0.1 from epoch 3
    assert_same(state(mine), state(decay))
    with pytest.raises(ValueError, match="momentum: lr must be a positive finite number"):
        fit(data, epochs=4, optimizer="momentum", callbacks=[SetLr(float("nan"))])


def test_a_schedule_refuses_to_set_a_bad_lr():
    with pytest.raises(ValueError, match="factor must be"):
        StepDecay(2, 0.0)
    with pytest.raises(ValueError, match="factor must be"):
        ReduceOnPlateau(factor=1.5)


# --- stopping and resuming ------------------------------------------------------------------


class StopAt:
    def __init__(self, epoch: int) -> None:
        self.epoch, self.ended = epoch, False

    def on_epoch_end(self, record: dict[str, Any], trainer: Any) -> bool:
        return record["epoch"] < self.epoch

    def on_train_end(self, trainer: Any) -> None:
        self.ended = True


def test_a_callback_returning_false_stops_cleanly(data, tmp_path):
    ckpt = tmp_path / "c.npz"
    stop = StopAt(2)
    net, h = fit(data, epochs=6, checkpoint=ckpt, callbacks=[stop])
    assert [r["epoch"] for r in h] == [1, 2] and stop.ended
    meta = load_checkpoint(ckpt).meta
    assert meta["epoch"] == 2 and meta["step"] == 0 and len(meta["history"]) == 2
    resumed, h2 = fit(data, epochs=6, resume=ckpt)
    straight, h6 = fit(data, epochs=6)
    assert without_seconds(h2) == without_seconds(h6)
    assert_same(state(resumed), state(straight))


def schedules() -> list[Any]:
    return [StepDecay(every=2, factor=0.7),
            ReduceOnPlateau(monitor=None, factor=0.5, patience=1),
            EarlyStopping(None, 4, restore_best=False)]


def test_resume_with_schedules_is_bit_identical(data, tmp_path):
    ckpt = tmp_path / "c.npz"
    straight, h = fit(data, epochs=10, lr=0.5, callbacks=schedules())
    fit(data, epochs=4, lr=0.5, checkpoint=ckpt, callbacks=schedules())
    assert load_checkpoint(ckpt).meta["lr"] != 0.5  # the schedule's lr is what is saved
    resumed, h2 = fit(data, epochs=10, lr=0.5, resume=ckpt, callbacks=schedules())
    assert without_seconds(h2) == without_seconds(h)
    assert len({r["lr"] for r in h}) > 2
    assert_same(state(resumed), state(straight))


def test_ctrl_c_mid_epoch_with_a_schedule_resumes_bit_identical(data, tmp_path):
    straight, h = fit(data, epochs=5, callbacks=[StepDecay(every=1, factor=0.5)])
    saved = tmp_path / "interrupted.npz"

    def ctrl_c(epoch: int, step: int, n: int, loss: float) -> None:
        if (epoch, step) == (3, 2):  # after two lr changes, inside an epoch
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        fit(data, epochs=5, interrupt_checkpoint=saved, on_step=ctrl_c,
            callbacks=[StepDecay(every=1, factor=0.5)])
    assert load_checkpoint(saved).meta["lr"] == 0.5  # 2.0 halved after epochs 1 and 2
    resumed, h2 = fit(data, epochs=5, resume=saved, callbacks=[StepDecay(every=1, factor=0.5)])
    assert without_seconds(h2) == without_seconds(h)
    assert_same(state(resumed), state(straight))


def test_resuming_a_run_that_stopped_early_trains_nothing(data, tmp_path):
    ckpt = tmp_path / "c.npz"
    early = EarlyStopping(None, 2, restore_best=False)
    _, h = fit(data, checkpoint=ckpt, callbacks=[early])
    assert len(h) < 30
    again = EarlyStopping(None, 2, restore_best=False)
    _, h2 = fit(data, resume=ckpt, callbacks=[again])
    assert without_seconds(h2) == without_seconds(h) and again.stopped_epoch == len(h)


# --- from the spec --------------------------------------------------------------------------


def test_spec_settings_reach_netc_run(tmp_path, capsys):
    spec = tmp_path / "s.net"
    # Halving lr every epoch freezes the loss soon: the early stop then ends the run.
    spec.write_text("input: 2\noptimizer: sgd(lr=8)\n"
                    "train: epochs=40, early_stop=2, lr_decay=0.5, lr_every=1\n"
                    "affine(16) -> relu -> affine(3) -> softmax_ce\n")
    metrics = tmp_path / "m.json"
    assert main(["run", str(spec), "--quiet", "--metrics-json", str(metrics)]) == 0
    out = capsys.readouterr().out
    h = json.loads(metrics.read_text())["history"]
    assert [r["lr"] for r in h] == [8 * 0.5**i for i in range(len(h))]
    stop, best = expected_stop([r["train_loss"] for r in h], 2)
    assert len(h) == stop < 40
    assert f"early stop after epoch {stop}: train_loss has not improved for 2 epochs" in out
    assert f"at epoch {best})" in out


def test_resuming_a_run_that_stopped_early_says_so(tmp_path, capsys):
    spec = tmp_path / "s.net"
    spec.write_text("input: 2\noptimizer: sgd(lr=8)\n"
                    "train: epochs=40, early_stop=2, lr_decay=0.5\n"
                    "affine(16) -> relu -> affine(3) -> softmax_ce\n")
    ck = tmp_path / "c.npz"
    assert main(["run", str(spec), "--quiet", "--checkpoint", str(ck)]) == 0
    epochs = load_checkpoint(ck).meta["epoch"]
    capsys.readouterr()
    assert main(["run", str(spec), "--quiet", "--resume", str(ck)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"nothing to train: the run stopped early after epoch {epochs}; "
                          "train_loss had not improved for 2 epochs")
    assert "trained" not in out and err == ""


def test_spec_settings_are_checked(tmp_path, capsys):
    spec = tmp_path / "s.net"
    spec.write_text("input: 2\ntrain: lr_decay=2\naffine(3) -> softmax_ce\n")
    assert main(["check", str(spec)]) == 1
    assert "lr_decay" in capsys.readouterr().err


def test_the_plan_carries_the_callback_settings():
    plan = netc.api.plan("input: 2\ntrain: early_stop=5, lr_plateau=0.25\n"
                         "affine(3) -> softmax_ce\n")
    settings = dict(plan.run.callbacks)
    assert settings["early_stop"] == 5 and settings["lr_plateau"] == 0.25
    from netc.runtime.callbacks import from_settings

    made = from_settings(settings)
    assert [type(c).__name__ for c in made] == ["ReduceOnPlateau", "EarlyStopping"]
    assert from_settings(dict(netc.api.plan("input: 2\naffine(3) -> softmax_ce\n")
                              .run.callbacks)) == []

