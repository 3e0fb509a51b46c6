"""Runtime stage: the NumPy kernels every generated forward/backward pass calls.

Each kernel is the single home of one op's math (DLFS 1 & 2). The compiler emits straight-line calls
to them over preallocated buffers, and `netc compile --emit python` copies their source verbatim
into a standalone module, so every kernel is a self-contained top-level function that uses only
`np` and its arguments, writes into the `out` arrays it is given and never rebinds them.
Arrays are (n, d) with n the batch; all arrays of one call share one dtype, which is kept
(float32 stays float32). Elementwise backward kernels stay correct when `dx is dy`; a `dx` of
None means "first layer, skip".
Emitted modules must start with `from __future__ import annotations`: the hints are never evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .attention_kernels import ATTENTION_KERNELS
from .image_kernels import IMAGE_KERNELS
from .sampling_kernels import SAMPLING_KERNELS
from .sequence_kernels import SEQUENCE_KERNELS


def affine_forward(x: NDArray, W: NDArray, b: NDArray, y: NDArray) -> None:
    """y = x @ W + b.  x (n, d_in), W (d_in, d_out), b (d_out,), y (n, d_out)."""
    np.matmul(x, W, out=y)
    y += b


def affine_backward(
    dy: NDArray, x: NDArray, W: NDArray, dx: NDArray | None, dW: NDArray, db: NDArray,
    ones: NDArray,
) -> None:
    """dW = x.T @ dy;  db = sum_n dy;  dx = dy @ W.T.  dy (n, d_out), dx (n, d_in), ones (n,)."""
    np.matmul(x.T, dy, out=dW)
    # The batch sum as ones @ dy: a BLAS product is 2-3x faster than sum(axis=0) here, and
    # the caller's ones vector (made once per batch size) spares an allocation per call.
    np.matmul(ones, dy, out=db)
    if dx is not None:
        np.matmul(dy, W.T, out=dx)


def matmul_forward(x: NDArray, W: NDArray, y: NDArray) -> None:
    """y = x @ W.  x (n, d_in), W (d_in, d_out), y (n, d_out)."""
    np.matmul(x, W, out=y)


def matmul_backward(dy: NDArray, x: NDArray, W: NDArray, dx: NDArray | None, dW: NDArray) -> None:
    """dW = x.T @ dy;  dx = dy @ W.T.  dy (n, d_out), dx (n, d_in)."""
    np.matmul(x.T, dy, out=dW)
    if dx is not None:
        np.matmul(dy, W.T, out=dx)


def sigmoid_forward(x: NDArray, y: NDArray) -> None:
    """y = 1 / (1 + exp(-x)), computed as 0.5 * (1 + tanh(x / 2)).  x, y (n, d)."""
    # The tanh form cannot overflow for any |x|, unlike exp(-x) at x = -1000.
    np.multiply(x, 0.5, out=y)
    np.tanh(y, out=y)
    y += 1
    y *= 0.5


def sigmoid_backward(dy: NDArray, y: NDArray, dx: NDArray | None) -> None:
    """dx = dy * y * (1 - y).  dy, y, dx (n, d); dx may be dy."""
    if dx is None:
        return
    one_minus_y = 1 - y
    np.multiply(dy, y, out=dx)
    dx *= one_minus_y


def tanh_forward(x: NDArray, y: NDArray) -> None:
    """y = tanh(x).  x, y (n, d)."""
    np.tanh(x, out=y)


def tanh_backward(dy: NDArray, y: NDArray, dx: NDArray | None) -> None:
    """dx = dy * (1 - y^2).  dy, y, dx (n, d); dx may be dy."""
    if dx is None:
        return
    local = np.square(y)
    np.subtract(1, local, out=local)
    np.multiply(dy, local, out=dx)


def relu_forward(x: NDArray, y: NDArray) -> None:
    """y = max(x, 0).  x, y (n, d)."""
    np.maximum(x, 0, out=y)


def relu_backward(dy: NDArray, y: NDArray, dx: NDArray | None) -> None:
    """dx = dy where y > 0 else 0.  dy, y, dx (n, d); dx may be dy."""
    if dx is None:
        return
    # A multiply by the boolean mask is several times faster than copyto(where=).
    np.multiply(dy, y > 0, out=dx)


def leaky_relu_forward(x: NDArray, y: NDArray, alpha: float) -> None:
    """y = x if x > 0 else alpha * x.  x, y (n, d); y must not be x."""
    # With 0 <= alpha < 1 (the schema's range), max(x, alpha * x) is exactly that.
    np.multiply(x, alpha, out=y)
    np.maximum(x, y, out=y)


def leaky_relu_backward(dy: NDArray, x: NDArray, dx: NDArray | None, alpha: float) -> None:
    """dx = dy if x > 0 else alpha * dy.  dy, x, dx (n, d); dx may be dy but not x."""
    if dx is None:
        return
    # slope = alpha + (1 - alpha) * [x > 0], built in dx's dtype, then dx = dy * slope.
    slope = np.greater(x, 0).astype(dy.dtype)
    slope *= 1 - alpha
    slope += alpha
    np.multiply(dy, slope, out=dx)


def softmax_forward(x: NDArray, y: NDArray) -> None:
    """y = exp(x - max_k x) / sum_k exp(x - max_k x) over the last axis.  x, y (n, k) or
    sequences (n, t, k)."""
    np.subtract(x, x.max(axis=-1, keepdims=True), out=y)
    np.exp(y, out=y)
    y /= y.sum(axis=-1, keepdims=True)


def softmax_backward(dy: NDArray, y: NDArray, dx: NDArray | None) -> None:
    """dx = y * (dy - sum_k(dy * y)).  dy, y, dx (n, k) or (n, t, k); dx may be dy."""
    if dx is None:
        return
    # einsum forms the row dot products without an (n, k) temporary.
    dot = np.einsum("...k,...k->...", dy, y)[..., None]
    np.subtract(dy, dot, out=dx)
    dx *= y


def dropout_forward(
    x: NDArray, y: NDArray, mask: NDArray, p: float, rng: np.random.Generator, train: bool
) -> None:
    """Inverted dropout: mask = (u >= p) / (1 - p), y = x * mask when training, else y = x."""
    if not train:
        np.copyto(y, x)
        return
    # Draw straight into the mask (same dtype as x) and threshold in place: no allocation.
    rng.random(dtype=mask.dtype, out=mask)
    np.greater_equal(mask, p, out=mask)
    mask *= 1.0 / (1.0 - p)
    np.multiply(x, mask, out=y)


def dropout_backward(dy: NDArray, mask: NDArray, dx: NDArray | None) -> None:
    """dx = dy * mask.  dy, mask, dx (n, d); dx may be dy."""
    if dx is None:
        return
    np.multiply(dy, mask, out=dx)


def batchnorm_forward(
    x: NDArray,
    gamma: NDArray,
    beta: NDArray,
    running_mean: NDArray,
    running_var: NDArray,
    y: NDArray,
    xhat: NDArray,
    inv_std: NDArray,
    momentum: float,
    eps: float,
    train: bool,
) -> None:
    """xhat = (x - mu) / sqrt(var + eps); y = gamma * xhat + beta (DLFS-1 6.3).  x, y, xhat (n, d),
    or channel-major images (d, n, h, w) with statistics per channel d.

    train: batch mu and biased var, running stats move by momentum; eval: running stats are used.
    """
    if x.ndim == 4:  # each channel's values as one column: the same sums, over n*h*w rows
        c = x.shape[0]
        x, y, xhat = x.reshape(c, -1).T, y.reshape(c, -1).T, xhat.reshape(c, -1).T
    if train:
        mu = x.mean(axis=0)
        np.subtract(x, mu, out=xhat)
        # y is free until the end, so it holds the squared deviations instead of a temporary.
        np.square(xhat, out=y)
        var = y.mean(axis=0)
        running_mean *= momentum
        running_mean += (1 - momentum) * mu
        running_var *= momentum
        running_var += (1 - momentum) * var
    else:
        np.subtract(x, running_mean, out=xhat)
        var = running_var
    np.add(var, eps, out=inv_std)
    np.sqrt(inv_std, out=inv_std)
    np.divide(1, inv_std, out=inv_std)
    xhat *= inv_std
    np.multiply(xhat, gamma, out=y)
    y += beta


def batchnorm_backward(
    dy: NDArray,
    xhat: NDArray,
    inv_std: NDArray,
    gamma: NDArray,
    dx: NDArray | None,
    dgamma: NDArray,
    dbeta: NDArray,
) -> None:
    """dx = inv_std/n * (n*dxhat - sum dxhat - xhat*sum(dxhat*xhat)), dxhat = dy*gamma.  (n, d)

    dbeta = sum_n dy; dgamma = sum_n dy*xhat (d,). sum dxhat = gamma*dbeta, likewise gamma*dgamma.
    Channel-major images (d, n, h, w): per channel, over n*h*w rows.
    """
    if dy.ndim == 4:
        c = dy.shape[0]
        dy, xhat = dy.reshape(c, -1).T, xhat.reshape(c, -1).T
        dx = None if dx is None else dx.reshape(c, -1).T
    np.sum(dy, axis=0, out=dbeta)
    np.einsum("ij,ij->j", dy, xhat, out=dgamma)
    if dx is None:
        return
    n = dy.shape[0]
    # dgamma and dbeta are final before dx is written, so dx may be dy.
    xhat_term = xhat * dgamma
    np.multiply(dy, n, out=dx)
    dx -= dbeta
    dx -= xhat_term
    dx *= gamma * inv_std / n


def repeat_forward(x: NDArray, y: NDArray, n: int) -> None:
    """y = [x, x, ..., x] (n blocks side by side), DLFS-2 Repeat node.  x (b, d), y (b, n*d)."""
    d = x.shape[1]
    # Block writes rather than a reshaped view: a reshape of a non-contiguous y would be a copy.
    for i in range(n):
        y[:, i * d : (i + 1) * d] = x


def repeat_backward(dy: NDArray, dx: NDArray | None, n: int) -> None:
    """dx = sum of the n blocks of dy (the Sum node's forward).  dy (b, n*d), dx (b, d)."""
    if dx is None:
        return
    np.sum(dy.reshape(dy.shape[0], n, -1), axis=1, out=dx)


def sum_forward(x: NDArray, y: NDArray, n: int) -> None:
    """y = sum of the n blocks of x, DLFS-2 Sum node.  x (b, n*d), y (b, d)."""
    np.sum(x.reshape(x.shape[0], n, -1), axis=1, out=y)


def sum_backward(dy: NDArray, dx: NDArray | None, n: int) -> None:
    """dx = [dy, ..., dy] (n blocks, the Repeat node's forward).  dy (b, d), dx (b, n*d)."""
    if dx is None:
        return
    d = dy.shape[1]
    for i in range(n):
        dx[:, i * d : (i + 1) * d] = dy


def add_forward(xs: tuple[NDArray, ...], y: NDArray) -> None:
    """y = xs[0] + xs[1] + ..., a merge (the residual block's sum).  Every x and y (n, ...)."""
    np.add(xs[0], xs[1], out=y)
    for x in xs[2:]:
        y += x


def add_backward(dy: NDArray, dxs: tuple[NDArray | None, ...]) -> None:
    """dx = dy for every input (a sum passes its gradient through).  dy, each dx (n, ...);
    a dx may be dy (nothing to copy) or None (skip)."""
    for dx in dxs:
        if dx is not None and dx is not dy:
            np.copyto(dx, dy)


def concat_forward(xs: tuple[NDArray, ...], y: NDArray) -> None:
    """y = [xs[0], xs[1], ...] side by side on the last axis.  x_i (n, ..., d_i),
    y (n, ..., sum d_i); channel-major images (c_i, n, h, w) on the channels, each one block."""
    start = 0
    for x in xs:
        if y.ndim == 4:
            y[start:start + x.shape[0]] = x
            start += x.shape[0]
            continue
        stop = start + x.shape[-1]
        # A vector beside a sequence is repeated at every step (DLFS-2's peeky decoder).
        y[..., start:stop] = x if x.ndim == y.ndim else x[:, None]
        start = stop


def concat_backward(dy: NDArray, xs: tuple[NDArray, ...], dxs: tuple[NDArray | None, ...]) -> None:
    """dx_i = the slice of dy that x_i filled.  dy (n, ..., sum d_i), x_i and dx_i (n, ..., d_i);
    xs give the widths (a dx may be None: skip it). Images: slices of the channels."""
    start = 0
    for x, dx in zip(xs, dxs, strict=True):
        if dy.ndim == 4:
            if dx is not None:
                np.copyto(dx, dy[start:start + x.shape[0]])
            start += x.shape[0]
            continue
        stop = start + x.shape[-1]
        if dx is not None and dx.ndim == dy.ndim:
            np.copyto(dx, dy[..., start:stop])
        elif dx is not None:  # a vector repeated at every step: its steps' gradients add up
            np.sum(dy[..., start:stop], axis=1, out=dx)
        start = stop


def flatten_forward(x: NDArray, y: NDArray) -> None:
    """y = x with each row as one vector.  x channel-major images (c, n, h, w) or any (n, ...);
    y (n, c*h*w), each row in the order (c, h, w)."""
    if x.ndim == 4:
        c, n = x.shape[:2]
        np.copyto(y.reshape(n, c, *x.shape[2:]), x.transpose(1, 0, 2, 3))
    else:
        np.copyto(y, x.reshape(y.shape))


def flatten_backward(dy: NDArray, dx: NDArray | None) -> None:
    """dx = dy in the input's shape.  dy (n, c*h*w), dx (c, n, h, w) or (n, ...)."""
    if dx is None:
        return
    if dx.ndim == 4:
        c, n = dx.shape[:2]
        np.copyto(dx, dy.reshape(n, c, *dx.shape[2:]).transpose(1, 0, 2, 3))
    else:
        np.copyto(dx, dy.reshape(dx.shape))


def softmax_ce_forward(x: NDArray, t: NDArray, y: NDArray, rows: NDArray, ones: NDArray) -> float:
    """y = softmax(x); L = mean_n(logsumexp(x) - x[t]).  x, y (n, k); t (n,) ints or (n, k) rows;
    rows = arange(n), ones (k, 1) ones: constants the caller makes once per batch size."""
    np.subtract(x, x.max(axis=1, keepdims=True), out=y)
    # Read the target's shifted score before exp overwrites y: (x_t - max) is exact even at
    # scores near 1000, where lse - x_t would cancel away float32's digits.
    if t.ndim == 1:
        picked = y[rows, t]
    else:
        # -sum_k t_k * log_softmax_k = log(s) * sum_k t_k - t . shifted, covering soft labels too.
        picked = np.einsum("ij,ij->i", t, y)
    np.exp(y, out=y)
    # Row sums as a matrix-vector product: BLAS beats a row-wise reduction over a short axis.
    # As an (n, 1) column it divides y without a broadcast view.
    s = y @ ones
    y /= s
    s = s.ravel()
    np.log(s, out=s)
    if t.ndim != 1:
        s *= t.sum(axis=1)
    # One reduction for the whole loss: sum_n (log s_n - picked_n) / n.
    s -= picked
    return float(s.sum()) / x.shape[0]


def softmax_ce_backward(y: NDArray, t: NDArray, dx: NDArray, scale: float, rows: NDArray) -> None:
    """dx = scale * (y - onehot(t)); scale is 1/n for the mean loss (the trainer may fold its
    learning rate in).  y, dx (n, k); t (n,) ints or (n, k) rows; rows = arange(n)."""
    if t.ndim == 1:
        np.multiply(y, scale, out=dx)
        dx[rows, t] -= scale
    else:
        np.subtract(y, t, out=dx)
        dx *= scale


def sigmoid_ce_forward(x: NDArray, t: NDArray, y: NDArray) -> float:
    """y = sigmoid(x); L = sum_k mean_n(max(x, 0) - x*t + log1p(exp(-|x|))).  x, y, t (n, k)."""
    t = t.reshape(x.shape)
    np.multiply(x, 0.5, out=y)
    np.tanh(y, out=y)
    y += 1
    y *= 0.5
    # The stable form: exp only ever sees -|x| <= 0.
    loss = np.abs(x)
    np.negative(loss, out=loss)
    np.exp(loss, out=loss)
    np.log1p(loss, out=loss)
    loss += np.maximum(x, 0)
    loss -= x * t
    return float(loss.sum() / x.shape[0])


def sigmoid_ce_backward(y: NDArray, t: NDArray, dx: NDArray, scale: float) -> None:
    """dx = scale * (y - t), scale 1/n for the mean loss.  y, dx (n, k); t (n, k), or (n,)
    when k == 1."""
    np.subtract(y, t.reshape(y.shape), out=dx)
    dx *= scale


def mse_forward(x: NDArray, t: NDArray, y: NDArray) -> float:
    """y = x; L = 0.5 * sum((x - t)^2) / n.  x, y (n, k); t (n, k), or (n,) when k == 1."""
    np.copyto(y, x)
    diff = x - t.reshape(x.shape)
    return float(0.5 * np.vdot(diff, diff) / x.shape[0])


def mse_backward(y: NDArray, t: NDArray, dx: NDArray, scale: float) -> None:
    """dx = scale * (y - t), scale 1/n for the mean loss.  y, dx (n, k); t (n, k), or (n,)
    when k == 1."""
    np.subtract(y, t.reshape(y.shape), out=dx)
    dx *= scale


KERNELS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        affine_forward,
        affine_backward,
        matmul_forward,
        matmul_backward,
        sigmoid_forward,
        sigmoid_backward,
        tanh_forward,
        tanh_backward,
        relu_forward,
        relu_backward,
        leaky_relu_forward,
        leaky_relu_backward,
        softmax_forward,
        softmax_backward,
        dropout_forward,
        dropout_backward,
        batchnorm_forward,
        batchnorm_backward,
        repeat_forward,
        repeat_backward,
        sum_forward,
        sum_backward,
        add_forward,
        add_backward,
        concat_forward,
        concat_backward,
        flatten_forward,
        flatten_backward,
        softmax_ce_forward,
        softmax_ce_backward,
        sigmoid_ce_forward,
        sigmoid_ce_backward,
        mse_forward,
        mse_backward,
        *IMAGE_KERNELS,
        *SEQUENCE_KERNELS.values(),
        *ATTENTION_KERNELS.values(),
        *SAMPLING_KERNELS,
    )
}
