"""Runtime stage 7 (data side): token ids, the inputs and targets of language models.

A token input (`input: tokens`) takes rows of `steps` integer ids, each below the
vocabulary's size; a softmax_ce over a sequence takes one class id per step. Both are
checked here once, so a bad id is a `DataError` naming the row and the id, never an
IndexError deep inside a gather.
"""

from __future__ import annotations

from typing import Any

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
        row, step = (int(i) for i in np.argwhere(x == bad)[0])
        where = f"at position {step:,}" if len(x) == 1 else f"in row {row:,} (step {step})"
        raise DataError(f"{what}: token id {int(bad)} {where} is outside the vocabulary "
                        f"of {vocab:,} (ids 0 to {vocab - 1:,})")
    return x.astype(np.int64, copy=False)


def _whole(x: NDArray) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.mod(x, 1) == 0))


def contexts_and_targets(ids: NDArray, steps: int, what: str) -> tuple[NDArray, NDArray]:
    """DLFS-2's `create_contexts_target`: each word of the corpus with `steps // 2` words on
    either side is a target, those words its context (rows of `steps` ids)."""
    if steps % 2:
        raise DataError(f"{what}: a context of {steps} words has no centre: give an even "
                        "number of steps (2 for a window of one word each side)")
    window = steps // 2
    if len(ids) <= steps:
        raise DataError(f"{what} holds {len(ids):,} tokens: too few for a context of {steps}")
    n = len(ids) - steps
    cols = [ids[j:j + n] for j in range(steps + 1) if j != window]
    return np.stack(cols, axis=1).astype(np.int64), ids[window:window + n].astype(np.int64)


def fill_sampler(net: Any, t: NDArray) -> None:
    """ns_loss's sampler table, when still empty: the cumulative unigram counts of the
    targets raised to `power` (DLFS-2's UnigramSampler); kept as a buffer, so checkpoints
    and resumed runs draw from the same table."""
    loss = net.plan.loss
    if loss.op != "ns_loss":
        return
    table = net.buffers[f"{loss.label}.table"]
    if table[-1] > 0:
        return
    counts = np.bincount(t, minlength=len(table)).astype(np.float64)
    np.cumsum(counts ** float(loss.attr("power")), out=counts)
    table[...] = counts / counts[-1]
