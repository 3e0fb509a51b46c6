"""Runtime helper: one flat buffer split into named array views.

Why flat: parameters, gradients and optimizer state each live in one contiguous array, so an
optimizer step is one kernel call however many layers a network has, while users still see
one array per parameter (views that write through to the buffer).
"""

from __future__ import annotations

import math

import numpy as np


def views(flat: np.ndarray, shapes: list[tuple[str, tuple[int, ...]]]) -> dict[str, np.ndarray]:
    """Name -> array views into one flat buffer, in order (the buffer is split, not copied)."""
    out, offset = {}, 0
    for key, shape in shapes:
        size = math.prod(shape)  # Why not np.prod: ten times slower per call
        out[key] = flat[offset:offset + size].reshape(shape)
        offset += size
    return out
