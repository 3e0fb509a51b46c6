"""Runtime helper: accuracy of predictions against targets, per loss kind."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def accuracy(y: NDArray, t: NDArray, loss: str) -> float:
    """Fraction correct: argmax for softmax_ce, > 0.5 per unit for sigmoid_ce; NaN for mse."""
    if loss == "softmax_ce" and t.ndim == 2 and np.issubdtype(t.dtype, np.integer):
        # a class per time step: y holds each step's k scores side by side
        steps = y.reshape(len(y), t.shape[1], -1)
        return float(np.mean(np.argmax(steps, axis=2) == t))
    if loss == "softmax_ce":
        labels = t if t.ndim == 1 else np.argmax(t, axis=1)
        return float(np.mean(np.argmax(y, axis=1) == labels))
    if loss == "sigmoid_ce":
        return float(np.mean((y > 0.5) == (t.reshape(y.shape) > 0.5)))
    return float("nan")
