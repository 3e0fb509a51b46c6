"""Runtime stage 7 (data side): token ids, the inputs and targets of language models.

A token input (`input: tokens`) takes rows of `steps` integer ids, each below the
vocabulary's size; a softmax_ce over a sequence takes one class id per step. Both are
checked here once, so a bad id is a `DataError` naming the row and the id, never an
IndexError deep inside a gather.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import DataError


def token_ids(x: ArrayLike, vocab: int, steps: int, what: str) -> NDArray:
    """`x` as an int64 array (rows, steps) of ids in [0, vocab); `what` opens each message
    ("corpus.txt: inputs")."""
    try:
        x = np.asarray(x)
    except (TypeError, ValueError) as e:  # ragged lists
        raise DataError(f"{what} are not an array of token ids ({e})") from None
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.integer) or x.size == 0):
        if not np.issubdtype(x.dtype, np.floating) or not _whole(x):
            raise DataError(f"{what} must be whole token ids, not {x.dtype} values")
    if x.ndim == 1 and steps == 1:
        x = x.reshape(-1, 1)
    if x.ndim != 2 or x.shape[1] != steps:
        raise DataError(f"{what} have shape {x.shape}, but the network takes rows of {steps} "
                        f"token ids, (rows, {steps})")
    if x.size and (x.min() < 0 or x.max() >= vocab):
        bad = x.max() if x.max() >= vocab else x.min()
        row = int(np.argwhere(x == bad)[0][0])
        raise DataError(f"{what}: token id {int(bad)} in row {row} is outside the vocabulary "
                        f"of {vocab:,} (ids 0 to {vocab - 1:,})")
    return x.astype(np.int64, copy=False)


def _whole(x: NDArray) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.mod(x, 1) == 0))
