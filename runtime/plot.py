"""Runtime stage (after train): learning curves of a `History` as an image, for `netc run --plot`.

Two panels as in the figures of DLFS-1 ch. 5-6: loss against epochs (train, and test when
there is a test split) and accuracy against epochs (left out for mse, which has none).
matplotlib is an optional extra, imported only here, with the file-only Agg backend so no
display is ever needed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from ..atomic import write_atomically
from ..errors import DataError, MissingDependencyError

MISSING = "plotting needs the optional extra: pip install 'netc[plot]' (matplotlib)"


def require_matplotlib() -> Any:
    """`matplotlib.pyplot` on the Agg backend, or a `MissingDependencyError` naming the extra."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(MISSING) from None
    matplotlib.use("Agg")  # Why: files only; never open a window or need $DISPLAY
    import matplotlib.pyplot as plt

    return plt


# Formats every supported matplotlib writes; a fixed list, so the message naming them does
# not change with the matplotlib version.
SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".tif", ".tiff", ".eps", ".ps")


def plot_suffixes() -> tuple[str, ...]:
    """The image suffixes `plot_history` writes; asking needs matplotlib, so a run without it
    fails before training, not after."""
    require_matplotlib()
    return SUFFIXES


def _series(history: Sequence[dict[str, Any]], key: str) -> list[float] | None:
    """The values of `key` per epoch, or None when no epoch has a finite one."""
    values = [float(r.get(key, math.nan)) for r in history]
    return values if any(math.isfinite(v) for v in values) else None


def plot_history(history: Sequence[dict[str, Any]], path: str | os.PathLike[str], *,
                 title: str = "") -> None:
    """Draw the loss (and accuracy) curves of `history` into `path` (.png, .svg, .pdf)."""
    if not history:
        raise DataError(f"{os.fspath(path)}: no epochs to plot")
    plt = require_matplotlib()
    epochs = [r["epoch"] for r in history]
    has_acc = _series(history, "train_acc") or _series(history, "test_acc")
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(10 if has_acc else 5.5, 4),
                             squeeze=False)
    panels = [("loss", "loss"), ("accuracy", "acc")][: 2 if has_acc else 1]
    for ax, (name, key) in zip(axes[0], panels, strict=True):
        for split, style in (("train", "-"), ("test", "--")):
            values = _series(history, f"{split}_{key}")
            if values is not None:
                ax.plot(epochs, values, style, marker="o" if len(epochs) < 30 else None,
                        markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if has_acc:
        axes[0][1].set_ylim(0, 1.02)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(plt, fig, os.fspath(path))


def _save(plt: Any, fig: Any, target: str) -> None:
    # A file object carries no name, so the format is the target's suffix, said explicitly.
    fmt = os.path.splitext(target)[1].lower().lstrip(".") or None
    try:
        write_atomically(target, lambda f: fig.savefig(f, dpi=100, format=fmt),
                         what="the plot", errors=(OSError, ValueError))
    finally:
        plt.close(fig)
