"""The runtime's data stage: the three-class spiral toy set of DLFS-2 chapter 1.

`load_spiral(seed)` returns a `Dataset` of 300 two-dimensional points (100 per class) with int64
class indices and no test split. The same seed gives bit-identical arrays.
"""

from __future__ import annotations

import numpy as np

from .dataset import Dataset

N = 100  # samples per class
DIM = 2
CLS_NUM = 3


def load_spiral(seed: int = 1984) -> Dataset:
    """The spiral of DLFS-2 `dataset/spiral.py`, drawn from a private seeded generator."""
    # A private Generator keeps the data independent of any global NumPy random state.
    rng = np.random.default_rng(seed)
    rate = np.arange(N, dtype=np.float64) / N
    radius = 1.0 * rate
    # Drawn in (class, sample) order, matching the book's j-then-i loop.
    noise = rng.standard_normal((CLS_NUM, N)) * 0.2
    theta = np.arange(CLS_NUM, dtype=np.float64)[:, None] * 4.0 + 4.0 * rate + noise
    x = np.stack([radius * np.sin(theta), radius * np.cos(theta)], axis=-1).reshape(-1, DIM)
    t = np.repeat(np.arange(CLS_NUM, dtype=np.int64), N)
    return Dataset(
        name="spiral",
        x_train=np.ascontiguousarray(x, dtype=np.float64),
        t_train=t,
        x_test=None,
        t_test=None,
        source="spiral",
        n_classes=CLS_NUM,
    )
