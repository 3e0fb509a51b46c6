"""Runtime stage (after train): learning curves of a `History`, for `netc.plot_history`,
`netc run --plot` and live in a notebook during `fit(plot=True)` (`LivePlot`).

Two panels as in the figures of DLFS-1 ch. 5-6: loss against epochs (train, and the
validation or test split when there is one) and accuracy against epochs (left out for mse,
which has none), with integer epoch ticks and an accuracy axis fitted to the data (on a fixed
0-1 axis, MNIST's 0.95-0.98 curves are flat lines). matplotlib is an optional extra, imported
only here, and only its object API: pyplot's backend is never switched, so a notebook's inline
plots keep working and no display is ever needed.
"""

from __future__ import annotations

import io
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ..atomic import write_atomically
from ..errors import DataError, MissingDependencyError

MISSING = "plotting needs the optional extra: pip install 'netc[plot]' (matplotlib)"
SPLITS = (("train", "-"), ("val", "--"), ("test", "--"))
# Keras's column names, so `plot_history(keras_style_columns)` draws the same panels.
_ALIASES = {"loss": "train_loss", "acc": "train_acc", "accuracy": "train_acc",
            "val_accuracy": "val_acc", "test_accuracy": "test_acc"}


def require_matplotlib() -> Any:
    """`matplotlib.figure.Figure`, or a `MissingDependencyError` naming the extra."""
    try:
        import matplotlib  # noqa: F401 (Why first: a submodule imported earlier would hide its absence)
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(MISSING) from None
    return Figure


# Formats every supported matplotlib writes; a fixed list, so the message naming them does
# not change with the matplotlib version.
SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".tif", ".tiff", ".eps", ".ps")


def plot_suffixes() -> tuple[str, ...]:
    """The image suffixes `plot_history` writes; asking needs matplotlib, so a run without it
    fails before training, not after."""
    require_matplotlib()
    return SUFFIXES


def records(history: Any) -> list[dict[str, Any]]:
    """Per-epoch records from a `History` (a list of dicts) or from columns
    (`history.history`, Keras's `{"loss": [...], "val_loss": [...]}`)."""
    columns = getattr(history, "history", history)
    if isinstance(columns, Mapping):
        n = max((len(v) for v in columns.values()), default=0)
        rows: list[dict[str, Any]] = [{"epoch": i + 1} for i in range(n)]
        for key, values in columns.items():
            for row, v in zip(rows, values, strict=False):
                row[_ALIASES.get(key, key)] = v
        return rows
    return [{_ALIASES.get(k, k): v for k, v in r.items()} for r in history]


def _series(history: Sequence[dict[str, Any]], key: str) -> list[float] | None:
    """The values of `key` per epoch, or None when no epoch has a finite one."""
    values = [_number(r.get(key)) for r in history]
    return values if any(math.isfinite(v) for v in values) else None


def _number(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def accuracy_limits(values: Sequence[float]) -> tuple[float, float]:
    """An accuracy axis that fits the data, with a margin, never beyond 0 or 1 (plus room
    for a marker drawn at 1.0)."""
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = min(finite), max(finite)
    pad = max((hi - lo) * 0.1, 0.01)
    return max(0.0, lo - pad), min(1.0 + pad / 4, hi + pad)


def figure(history: Any, *, title: str = "") -> Any:
    """A matplotlib `Figure` of the curves (no pyplot, so no backend is touched)."""
    Figure = require_matplotlib()  # first: without matplotlib, the message naming the extra
    from matplotlib.ticker import MaxNLocator

    rows = records(history)
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(rows)]
    panels = [("loss", "loss")]
    if any(_series(rows, f"{s}_acc") for s, _ in SPLITS):
        panels.append(("accuracy", "acc"))
    if any(_series(rows, f"{s}_ppl") for s, _ in SPLITS):  # a language model (DLFS-2 ch. 5)
        panels.append(("perplexity", "ppl"))
    fig = Figure(figsize=(10, 4) if len(panels) == 2 else (5.5, 4), dpi=100)
    for i, (name, key) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        drawn: list[float] = []
        for split, style in SPLITS:
            values = _series(rows, f"{split}_{key}")
            if values is not None:
                ax.plot(epochs, values, style, marker="o" if len(epochs) < 30 else None,
                        markersize=3, label=split)
                drawn += values
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        if key == "acc":
            ax.set_ylim(*accuracy_limits(drawn))
        ax.ticklabel_format(axis="y", useOffset=False)  # "1e-5+1.0986" reads as noise
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history: Any, path: str | os.PathLike[str] | None = None, *,
                 title: str = "") -> Curves | None:
    """Draw the loss (and accuracy) curves of `history`: into `path` (.png, .svg, .pdf, ...)
    when given, else return them as `Curves`, which a notebook shows as an image."""
    where = os.fspath(path) if path is not None else "plot_history"
    if not records(history):
        raise DataError(f"{where}: no epochs to plot")
    fig = figure(history, title=title)
    if path is None:
        return Curves(fig)
    _save(fig, where)
    return None


class Curves:
    """Learning curves: `.figure` is the matplotlib Figure; a notebook shows it as a PNG."""

    def __init__(self, fig: Any) -> None:
        self.figure = fig

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=100)
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()

    def savefig(self, path: str | os.PathLike[str]) -> None:
        """Write the curves to `path`, as `plot_history(history, path)` does."""
        _save(self.figure, os.fspath(path))


class LivePlot:
    """A callback that redraws the curves after each epoch in a notebook, in place (one
    display handle updated); outside a Jupyter kernel it does nothing."""

    def __init__(self, title: str = "") -> None:
        self.title = title
        self.handle: Any = None

    def on_train_begin(self, trainer: Any) -> None:
        self.handle = None

    def on_epoch_end(self, record: dict[str, Any], trainer: Any) -> None:
        display = _notebook_display()
        if display is None or not trainer.history:
            return
        from IPython.display import Image

        image = Image(data=Curves(figure(trainer.history, title=self.title)).png())
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)


def with_live_plot(callbacks: Any) -> Any:
    """`fit(plot=True)`'s callbacks: the user's plus a `LivePlot` (anything but a list or
    tuple is passed on unchanged, for the Trainer's own message)."""
    if callbacks is None:
        return [LivePlot()]
    return [*callbacks, LivePlot()] if isinstance(callbacks, (list, tuple)) else callbacks


def _notebook_display() -> Any:
    """IPython's `display` when running in a Jupyter kernel, else None. Why look in
    sys.modules: a kernel has imported IPython already; anywhere else, importing it would
    only cost time to find there is no kernel."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    from IPython.display import display

    return display


def _save(fig: Any, target: str) -> None:
    # A file object carries no name, so the format is the target's suffix, said explicitly.
    fmt = os.path.splitext(target)[1].lower().lstrip(".") or None
    write_atomically(target, lambda f: fig.savefig(f, dpi=100, format=fmt),
                     what="the plot", errors=(OSError, ValueError))
