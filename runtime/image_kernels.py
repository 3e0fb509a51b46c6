"""Runtime stage: the NumPy kernels of the image ops (DLFS-1 ch. 7), under the rules of
`kernels.py` (self-contained top-level functions, out arrays written and never rebound).

Images are channel-major, `(C, n, H, W)`, in the generated passes. That is what makes a conv
one GEMM with nothing around it: the filters `(F, C*kh*kw)` times the im2col columns
`(C*kh*kw, n*OH*OW)` is the output `(F, n, OH, OW)` itself, and its backward needs no
transposes either. The columns are written as kh*kw strided slab copies (one per kernel
position, all channels and images at once) rather than DLFS-1's per-window loop.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def conv_forward(
    x: NDArray, W: NDArray, b: NDArray, y: NDArray, col: NDArray, xpad: NDArray,
    stride: tuple[int, int], pad: tuple[int, int],
) -> None:
    """y = W (*) x + b, a cross-correlation (DLFS-1 7.4) as one GEMM over im2col columns.

    x (c, n, h, w), y (f, n, oh, ow) channel-major; W (f, c, kh, kw), b (f,). col (at least
    c*kh*kw*n*oh*ow values) keeps the columns for backward; xpad (c, n, h+2ph, w+2pw) holds
    the padded input (unused without padding).
    """
    f, c, kh, kw = W.shape
    (sh, sw), (ph, pw) = stride, pad
    if ph or pw:
        h, w = x.shape[2:]
        # The border is zeroed on every call: backward sums the columns' gradient here.
        xpad[:, :, :ph] = 0
        xpad[:, :, ph + h:] = 0
        xpad[:, :, ph:ph + h, :pw] = 0
        xpad[:, :, ph:ph + h, pw + w:] = 0
        xpad[:, :, ph:ph + h, pw:pw + w] = x
        x = xpad
    n, oh, ow = y.shape[1:]
    # The columns fill the front of col, which may be larger (conv_backward_stride1 uses it).
    cols = col.reshape(-1)[:c * kh * kw * n * oh * ow].reshape(c, kh, kw, n, oh, ow)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
    np.matmul(W.reshape(f, -1), cols.reshape(c * kh * kw, -1), out=y.reshape(f, -1))
    y += b.reshape(f, 1, 1, 1)


def conv_backward(
    dy: NDArray, col: NDArray, W: NDArray, dx: NDArray | None, dW: NDArray, db: NDArray,
    xpad: NDArray, stride: tuple[int, int], pad: tuple[int, int],
) -> None:
    """dW = dy @ col.T, db = sum dy per filter, dx = col2im(W.T @ dy).

    dy (f, n, oh, ow); col as forward left it, then overwritten by its own gradient (the
    columns are spent once dW is formed); dx (c, n, h, w) or None (nothing needs it: the
    GEMM and the col2im are skipped). xpad collects the padded gradient.
    """
    f, c, kh, kw = W.shape
    dy2 = dy.reshape(f, -1)
    np.sum(dy2, axis=1, out=db)
    col2 = col.reshape(-1)[:c * kh * kw * dy2.shape[1]].reshape(c * kh * kw, -1)
    np.matmul(dy2, col2.T, out=dW.reshape(f, -1))
    if dx is None:
        return
    np.matmul(W.reshape(f, -1).T, dy2, out=col2)
    (sh, sw), (ph, pw) = stride, pad
    n, oh, ow = dy.shape[1:]
    cols = col2.reshape(c, kh, kw, n, oh, ow)
    target = xpad if ph or pw else dx
    target.fill(0)
    for i in range(kh):
        for j in range(kw):
            target[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += cols[:, i, j]
    if ph or pw:
        np.copyto(dx, xpad[:, :, ph:ph + dx.shape[2], pw:pw + dx.shape[3]])


def conv_backward_stride1(
    dy: NDArray, col: NDArray, W: NDArray, dx: NDArray | None, dW: NDArray, db: NDArray,
    gpad: NDArray, pad: tuple[int, int],
) -> None:
    """conv_backward for stride 1: dx as a correlation of the gradient, zero-padded by
    k - 1 - pad, with the flipped filters (one more im2col and GEMM), which writes dx once
    instead of summing kh*kw column slabs into it. col must hold (f*kh*kw, n, h*w) values;
    gpad (f, n, oh + 2qh, ow + 2qw) with q = k - 1 - pad, empty where q is 0."""
    f, c, kh, kw = W.shape
    dy2 = dy.reshape(f, -1)
    np.sum(dy2, axis=1, out=db)
    k2 = c * kh * kw
    np.matmul(dy2, col.reshape(-1)[:k2 * dy2.shape[1]].reshape(k2, -1).T, out=dW.reshape(f, -1))
    if dx is None:
        return
    n, oh, ow = dy.shape[1:]
    qh, qw = kh - 1 - pad[0], kw - 1 - pad[1]
    if qh or qw:
        gpad[:, :, :qh] = 0
        gpad[:, :, qh + oh:] = 0
        gpad[:, :, qh:qh + oh, :qw] = 0
        gpad[:, :, qh:qh + oh, qw + ow:] = 0
        gpad[:, :, qh:qh + oh, qw:qw + ow] = dy
        dy = gpad
    h, w = dx.shape[2:]
    cols = col.reshape(-1)[:f * kh * kw * n * h * w].reshape(f, kh, kw, n, h, w)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = dy[:, :, i:i + h, j:j + w]
    flipped = np.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(c, -1)
    np.matmul(flipped, cols.reshape(f * kh * kw, -1), out=dx.reshape(c, -1))


def pool_forward(
    x: NDArray, y: NDArray, size: tuple[int, int], stride: tuple[int, int], mode: str,
) -> None:
    """y = the max (or mean) of each window, per channel and image.  x (c, n, h, w),
    y (c, n, oh, ow); rows and columns no window reaches are left out (floor)."""
    (kh, kw), (sh, sw) = size, stride
    oh, ow = y.shape[2:]
    for i in range(kh):
        for j in range(kw):
            window = x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            if i == j == 0:
                np.copyto(y, window)
            elif mode == "max":
                np.maximum(y, window, out=y)
            else:
                y += window
    if mode != "max":
        y *= 1.0 / (kh * kw)


def pool_backward(
    dy: NDArray, x: NDArray, y: NDArray, dx: NDArray | None, size: tuple[int, int],
    stride: tuple[int, int], mode: str,
) -> None:
    """max: each window's gradient to its first maximum (row-major in the window, as DLFS-1's
    argmax and PyTorch pick), so ties (zeros after a relu) get it once; avg: shared evenly.
    Windows that overlap add up."""
    if dx is None:
        return
    (kh, kw), (sh, sw) = size, stride
    oh, ow = y.shape[2:]
    # Windows that tile the input exactly write each dx element once: no zeroing, no sums.
    tiled = (sh, sw) == (kh, kw) and dx.shape[2:] == (oh * kh, ow * kw)
    if not tiled:
        dx.fill(0)
    if mode == "max":
        free = np.ones(y.shape, dtype=bool)  # windows whose maximum is not found yet
        hit = np.empty(y.shape, dtype=bool)
        part = None if tiled else np.empty_like(dy)
    else:
        share = dy * (1.0 / (kh * kw))
    for i in range(kh):
        for j in range(kw):
            at = (slice(None), slice(None), slice(i, i + sh * (oh - 1) + 1, sh),
                  slice(j, j + sw * (ow - 1) + 1, sw))
            if mode != "max":
                if tiled:
                    np.copyto(dx[at], share)
                else:
                    dx[at] += share
                continue
            np.equal(x[at], y, out=hit)
            hit &= free
            free ^= hit
            if tiled:
                np.multiply(dy, hit, out=dx[at])
            else:
                np.multiply(dy, hit, out=part)
                dx[at] += part


def pool2_forward(x: NDArray, y: NDArray, lower: NDArray, right: NDArray) -> None:
    """pool(2) with windows that tile the input: the max of each 2x2 window in two halving
    steps, keeping which side won each (for backward). Rows first: each pair of rows is
    two contiguous runs, so the full-size step reads memory in order.

    x (c, n, 2oh, w), y (c, n, oh, ow); lower (c, n, oh, w): the lower row won the column;
    right (c, n, oh, ow): the right column won the window. Ties go to the first maximum in
    row-major order, as DLFS-1's argmax and PyTorch: the upper row, then the left column,
    unless the left column's maximum sits in the lower row and the right one's in the upper.
    """
    c, n, h, w = x.shape
    pairs = x.reshape(c, n, h // 2, 2, w)
    np.greater(pairs[:, :, :, 1], pairs[:, :, :, 0], out=lower)
    rows = np.maximum(pairs[:, :, :, 0], pairs[:, :, :, 1])
    left, other = rows[..., 0::2], rows[..., 1::2]
    np.greater(other, left, out=right)
    right |= (other == left) & lower[..., 0::2] & ~lower[..., 1::2]
    np.maximum(left, other, out=y)


def pool2_backward(dy: NDArray, lower: NDArray, right: NDArray, dx: NDArray | None) -> None:
    """Each window's gradient to the element pool2_forward found: first its column, then that
    column's row; the other three get 0. Writes every element of dx."""
    if dx is None:
        return
    c, n, h, w = dx.shape
    g = np.empty(lower.shape, dx.dtype)  # the gradient of each pair-row's column maxima
    np.multiply(dy, right, out=g[..., 1::2])
    np.subtract(dy, g[..., 1::2], out=g[..., 0::2])
    pairs = dx.reshape(c, n, h // 2, 2, w)
    np.multiply(g, lower, out=pairs[:, :, :, 1])
    np.subtract(g, pairs[:, :, :, 1], out=pairs[:, :, :, 0])


def global_avg_pool_forward(x: NDArray, y: NDArray) -> None:
    """y = the mean of each channel.  x (c, n, h, w), y (n, c)."""
    np.mean(x, axis=(2, 3), out=y.T)


def global_avg_pool_backward(dy: NDArray, dx: NDArray | None) -> None:
    """dx = dy spread evenly over each channel's positions.  dy (n, c), dx (c, n, h, w)."""
    if dx is None:
        return
    np.multiply(dy.T[:, :, None, None], 1.0 / (dx.shape[2] * dx.shape[3]), out=dx)


IMAGE_KERNELS = (conv_forward, conv_backward, conv_backward_stride1, pool_forward, pool_backward,
                 pool2_forward, pool2_backward,
                 global_avg_pool_forward, global_avg_pool_backward)
