"""Runtime stage 7 helper: callbacks, what `fit` runs between epochs (Keras's, in small).

A callback is any object with any of these optional methods (the protocol every part of
netc uses):

    on_train_begin(trainer) -> bool | None         # False: nothing is left to train
    on_epoch_end(record, trainer) -> bool | None   # False: stop cleanly after this epoch
    on_train_end(trainer) -> None

`trainer.history` is the History so far, `trainer.net` the network and `trainer.hyper["lr"]`
the learning rate; a callback may set it, and the next epoch's step uses the new value.
The callbacks here keep no state that the History does not hold: each rebuilds its own from
`trainer.history` when training begins, so `--resume` continues them exactly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from os import PathLike, fspath
from typing import Any

from .. import rules
from ..errors import NetcWarning

# The loss an unnamed monitor watches: the held-out one when the run has one.
_AUTO = ("val_loss", "test_loss", "train_loss")


def begin(callbacks: Sequence[Any], trainer: Any) -> bool:
    """Run every `on_train_begin`; False when one says nothing is left to train."""
    said = [_call(c, "on_train_begin", trainer) for c in callbacks]
    return all(s is not False for s in said)


def epoch_end(callbacks: Sequence[Any], record: dict[str, Any], trainer: Any) -> bool:
    """Run every `on_epoch_end` (all of them, as Keras does); False when one asks to stop."""
    said = [_call(c, "on_epoch_end", record, trainer) for c in callbacks]
    return all(s is not False for s in said)


def end(callbacks: Sequence[Any], trainer: Any) -> None:
    for c in callbacks:
        _call(c, "on_train_end", trainer)


def _call(callback: Any, method: str, *args: Any) -> Any:
    fn = getattr(callback, method, None)
    return fn(*args) if fn is not None else None


def set_lr(trainer: Any, lr: float, owner: str) -> None:
    """Set the learning rate the next epoch uses, checked by the optimizer's own rule, and
    write the one this epoch used into its record (`lr`, as Keras's schedules log it)."""
    record = trainer.history[-1] if trainer.history else {}
    record.setdefault("lr", trainer.hyper["lr"])
    trainer.hyper["lr"] = rules.OPTIMIZERS[trainer.info.name][0].check(lr, owner)


class Monitor:
    """The best value so far of one History column, and epochs since it last improved."""

    def __init__(self, monitor: str | None, min_delta: float, mode: str, owner: str) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) \
                or not math.isfinite(min_delta) or min_delta < 0:
            raise ValueError(f"{owner}: min_delta must be a non-negative finite number, "
                             f"got {min_delta!r}")
        self.monitor, self.min_delta, self.mode, self.owner = monitor, min_delta, mode, owner
        self.reset()

    def reset(self) -> None:
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.last_key = self.monitor or "loss"

    def key(self, record: Mapping[str, Any]) -> str:
        """The monitored column; a `ValueError` naming the columns when the record lacks it."""
        if self.monitor is None:
            return next(k for k in _AUTO if k in record)
        if self.monitor in record:
            return self.monitor
        keys = [k for k in record if k not in ("epoch", "seconds")]
        close = rules.suggest(self.monitor, keys)
        maybe = f"did you mean {close!r}? " if close else ""
        raise ValueError(f"{self.owner}: the History has no {self.monitor!r} to monitor; "
                         f"{maybe}its records hold {', '.join(map(repr, keys))}")

    def observe(self, record: Mapping[str, Any]) -> bool:
        """Take one epoch's record; True when it is the best so far."""
        key = self.last_key = self.key(record)
        value = float(record[key])
        larger = self.mode == "max" or (self.mode == "auto" and key.endswith("acc"))
        sign = -1.0 if larger else 1.0
        if value == value and (self.best is None
                               or sign * (value - self.best) < -self.min_delta):
            self.best, self.best_epoch, self.wait = value, int(record["epoch"]), 0
            return True
        self.wait += 1
        return False


