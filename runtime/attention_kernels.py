"""Runtime stage: the NumPy kernels of seq2seq (DLFS-2 ch. 7-8): a slice of a sequence's steps
(teacher forcing's `tgt[:-1]`) and dot-product attention (ch. 8: AttentionWeight
followed by WeightSum, with no 1/sqrt(H) scaling), under the rules of `kernels.py`
(self-contained top-level functions over `np` and their arguments, out arrays written and never
rebound, the dtype of the inputs kept).

Sequences are batch-major: the decoder states `hd (n, Td, H)` are the queries, the encoder
states `hs (n, Ts, H)` are both the keys and the values. For every row and decoder step the
scores against all encoder steps are one batched GEMM, `s = hd @ hs^T (n, Td, Ts)`, the weights
`a` are their softmax over Ts, and the context is a second batched GEMM, `y = a @ hs`.
DLFS-2 builds the same products with repeat-and-sum over (n, Ts, H) arrays per decoder step;
np.matmul over the batch does it without those temporaries and without a loop over steps.

`a (n, Td, Ts)` is kept from the forward for the backward (and for an attention heat map);
`da (n, Td, Ts)` is backward scratch that may hold garbage on entry.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def attention_forward(hd: NDArray, hs: NDArray, y: NDArray, a: NDArray) -> None:
    """s = hd @ hs^T per row (n, Td, Ts); a = softmax of s over the encoder steps Ts (stable:
    subtract the max); y = a @ hs.  hd (n, Td, H) the decoder states (the queries), hs (n, Ts, H)
    the encoder states (keys and values), y (n, Td, H), a (n, Td, Ts) scratch the backward reads
    (the attention weights, also read by a heat map)."""
    # The scores go straight into `a` and the softmax runs in place: the only temporaries
    # are the (n, Td, 1) row maxima and sums.
    np.matmul(hd, hs.swapaxes(-1, -2), out=a)
    a -= a.max(axis=-1, keepdims=True)
    np.exp(a, out=a)
    a /= a.sum(axis=-1, keepdims=True)
    np.matmul(a, hs, out=y)


def attention_backward(
    dy: NDArray, hd: NDArray, hs: NDArray, a: NDArray, dhd: NDArray | None,
    dhs: NDArray | None, da: NDArray,
) -> None:
    """da (n, Td, Ts) scratch may hold garbage on entry. da = dy @ hs^T;
    ds = a * (da - sum(da * a, -1)); dhd = ds @ hs; dhs = a^T @ dy + ds^T @ hd (both terms:
    hs is key and value).  dy, dhd (n, Td, H), hs, dhs (n, Ts, H); a None dx is skipped."""
    if dhd is None and dhs is None:
        return
    np.matmul(dy, hs.swapaxes(-1, -2), out=da)
    # The softmax backward, written over da so that it becomes ds; the row dot products
    # sum(da * a, -1) come from einsum, which forms no (n, Td, Ts) product array.
    da -= np.einsum("ntk,ntk->nt", da, a)[..., None]
    da *= a
    if dhd is not None:
        np.matmul(da, hs, out=dhd)
    if dhs is not None:
        # hs feeds both the weighted sum (as values) and the scores (as keys): two terms,
        # the second through one (n, Ts, H) temporary.
        np.matmul(a.swapaxes(-1, -2), dy, out=dhs)
        dhs += np.matmul(da.swapaxes(-1, -2), hd)


def steps_forward(x: NDArray, start: int | None, stop: int | None, y: NDArray) -> None:
    """y = x[:, start:stop], some steps.  x (n, T, ...) (token ids too: y has x's type)."""
    np.copyto(y, x[:, start:stop])


def steps_backward(dy: NDArray, start: int | None, stop: int | None, dx: NDArray | None
                   ) -> None:
    """dx = 0 but dx[:, start:stop] = dy.  dy (n, kept, ...), dx (n, T, ...) or None."""
    if dx is None:
        return
    dx.fill(0)
    np.copyto(dx[:, start:stop], dy)


ATTENTION_KERNELS = {f.__name__: f for f in (attention_forward, attention_backward,
                                             steps_forward, steps_backward)}
