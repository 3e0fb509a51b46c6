"""Runtime boundary checks: user arrays -> arrays the generated code can take, or a `DataError`.

Inputs and targets are cast once here (to the network's dtype; labels to integer indices),
so nothing inside a step converts or upcasts. A mismatch names the data source and the spec
location of the layer that fixes the expected shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import DataError


def _where(net: Any, index: int) -> str:
    layer = net.plan.layers[index]
    return f"{layer.op} at {net.plan.path}:{layer.where}" if layer.span else layer.label


def _prefix(source: str | None) -> str:
    return f"{source}: " if source else ""


def as_inputs(x: ArrayLike, net: Any, source: str | None = None) -> NDArray:
    """(n, features) in the network's dtype; images (n, 1, 28, 28) are flattened."""
    try:
        x = np.asarray(x, dtype=net.dtype)
    except (TypeError, ValueError) as e:
        raise DataError(f"{_prefix(source)}inputs are not numeric arrays ({e})") from None
    if x.ndim == 1 and net.plan.input_width == 1:
        x = x.reshape(-1, 1)
    elif x.ndim > 2:
        x = x.reshape(len(x), -1)
    if x.ndim != 2:
        raise DataError(f"{_prefix(source)}inputs must be a 2-D array (samples, features), "
                        f"got shape {x.shape}")
    if x.shape[1] != net.plan.input_width:
        raise DataError(
            f"{_prefix(source)}the data has {x.shape[1]} features per sample, but the network "
            f"takes {net.plan.input_width} (the input of {_where(net, 0)})")
    return x


def as_targets(t: ArrayLike, net: Any, n: int | None, source: str | None = None) -> NDArray:
    """Targets for the loss: class indices (int64) or rows of k values (network dtype)."""
    loss, k = net.plan.loss.op, net.plan.n_outputs
    t = np.asarray(t)
    if n is not None and len(t) != n:
        raise DataError(f"{_prefix(source)}{len(t)} targets for {n} samples")
    if t.ndim == 2 and t.shape[1] == 1 and k == 1:
        t = t[:, 0]
    if loss == "softmax_ce" and t.ndim == 1:
        return _labels(t, k, net, source)
    if t.ndim == 1 and k == 1:
        t = t.reshape(-1, 1)
    if t.ndim != 2 or t.shape[1] != k:
        what = "class indices or one-hot rows" if loss == "softmax_ce" else "target rows"
        raise DataError(
            f"{_prefix(source)}targets have shape {t.shape}, but {_where(net, -1)} expects "
            f"{what} of width {k}")
    if not np.issubdtype(t.dtype, np.number) and t.dtype != bool:
        raise DataError(f"{_prefix(source)}targets are not numeric (dtype {t.dtype})")
    return t.astype(net.dtype, copy=False)


def _labels(t: NDArray, k: int, net: Any, source: str | None) -> NDArray:
    if not np.issubdtype(t.dtype, np.integer):
        if not np.issubdtype(t.dtype, np.floating) or not np.all(np.mod(t, 1) == 0):
            raise DataError(f"{_prefix(source)}class labels must be whole numbers")
    labels = t.astype(np.int64, copy=False)
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        bad = int(labels.max() if labels.max() >= k else labels.min())
        raise DataError(
            f"{_prefix(source)}label {bad} is out of range: {_where(net, -1)} has {k} classes "
            f"(labels 0 to {k - 1})")
    return labels
