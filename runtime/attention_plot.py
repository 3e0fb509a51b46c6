"""Runtime stage: an attention heat map (DLFS-2 ch. 8, fig. 8-x): the weights a seq2seq
decoder gave the question's characters (columns) while writing each answer character (rows).
matplotlib is the optional extra `netc[plot]`, imported only here.
"""

from __future__ import annotations

import os

from numpy.typing import NDArray

from .plot import Curves, _save, require_matplotlib


class AttentionMap(Curves):
    """An attention heat map: `.figure` is the matplotlib Figure; a notebook shows it."""


def plot_attention(weights: NDArray, question: str, answer: str,
                   path: str | os.PathLike[str] | None = None) -> AttentionMap | None:
    """The heat map of `weights` (len(answer), len(question)), the characters on the axes:
    written to `path` (.png, .svg, .pdf, ...) atomically, or, without one, returned as an
    `AttentionMap`, which a notebook shows as an image."""
    figure = require_matplotlib()
    rows, cols = weights.shape
    fig = figure(figsize=(max(3.0, 0.32 * cols + 1.5), max(2.5, 0.32 * rows + 1.2)))
    ax = fig.add_subplot()
    image = ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(cols), [_label(c) for c in question[:cols]])
    ax.set_yticks(range(rows), [_label(c) for c in answer[:rows]])
    ax.xaxis.tick_top()
    ax.set_xlabel("question")
    ax.set_ylabel("answer")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    if path is None:
        return AttentionMap(fig)
    _save(fig, os.fspath(path))
    return None


def _label(char: str) -> str:
    """A space is drawn as a visible open box, so padding reads as padding."""
    return "\u2423" if char == " " else char
