"""Runtime stage: the kernels of negative sampling (DLFS-2 ch. 4), copied into generated code.

`ns_loss` scores a row's hidden vector h against its target word's output vector and against
k words drawn from the unigram distribution raised to `power` (the sampler's cumulative table,
filled from the training targets when training starts): L = -log s(h.w_t) - sum_j log
s(-h.w_j), averaged over the batch, as DLFS-2's `NegativeSamplingLoss` (its negatives may
include the target, as the book's GPU sampler allows). Self-contained top-level functions over
`np` and their arguments, like every kernel (see runtime/kernels.py).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def ns_loss_forward(h: NDArray, t: NDArray, W: NDArray, table: NDArray, idx: NDArray,
                    picked: NDArray, scores: NDArray, out: NDArray,
                    rng: np.random.Generator) -> float:
    """Draw k negatives per row (idx[:, 1:]; idx[:, 0] = t), score them (scores = sigmoid of
    h . W[idx], the positive first) and return the mean loss.  h (n, d), t (n,) ints,
    W (V, d), table (V,) the cumulative sampling weights (all zero: uniform), idx (n, k+1)
    ints, picked (n, k+1, d), scores (n, k+1), out (n, d) = h (the prediction)."""
    n, k1 = idx.shape
    idx[:, 0] = t
    if table[-1] > 0:
        draw = rng.random((n, k1 - 1)) * float(table[-1])
        idx[:, 1:] = np.searchsorted(table, draw, side="right")
        np.minimum(idx, len(table) - 1, out=idx)  # Why: a draw equal to the total
    else:
        idx[:, 1:] = rng.integers(0, len(table), (n, k1 - 1))
    np.take(W, idx, axis=0, out=picked)
    np.einsum("nd,nkd->nk", h, picked, out=scores)
    scores[:, 0] *= -1  # the positive's loss is softplus(-s), the negatives' softplus(s)
    # softplus(z) = max(z, 0) + log1p(exp(-|z|)): no overflow for any score
    loss = float(np.maximum(scores, 0).sum() + np.log1p(np.exp(-np.abs(scores))).sum()) / n
    scores[:, 0] *= -1
    np.multiply(scores, 0.5, out=scores)  # sigmoid(s) = 0.5 * (1 + tanh(s / 2))
    np.tanh(scores, out=scores)
    scores += 1
    scores *= 0.5
    np.copyto(out, h)
    return loss


def ns_loss_backward(h: NDArray, idx: NDArray, picked: NDArray, scores: NDArray, dh: NDArray,
                     dW: NDArray, scale: float) -> None:
    """g = scale * (sigmoid(s) - label), label 1 for the target, 0 for the negatives;
    dh = sum_j g_j W[idx_j]; dW[idx_j] += g_j h (a scatter-add: a word drawn twice adds
    twice).  scale is 1/n for the mean loss."""
    scores[:, 0] -= 1
    scores *= scale
    if dh is not None:
        np.einsum("nk,nkd->nd", scores, picked, out=dh)
    dW.fill(0)
    rows = scores[:, :, None] * h[:, None, :]
    np.add.at(dW, idx.ravel(), rows.reshape(-1, h.shape[1]))


SAMPLING_KERNELS = (ns_loss_forward, ns_loss_backward)
