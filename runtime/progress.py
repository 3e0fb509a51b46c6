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
             f"train loss {loss_text(rec['train_loss'])}" + _acc(rec.get("train_acc"))
             + _ppl(rec.get("train_ppl"))]
    for held in ("val", "test"):  # `val_*`: validation_data; `test_*`: a test split
        if f"{held}_loss" in rec:
            parts.append(f"{held} loss {loss_text(rec[f'{held}_loss'])}"
                         + _acc(rec.get(f"{held}_acc")) + _ppl(rec.get(f"{held}_ppl")))
    parts.append(f"{rec['seconds']:.2f}s")
    return "  ".join(parts)


def loss_text(value: float) -> str:
    """`0.2345`, or `8.98e+199` where four decimals would print hundreds of digits."""
    return f"{value:.4f}" if abs(value) < 1e6 else f"{value:.4g}"


def _acc(value: float | None) -> str:
    return "" if value is None or value != value else f" acc {value:.2%}"


def _ppl(value: float | None) -> str:
    """A language model's perplexity, exp(loss per token)."""
    return "" if value is None else f" ppl {value:.2f}" if value < 1e6 else f" ppl {value:.4g}"


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
                 log_every: int | None = None, bar: Any = None) -> None:
        self.epochs, self.quiet, self._tqdm = epochs, quiet, bar or tqdm
        self.every = log_interval(epochs, log_every)
        self.out = out or sys.stdout
        self._bar: tqdm | None = None
        self._unprinted: dict[str, Any] | None = None

    def on_step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        if self.quiet:
            return
        if self._bar is None:
            # Why disable=None: tqdm turns itself off when stderr is not a terminal (CI logs).
            self._bar = self._tqdm(total=steps, initial=step - 1, desc=f"epoch {epoch}",
                                   unit="batch", leave=False, file=sys.stderr, disable=None,
                                   dynamic_ncols=True)
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


def with_progress(options: dict[str, Any], epochs: int) -> dict[str, Any]:
    """`fit`'s options with its progress (Keras's `verbose`): 1 (default) a bar per epoch and
    about 20 epoch lines (`log_every`), as `netc run` prints; 0 nothing. The user's own
    `on_step`/`on_epoch` still run. In Jupyter the bar is tqdm's widget when ipywidgets is
    installed; elsewhere it is text on a terminal and nothing in a log file."""
    options = dict(options)
    verbose, every = options.pop("verbose", 1), options.pop("log_every", None)
    if verbose not in (0, 1) or isinstance(verbose, float):
        raise ValueError(f"fit: verbose must be 0 or 1, got {verbose!r}")
    if not verbose:
        return options
    from .. import rules

    # Why checked here: the line count needs it before the Trainer checks it (same message).
    epochs = rules.TRAIN["epochs"].check(epochs, "fit")
    progress = Progress(epochs, log_every=every, bar=_notebook_bar())
    step, epoch = options.get("on_step"), options.get("on_epoch")

    def on_step(*args: Any) -> None:
        progress.on_step(*args)
        if step:
            step(*args)

    def on_epoch(rec: dict[str, Any]) -> None:
        progress.on_epoch(rec)
        if epoch:
            epoch(rec)

    options["on_step"], options["on_epoch"] = on_step, on_epoch
    options["callbacks"] = [*options.get("callbacks", []), _Finish(progress)] \
        if isinstance(options.get("callbacks", []), (list, tuple)) else options["callbacks"]
    return options


class _Finish:
    """Closes the bar and prints a skipped last epoch line when training ends."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def on_train_end(self, trainer: Any) -> None:
        self.progress.finish()


def _notebook_bar() -> Any:
    """tqdm's widget inside a Jupyter kernel with ipywidgets, else None (plain tqdm)."""
    import importlib.util

    if "ipykernel" not in sys.modules or importlib.util.find_spec("ipywidgets") is None:
        return None
    from tqdm.notebook import tqdm as widget

    return lambda **kw: widget(**{**kw, "disable": False, "file": None})

