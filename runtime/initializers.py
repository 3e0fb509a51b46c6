"""Runtime stage: parameter initialisation schemes used when a network's buffers are built.

Random schemes draw float64 standard normals from the network's one `np.random.Generator`, scale
them and only then cast, so float32 and float64 builds with the same seed agree up to rounding.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..compiler.plan import INIT_CHUNK

SCHEMES: tuple[str, ...] = ("normal", "xavier", "he", "zeros", "ones")

# DLFS `weight_init_std`: the default scale of the plain "normal" scheme.
_DEFAULT_NORMAL_STD = 0.01


def _scheme_std(scheme: str, fan_in: int, std: float | None) -> float:
    if scheme == "normal":
        return _DEFAULT_NORMAL_STD if std is None else std
    if fan_in <= 0:
        raise ValueError(f"init scheme {scheme!r} needs a positive fan_in, got {fan_in}")
    if scheme == "xavier":
        return math.sqrt(1.0 / fan_in)
    return math.sqrt(2.0 / fan_in)


def init_array(
    shape: tuple[int, ...],
    scheme: str,
    *,
    fan_in: int,
    std: float | None,
    rng: np.random.Generator,
    dtype: DTypeLike,
    out: NDArray | None = None,
) -> NDArray:
    """A `shape` array of `dtype` drawn by `scheme` (DLFS-1 ch. 6 for xavier and he).

    With `out` (a contiguous array of that shape) the values are written into it. Random
    values are drawn `INIT_CHUNK` at a time: the same stream as one draw, but the float64
    temporaries stay small however large the layer (`NetPlan.memory` counts them).
    """
    if out is None:
        out = np.empty(shape, dtype=dtype)
    if scheme in ("zeros", "ones"):
        out.fill(0 if scheme == "zeros" else 1)
        return out
    if scheme not in SCHEMES:
        # The validator rejects unknown schemes first; reaching this is a netc bug.
        raise ValueError(f"unknown init scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    scale = _scheme_std(scheme, fan_in, std)
    flat = out.reshape(-1)
    # Why no NumPy warning: a scale too large for the dtype (`std=1e308`) gives infinities,
    # which the trainer's divergence guard reports as the init's fault, with the fix.
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, flat.size, INIT_CHUNK):
            chunk = rng.standard_normal(min(INIT_CHUNK, flat.size - start))
            chunk *= scale
            flat[start:start + chunk.size] = chunk
    return out
