"""Runtime stage 6b, the compiled backend's image kernels: conv, pool(2) and flatten as loops.

Channel-major values `(c, n, h, w)`, the names, arguments and meaning of
`runtime/image_kernels.py`'s (see `jit_kernels.py` for why loop forms and how they are used).
"""

from __future__ import annotations

import numpy as np

from .jit_base import F, mm


def _inside(j, sw, pw, w, ow):  # noqa: ANN001, ANN201
    """The output columns q whose input column q*sw + j - pw lies on the image: [lo, hi)."""
    lo = max(0, -(-(pw - j) // sw))
    hi = min(ow, (w - 1 + pw - j) // sw + 1)
    return lo, max(lo, hi)


def _im2col(x, cols, kh, kw, sh, sw, ph, pw, oh, ow):  # noqa: ANN001, ANN201
    """cols[(ci, i, j), (s, a, b)] = x[ci, s, a*sh + i - ph, b*sw + j - pw], 0 off the image:
    the padding is read as zeros, no padded copy is made.

    Why flat views and unsigned offsets: Numba checks every signed index for a negative
    (Python's wrap-around), which kept these short copies from vectorizing; with unsigned
    ones it does not (SimpleConvNet's 16-channel im2col: 7.7 ms against 2.3, NumPy's 2.5).
    An offset below zero wraps, and adding the column, which is past the padding, wraps it
    back: unsigned arithmetic is modular."""
    c, n, h, w = x.shape
    xf, cf = x.reshape(x.size), cols.reshape(cols.size)
    m, usw = n * oh * ow, np.uint64(sw)
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                row = (ci * kh + i) * kw + j
                lo, hi = _inside(j, sw, pw, w, ow)
                for s in range(n):
                    for a in range(oh):
                        yy = a * sh + i - ph
                        d = np.uint64(row * m + (s * oh + a) * ow)
                        if yy < 0 or yy >= h:
                            for q in range(np.uint64(ow)):
                                cf[d + q] = F(0)
                            continue
                        src = np.uint64(((ci * n + s) * h + yy) * w + j - pw)
                        for q in range(np.uint64(lo)):
                            cf[d + q] = F(0)
                        for q in range(np.uint64(lo), np.uint64(hi)):
                            cf[d + q] = xf[src + q * usw]
                        for q in range(np.uint64(hi), np.uint64(ow)):
                            cf[d + q] = F(0)


def conv_forward(x, W, b, y, col, xpad, stride, pad):  # noqa: ANN001, ANN201
    """y = W (*) x + b as one product over im2col columns (xpad is the NumPy form's)."""
    f, c, kh, kw = W.shape
    n, oh, ow = y.shape[1], y.shape[2], y.shape[3]
    k, m = c * kh * kw, n * oh * ow
    cols = col.reshape(col.size)[:k * m].reshape((k, m))
    _im2col(x, cols, kh, kw, stride[0], stride[1], pad[0], pad[1], oh, ow)
    y2 = y.reshape((f, m))
    mm(W.reshape((f, k)), cols, y2)
    for fi in range(f):
        for q in range(m):
            y2[fi, q] += b[fi]


def _conv_grads(dy, col, W, dx, dW, db, sh, sw, ph, pw):  # noqa: ANN001, ANN201
    """dW = dy @ cols.T, db = sum dy per filter, dx = col2im(W.T @ dy)."""
    f, c, kh, kw = W.shape
    n, oh, ow = dy.shape[1], dy.shape[2], dy.shape[3]
    k, m = c * kh * kw, n * oh * ow
    dy2 = dy.reshape((f, m))
    for fi in range(f):
        total = F(0)
        for q in range(m):
            total += dy2[fi, q]
        db[fi] = total
    cols = col.reshape(col.size)[:k * m].reshape((k, m))
    mm(dy2, cols.T, dW.reshape((f, k)))
    if dx is not None:
        mm(W.reshape((f, k)).T, dy2, cols)
        h, w = dx.shape[2], dx.shape[3]
        dx[...] = 0
        xf, cf, usw = dx.reshape(dx.size), cols.reshape(cols.size), np.uint64(sw)
        for ci in range(c):
            for i in range(kh):
                for j in range(kw):
                    row = (ci * kh + i) * kw + j
                    lo, hi = _inside(j, sw, pw, w, ow)
                    for s in range(n):
                        for a in range(oh):
                            yy = a * sh + i - ph
                            if 0 <= yy < h:  # unsigned offsets, as in _im2col
                                d = np.uint64(row * m + (s * oh + a) * ow)
                                src = np.uint64(((ci * n + s) * h + yy) * w + j - pw)
                                for q in range(np.uint64(lo), np.uint64(hi)):
                                    xf[src + q * usw] += cf[d + q]


def conv_backward(dy, col, W, dx, dW, db, xpad, stride, pad):  # noqa: ANN001, ANN201
    """The gradients of conv_forward (xpad is the NumPy form's)."""
    _conv_grads(dy, col, W, dx, dW, db, stride[0], stride[1], pad[0], pad[1])


def conv_backward_stride1(dy, col, W, dx, dW, db, gpad, pad):  # noqa: ANN001, ANN201
    """The same for stride 1 (NumPy forms dx as a second correlation; here one col2im)."""
    _conv_grads(dy, col, W, dx, dW, db, 1, 1, pad[0], pad[1])


def pool2_forward(x, y, lower, right):  # noqa: ANN001, ANN201
    """2x2 max pooling with the NumPy kernel's masks: lower (c, n, oh, w), the lower row won
    the column; right (c, n, oh, ow), the right column won the window (ties: the first
    maximum in row-major order)."""
    c, n, oh, ow = y.shape
    for ci in range(c):
        for s in range(n):
            for a in range(oh):
                for q in range(ow):
                    p, r = x[ci, s, 2 * a, 2 * q], x[ci, s, 2 * a, 2 * q + 1]
                    u, v = x[ci, s, 2 * a + 1, 2 * q], x[ci, s, 2 * a + 1, 2 * q + 1]
                    down_left, down_right = u > p, v > r
                    left, other = max(p, u), max(r, v)
                    lower[ci, s, a, 2 * q], lower[ci, s, a, 2 * q + 1] = down_left, down_right
                    wins = other > left or (other == left and down_left and not down_right)
                    right[ci, s, a, q] = wins
                    y[ci, s, a, q] = other if wins else left


def pool2_backward(dy, lower, right, dx):  # noqa: ANN001, ANN201
    """Each window's gradient to the element pool2_forward chose; 0 to the other three.
    Why rows of flat planes and products with the masks (NumPy's own form): with 4-D
    indices and selects the loop ran 12x slower (2.6 ms against 0.2 for SimpleConvNet's)."""
    if dx is not None:
        c, n, oh, ow = dy.shape
        rows, w = c * n * oh, 2 * ow
        d, ri = dy.reshape((rows, ow)), right.reshape((rows, ow))
        lo, x = lower.reshape((rows, w)), dx.reshape((rows, 2 * w))
        for r in range(rows):
            for q in range(ow):
                g = d[r, q]
                gw = g * F(ri[r, q])  # the right column's share, then the left's
                gl = g - gw
                down_left, down_right = F(lo[r, 2 * q]), F(lo[r, 2 * q + 1])
                x[r, 2 * q] = gl - gl * down_left
                x[r, w + 2 * q] = gl * down_left
                x[r, 2 * q + 1] = gw - gw * down_right
                x[r, w + 2 * q + 1] = gw * down_right


def flatten_forward(x, y):  # noqa: ANN001, ANN201
    """y (n, c*h*w) from channel-major images x (c, n, h, w), each row in (c, h, w) order;
    any other x row by row."""
    if x.ndim == 4:
        c, n, h, w = x.shape
        for ci in range(c):
            for s in range(n):
                for a in range(h):
                    for q in range(w):
                        y[s, (ci * h + a) * w + q] = x[ci, s, a, q]
    else:
        y[...] = x.reshape(y.shape)


def flatten_backward(dy, dx):  # noqa: ANN001, ANN201
    """dx in the input's shape from dy (n, c*h*w)."""
    if dx is not None:
        if dx.ndim == 4:
            c, n, h, w = dx.shape
            for ci in range(c):
                for s in range(n):
                    for a in range(h):
                        for q in range(w):
                            dx[ci, s, a, q] = dy[s, (ci * h + a) * w + q]
        else:
            dx[...] = dy.reshape(dx.shape)


# Optimizer updates over the flat buffers (`optim.py`'s formulas; `g` is scratch after).


KERNELS = (conv_forward, conv_backward, conv_backward_stride1, pool2_forward, pool2_backward,
           flatten_forward, flatten_backward)
