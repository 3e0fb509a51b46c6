"""Runtime reporting: a tqdm bar inside each epoch and one line per epoch, for the CLI and fit.

Kept apart from the trainer, which never prints: this module only turns its callbacks into
terminal output.
"""

from __future__ import annotations

import math
import sys
from typing import Any, TextIO

from tqdm import tqdm


def format_record(rec: dict[str, Any], epochs: int) -> str:
    """`epoch  3/17  train loss 0.2345 acc 93.12%  test loss 0.2456 acc 92.98%  1.23s`."""
    width = len(str(epochs))
    parts = [f"epoch {rec['epoch']:>{width}}/{epochs}",
             f"train loss {loss_text(rec['train_loss'])}" + _acc(rec.get("train_acc"))]
    for held in ("val", "test"):  # `val_*`: validation_data; `test_*`: a test split
        if f"{held}_loss" in rec:
            parts.append(f"{held} loss {loss_text(rec[f'{held}_loss'])}"
                         + _acc(rec.get(f"{held}_acc")))
    parts.append(f"{rec['seconds']:.2f}s")
    return "  ".join(parts)


def loss_text(value: float) -> str:
    """`0.2345`, or `8.98e+199` where four decimals would print hundreds of digits."""
    return f"{value:.4f}" if abs(value) < 1e6 else f"{value:.4g}"


def _acc(value: float | None) -> str:
    return "" if value is None or value != value else f" acc {value:.2%}"


def log_interval(epochs: int, log_every: int | None) -> int:
    """Epochs between epoch lines: `log_every`, else about 20 lines whatever the length (300
    lines for a 0.2 s spiral run are noise)."""
    if log_every is not None:
        if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
            raise ValueError(f"log_every must be a positive integer, got {log_every!r}")
        return log_every
    return max(1, math.ceil(epochs / 20))


class Progress:
    """Callbacks for `Trainer`: a bar per epoch (stderr) and a line every `log_every` epochs
    (stdout; the first and the last always). `finish()` prints the last epoch when the run
    ended before `epochs` (early stopping) on an epoch without a line."""

    def __init__(self, epochs: int, *, quiet: bool = False, out: TextIO | None = None,
                 log_every: int | None = None) -> None:
        self.epochs, self.quiet = epochs, quiet
        self.every = log_interval(epochs, log_every)
        self.out = out or sys.stdout
        self._bar: tqdm | None = None
        self._unprinted: dict[str, Any] | None = None

    def on_step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        if self.quiet:
            return
        if self._bar is None:
            # Why disable=None: tqdm turns itself off when stderr is not a terminal (CI logs).
            self._bar = tqdm(total=steps, initial=step - 1, desc=f"epoch {epoch}", unit="batch",
                             leave=False, file=sys.stderr, disable=None, dynamic_ncols=True)
        self._bar.update(1)
        if step % 20 == 0 or step == steps:
            self._bar.set_postfix(loss=loss_text(loss), refresh=False)

    def on_epoch(self, rec: dict[str, Any]) -> None:
        self.close()
        epoch = rec["epoch"]
        if epoch == 1 or epoch % self.every == 0 or epoch >= self.epochs:
            self._print(rec)
        else:
            self._unprinted = rec

    def finish(self) -> None:
        """Print the last epoch's line if it was skipped (a run stopped early)."""
        self.close()
        if self._unprinted is not None:
            self._print(self._unprinted)

    def _print(self, rec: dict[str, Any]) -> None:
        self._unprinted = None
        if not self.quiet:
            print(format_record(rec, self.epochs), file=self.out, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
