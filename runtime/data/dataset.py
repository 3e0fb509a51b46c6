"""The runtime's data stage: the `Dataset` record every loader returns.

A `Dataset` holds NumPy arrays ready for training: features already in the network's dtype
(float64 unless asked otherwise) and either int64 class indices (`n_classes` set) or float
regression targets (`n_classes` None).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Training (and optional test) arrays plus what to name in error messages."""

    name: str  # "spiral", "mnist", or the file path
    x_train: np.ndarray  # the network's dtype, shape (n, features) or (n, 1, 28, 28)
    t_train: np.ndarray  # int64 class indices (n,), or float targets (n, k)
    x_test: np.ndarray | None
    t_test: np.ndarray | None
    source: str  # a file path, a directory, or "spiral"
    n_classes: int | None  # number of classes when labels are indices