def _count(value: object, name: str, owner: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{owner}: {name} must be a whole number >= {low}, got {value!r}")
    return value


def _factor(value: object, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 < value <= 1:
        raise ValueError(f"{owner}: factor must be a number > 0 and <= 1, got {value!r}")
    return float(value)


class EarlyStopping:
    """Stop after `patience` epochs in a row without an improvement of `monitor` by more than
    `min_delta` (0 stops at the first, as 1 does, like Keras); with `restore_best`, end
    with the best epoch's parameters and batchnorm statistics in the network.

    The checkpoint (`checkpoint=`) still holds the last epoch, which is what `--resume`
    continues from; keep the best one on disk with `BestCheckpoint`. `monitor=None` watches
    `val_loss`, else `test_loss`, else `train_loss`. `mode="auto"` maximises `*acc` columns.
    """

    def __init__(self, monitor: str | None = "val_loss", patience: int = 5,
                 min_delta: float = 0.0, mode: str = "auto", restore_best: bool = True) -> None:
        self.patience = _count(patience, "patience", "EarlyStopping", 0)
        self.restore_best = restore_best
        self.watch = Monitor(monitor, min_delta, mode, "EarlyStopping")
        self.stopped_epoch: int | None = None
        self.restored_epoch: int | None = None
        self.resumed_stopped = False  # resumed a run that had already stopped
        self._weights: tuple[Any, dict[str, Any]] | None = None

    def on_train_begin(self, trainer: Any) -> bool:
        # Why replay: a resumed run must count patience from the epochs before it too.
        self.watch.reset()
        for record in trainer.history:
            self.watch.observe(record)
        self._weights, self.stopped_epoch, self.restored_epoch = None, None, None
        self.resumed_stopped = bool(trainer.history) and self._done()
        if self.resumed_stopped:
            self.stopped_epoch = int(trainer.history[-1]["epoch"])
            return False  # the run had already stopped here
        return True

    def on_epoch_end(self, record: dict[str, Any], trainer: Any) -> bool:
        if self.watch.observe(record):
            if self.restore_best:
                net = trainer.net
                self._weights = (net.flat_params.copy(),
                                 {k: v.copy() for k, v in net.buffers.items()})
            return True
        if self._done():
            self.stopped_epoch = int(record["epoch"])
            return False
        return True

    def report(self) -> str | None:
        """One line for `netc run` when the run stopped early, else None."""
        if self.stopped_epoch is None or self.watch.best_epoch is None:
            return None
        verb = "had" if self.resumed_stopped else "has"
        why = (f"{self.watch.last_key} {verb} not improved for {self.watch.wait} "
               f"epoch{'s' * (self.watch.wait != 1)} (best {self.watch.best:.4f} at epoch "
               f"{self.watch.best_epoch})")
        epoch = self.stopped_epoch
        if self.resumed_stopped:
            return f"nothing to train: the run stopped early after epoch {epoch}; {why}"
        return f"early stop after epoch {epoch}: {why}"

    def _done(self) -> bool:
        return self.watch.wait >= max(self.patience, 1)

    def on_train_end(self, trainer: Any) -> None:
        best = self.watch.best_epoch
        if not self.restore_best or best is None or not trainer.history:
            return
        if self._weights is not None:
            flat, buffers = self._weights
            trainer.net.flat_params[...] = flat
            for k, v in trainer.net.buffers.items():
                v[...] = buffers[k]
            self.restored_epoch = best
        elif best != trainer.history[-1]["epoch"]:
            warnings.warn(f"EarlyStopping: the best epoch ({best}) was trained before this "
                          "run resumed; the network keeps the last epoch's weights (keep the "
                          "best on disk with BestCheckpoint)", NetcWarning, stacklevel=2)


class BestCheckpoint:
    """Keep only the best epoch's checkpoint at `path` (rewritten atomically whenever
    `monitor` improves); it resumes and predicts like any checkpoint.

    List learning-rate schedules before it: it saves the learning rate as it stands when its
    turn comes, and the schedule's change is what the next epoch uses.
    """

    def __init__(self, path: str | PathLike[str], monitor: str | None = "val_loss",
                 min_delta: float = 0.0, mode: str = "auto") -> None:
        self.path = fspath(path)
        self.watch = Monitor(monitor, min_delta, mode, "BestCheckpoint")

    @property
    def best_epoch(self) -> int | None:
        return self.watch.best_epoch

    def report(self) -> str | None:
        """One line for `netc run`: where the best epoch's checkpoint is."""
        best = self.watch
        if best.best_epoch is None or best.best is None:
            return None
        return (f"best checkpoint: {self.path} (epoch {best.best_epoch}, {best.last_key} "
                f"{best.best:.4f})")

    def on_train_begin(self, trainer: Any) -> None:
        from .checkpoint import check_writable

        others = {fspath(p) for p in (trainer.checkpoint, trainer.interrupt_path) if p}
        if self.path in others:
            raise ValueError(f"BestCheckpoint: {self.path} is also the run's checkpoint; "
                             "give the best one a path of its own")
        self.path = check_writable(self.path)  # before training, not after a good epoch
        self.watch.reset()
        for record in trainer.history:  # Why: a resumed run must not save a worse epoch
            self.watch.observe(record)

    def on_epoch_end(self, record: dict[str, Any], trainer: Any) -> None:
        if self.watch.observe(record):
            from .resume import snapshot

            snapshot(trainer, path=self.path)


class StepDecay:
    """Multiply the learning rate by `factor` after every `every` epochs (epoch `every`,
    `2 * every`, ...): `StepDecay(every=1, factor=0.95)` is exponential decay."""

    def __init__(self, every: int = 10, factor: float = 0.5) -> None:
        self.every = _count(every, "every", "StepDecay", 1)
        self.factor = _factor(factor, "StepDecay")

    def on_epoch_end(self, record: dict[str, Any], trainer: Any) -> None:
        record.setdefault("lr", trainer.hyper["lr"])
        if record["epoch"] % self.every == 0:
            set_lr(trainer, trainer.hyper["lr"] * self.factor, "StepDecay")


class ReduceOnPlateau:
    """Multiply the learning rate by `factor` after `patience` epochs in a row without an
    improvement of `monitor` (0 acts at the first, as 1 does, like Keras), never going below
    `min_lr`: DLFS-2's BetterRnnlm divides it by 4 whenever validation perplexity worsens."""

    def __init__(self, monitor: str | None = "val_loss", factor: float = 0.25,
                 patience: int = 0, min_delta: float = 0.0, mode: str = "auto",
                 min_lr: float = 0.0) -> None:
        self.factor = _factor(factor, "ReduceOnPlateau")
        self.patience = _count(patience, "patience", "ReduceOnPlateau", 0)
        if isinstance(min_lr, bool) or not isinstance(min_lr, (int, float)) \
                or not 0 <= min_lr < math.inf:
            raise ValueError(f"ReduceOnPlateau: min_lr must be a non-negative finite number, "
                             f"got {min_lr!r}")
        self.min_lr = float(min_lr)
        self.watch = Monitor(monitor, min_delta, mode, "ReduceOnPlateau")

    def _plateau(self, record: Mapping[str, Any]) -> bool:
        if self.watch.observe(record) or self.watch.wait < max(self.patience, 1):
            return False
        self.watch.wait = 0  # Why: the next reduction waits `patience` epochs again
        return True

    def on_train_begin(self, trainer: Any) -> None:
        # The learning rate itself comes back from the checkpoint; this only rebuilds the
        # count of epochs without improvement.
        self.watch.reset()
        for record in trainer.history:
            self._plateau(record)

    def on_epoch_end(self, record: dict[str, Any], trainer: Any) -> None:
        record.setdefault("lr", trainer.hyper["lr"])
        if self._plateau(record):
            lr = max(trainer.hyper["lr"] * self.factor, self.min_lr)
            if lr > 0 and lr != trainer.hyper["lr"]:
                set_lr(trainer, lr, "ReduceOnPlateau")


def from_settings(settings: Mapping[str, Any], *, restore_best: bool = True) -> list[Any]:
    """The callbacks the `train:` settings ask for (`netc run`, and `fit` from a spec):
    `lr_decay`/`lr_every`, `lr_plateau`/`lr_patience`, then `early_stop`. Each watches the
    held-out loss when the run has one, else the training loss. `restore_best=False` where
    nothing keeps the network after training (`netc run` keeps only its checkpoint)."""
    out: list[Any] = []
    if settings.get("lr_decay", 1.0) != 1.0:
        out.append(StepDecay(settings.get("lr_every", 1), settings["lr_decay"]))
    if settings.get("lr_plateau", 1.0) != 1.0:
        out.append(ReduceOnPlateau(None, settings["lr_plateau"],
                                   settings.get("lr_patience", 0)))
    if settings.get("early_stop", 0):
        out.append(EarlyStopping(None, settings["early_stop"], restore_best=restore_best))
    return out



def best_path(checkpoint: str | PathLike[str]) -> str:
    """Where `keep_best` keeps the best checkpoint: beside the run's (ck.npz -> ck.best.npz)."""
    path = fspath(checkpoint)
    return path[:-4] + ".best.npz" if path.endswith(".npz") else path + ".best.npz"


def keep_best(checkpoint: str | PathLike[str] | None, owner: str = "fit") -> BestCheckpoint:
    """The `train: keep_best=1` callback: the best epoch by the held-out loss (else the
    training loss), at `best_path(checkpoint)`."""
    if checkpoint is None:
        raise ValueError(f"{owner}: keep_best keeps the best checkpoint beside the run's; "
                         "give a checkpoint path too (checkpoint=..., --checkpoint)")
    return BestCheckpoint(best_path(checkpoint), monitor=None)
