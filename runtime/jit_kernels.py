"""Runtime stage 6b, the compiled backend's kernels: loop forms of the NumPy kernels for Numba.

Each function has the name, arguments and meaning of its NumPy twin in `kernels.py` or
`optim.py`, so the calls `compiler/codegen.py` renders from the op descriptors are the calls
the compiled step makes: one emitter's lines, two kernel libraries. They are plain Python
here (this module never imports Numba, so `netc check` stays fast); `runtime/jit.py` copies
the source of the ones a network uses into its generated module, where each is compiled.

Why loops: inside one compiled function a loop costs nothing per call, and it fuses what
NumPy does in several passes (a bias add, an activation and its mask). `F` is the network's
float type, set by the generated module: a bare Python float constant would turn float32
arithmetic into float64 and halve the SIMD width. BLAS (`np.dot`) takes the products big
enough to pay its call; smaller ones run as loops.
"""

from __future__ import annotations

import math

import numpy as np

F = np.float64  # the generated module rebinds it to the network's dtype
gemm = np.dot  # likewise: runtime/jit_blas.py


def _blas(rows: int, inner: int, cols: int) -> bool:
    """Whether a product is big enough for BLAS. Why a count of multiply-adds: below a few
    thousand, BLAS's call costs more than scalar loops (the spiral's 30x2 @ 2x10 is several
    times faster as loops); above, BLAS's kernels win by far, however narrow one side is
    (a 100x50 @ 50x10 product is 10x faster in BLAS than in loops)."""
    return rows * inner * cols >= 8192


def mm(a, b, out):  # noqa: ANN001, ANN201 - compiled by Numba, typed by its callers
    """out = a @ b (a (n, k), b (k, m)); a or b may be a transposed view."""
    n, k = a.shape
    m = b.shape[1]
    if _blas(n, k, m):
        gemm(a, b, out)  # NumPy's BLAS where found (runtime/jit_blas.py), else np.dot
        return
    # Loop orders measured on the spiral net's products: dot products for an output a few
    # columns wide, otherwise rows of out accumulated in the order of the inner dimension
    # (2-3x faster than one order for all; 30x10 @ 10x3: 0.34 us against 1.05).
    if m < 8:
        for i in range(n):
            for j in range(m):
                total = F(0)
                for p in range(k):
                    total += a[i, p] * b[p, j]
                out[i, j] = total
        return
    out[...] = 0
    for p in range(k):
        for i in range(n):
            v = a[i, p]
            for j in range(m):
                out[i, j] += v * b[p, j]


def exp32(x):  # noqa: ANN001, ANN201
    """exp(x) in float32 within about 1 ulp (Cephes' expf: 2^k times a polynomial in the
    remainder), in plain arithmetic so loops over it vectorize: libm's exp is a call per
    element that blocks SIMD (a sigmoid over 100x50 took 9.2 us against NumPy's 3.1; with
    this, 0.9). Beyond +-88 the argument is clamped (e^88 is finite; a sigmoid or softmax
    reads the same); a NaN stays NaN. `F` float64 networks use np.exp (see `FAST_EXP`)."""
    x = F(88) if x > 88 else x
    x = F(-87) if x < -87 else x
    k = np.floor(x * F(1.44269504088896341) + F(0.5))
    r = x - k * F(0.693359375) + k * F(2.12194440e-4)
    p = F(1.9875691500e-4)
    p = p * r + F(1.3981999507e-3)
    p = p * r + F(8.3334519073e-3)
    p = p * r + F(4.1665795894e-2)
    p = p * r + F(1.6666665459e-1)
    p = p * r + F(5.0000001201e-1)
    p = p * r * r + r + F(1)
    return p * np.int32((np.int32(k) + np.int32(127)) << np.int32(23)).view(np.float32)


def exp64(x):  # noqa: ANN001, ANN201
    """exp(x) for float64 networks: libm's, exact to the last bit as NumPy's."""
    return np.exp(x)


def gather(src, perm, lo, out):  # noqa: ANN001, ANN201
    """out[r] = src[perm[lo + r]]: a mini-batch's rows (the NumPy trainer's `take`)."""
    rows, width = out.shape[0], out.size // max(out.shape[0], 1)
    flat_src, flat_out = src.reshape(src.shape[0], width), out.reshape(rows, width)
    for r in range(rows):
        row = perm[lo + r]
        for j in range(width):  # Why a loop: a row slice's assignment costs ~100 ns
            flat_out[r, j] = flat_src[row, j]


def affine_forward(x, W, b, y):  # noqa: ANN001, ANN201
    """y = x @ W + b."""
    mm(x, W, y)
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            y[i, j] += b[j]


def affine_backward(dy, x, W, dx, dW, db, ones):  # noqa: ANN001, ANN201
    """dW = x.T @ dy;  db = sum_n dy;  dx = dy @ W.T (`ones` is the NumPy form's)."""
    mm(x.T, dy, dW)
    for j in range(db.shape[0]):
        db[j] = 0
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            db[j] += dy[i, j]
    if dx is not None:
        mm(dy, W.T, dx)


def matmul_forward(x, W, y):  # noqa: ANN001, ANN201
    """y = x @ W."""
    mm(x, W, y)


def matmul_backward(dy, x, W, dx, dW):  # noqa: ANN001, ANN201
    """dW = x.T @ dy;  dx = dy @ W.T."""
    mm(x.T, dy, dW)
    if dx is not None:
        mm(dy, W.T, dx)


def sigmoid_forward(x, y):  # noqa: ANN001, ANN201
    """y = 1 / (1 + exp(-x)). Why not NumPy's tanh form: exp is twice as fast here, and its
    overflow (x < -88 in float32) gives 1 / inf = 0 exactly, with no warning to avoid."""
    xs, ys = x.reshape(x.size), y.reshape(y.size)
    for i in range(xs.size):
        ys[i] = F(1) / (F(1) + fast_exp(-xs[i]))


def sigmoid_backward(dy, y, dx):  # noqa: ANN001, ANN201
    """dx = dy * y * (1 - y)."""
    if dx is not None:
        dys, ys, dxs = dy.reshape(dy.size), y.reshape(y.size), dx.reshape(dx.size)
        for i in range(dxs.size):
            dxs[i] = dys[i] * ys[i] * (F(1) - ys[i])


def tanh_forward(x, y):  # noqa: ANN001, ANN201
    """y = tanh(x)."""
    xs, ys = x.reshape(x.size), y.reshape(y.size)
    for i in range(xs.size):
        ys[i] = np.tanh(xs[i])


def tanh_backward(dy, y, dx):  # noqa: ANN001, ANN201
    """dx = dy * (1 - y^2)."""
    if dx is not None:
        dys, ys, dxs = dy.reshape(dy.size), y.reshape(y.size), dx.reshape(dx.size)
        for i in range(dxs.size):
            dxs[i] = dys[i] * (F(1) - ys[i] * ys[i])


def relu_forward(x, y):  # noqa: ANN001, ANN201
    """y = max(x, 0); a NaN stays NaN, as in NumPy (the divergence check must see it)."""
    xs, ys = x.reshape(x.size), y.reshape(y.size)
    for i in range(xs.size):
        ys[i] = F(0) if xs[i] <= 0 else xs[i]


def relu_backward(dy, y, dx):  # noqa: ANN001, ANN201
    """dx = dy where y > 0 else 0."""
    if dx is not None:
        dys, ys, dxs = dy.reshape(dy.size), y.reshape(y.size), dx.reshape(dx.size)
        for i in range(dxs.size):
            dxs[i] = dys[i] * F(ys[i] > 0)  # NumPy's form: a NaN in dy stays NaN


def leaky_relu_forward(x, y, alpha):  # noqa: ANN001, ANN201
    """y = x if x > 0 else alpha * x."""
    a = F(alpha)
    xs, ys = x.reshape(x.size), y.reshape(y.size)
    for i in range(xs.size):
        ys[i] = xs[i] if xs[i] > 0 else a * xs[i]


def leaky_relu_backward(dy, x, dx, alpha):  # noqa: ANN001, ANN201
    """dx = dy if x > 0 else alpha * dy."""
    if dx is not None:
        a = F(alpha)
        dys, xs, dxs = dy.reshape(dy.size), x.reshape(x.size), dx.reshape(dx.size)
        for i in range(dxs.size):
            dxs[i] = dys[i] if xs[i] > 0 else a * dys[i]


def add_forward(xs, y):  # noqa: ANN001, ANN201
    """y = the sum of xs (a residual merge)."""
    ys = y.reshape(y.size)
    first = xs[0].reshape(y.size)
    for i in range(ys.size):
        ys[i] = first[i]
    for k in range(1, len(xs)):
        other = xs[k].reshape(y.size)
        for i in range(ys.size):
            ys[i] += other[i]


def add_backward(dy, dxs):  # noqa: ANN001, ANN201
    """dx = dy for every input that wants one (a dx may be dy itself)."""
    for dx in dxs:
        if dx is not None:
            if dx.ctypes.data != dy.ctypes.data:
                dx[...] = dy


def softmax_ce_forward(x, t, y, rows, ones):  # noqa: ANN001, ANN201
    """y = softmax(x); the mean cross-entropy against class ids t (n,) or rows t (n, k)."""
    n, k = x.shape
    total = 0.0
    for i in range(n):
        top = x[i, 0]
        for j in range(1, k):
            top = max(top, x[i, j])
        s = F(0)
        for j in range(k):
            e = fast_exp(x[i, j] - top)
            y[i, j] = e
            s += e
        for j in range(k):
            y[i, j] /= s
        if t.ndim == 1:
            total += math.log(s) - (x[i, t[i]] - top)
        else:
            mass, picked = 0.0, 0.0
            for j in range(k):
                mass += t[i, j]
                picked += t[i, j] * (x[i, j] - top)
            total += math.log(s) * mass - picked
    return total / n


def softmax_ce_backward(y, t, dx, scale, rows):  # noqa: ANN001, ANN201
    """dx = scale * (y - onehot(t))."""
    c = F(scale)
    n, k = y.shape
    for i in range(n):
        for j in range(k):
            dx[i, j] = y[i, j] * c if t.ndim == 1 else (y[i, j] - t[i, j]) * c
        if t.ndim == 1:
            dx[i, t[i]] -= c


def sigmoid_ce_forward(x, t, y):  # noqa: ANN001, ANN201
    """y = sigmoid(x); sum_k mean_n of the stable binary cross-entropy."""
    xs, ys, ts = x.reshape(x.size), y.reshape(y.size), t.reshape(x.size)
    total = 0.0
    for i in range(xs.size):
        v = xs[i]
        ys[i] = F(1) / (F(1) + fast_exp(-v))
        total += max(v, F(0)) - v * ts[i] + np.log1p(np.exp(-abs(v)))
    return total / x.shape[0]


def sigmoid_ce_backward(y, t, dx, scale):  # noqa: ANN001, ANN201
    """dx = scale * (y - t)."""
    c = F(scale)
    ys, ts, dxs = y.reshape(y.size), t.reshape(y.size), dx.reshape(dx.size)
    for i in range(dxs.size):
        dxs[i] = (ys[i] - ts[i]) * c


def mse_forward(x, t, y):  # noqa: ANN001, ANN201
    """y = x; 0.5 * sum((x - t)^2) / n."""
    xs, ys, ts = x.reshape(x.size), y.reshape(y.size), t.reshape(x.size)
    total = 0.0
    for i in range(xs.size):
        ys[i] = xs[i]
        d = xs[i] - ts[i]
        total += d * d
    return 0.5 * total / x.shape[0]


def mse_backward(y, t, dx, scale):  # noqa: ANN001, ANN201
    """dx = scale * (y - t). (Each kernel calls only the helpers, which every module has.)"""
    c = F(scale)
    ys, ts, dxs = y.reshape(y.size), t.reshape(y.size), dx.reshape(dx.size)
    for i in range(dxs.size):
        dxs[i] = (ys[i] - ts[i]) * c


def dropout_forward(x, y, mask, p, rng, train):  # noqa: ANN001, ANN201
    """Inverted dropout drawing from the network's own Generator in NumPy's order (Numba's
    Generator methods reproduce NumPy's streams and advance the same state), so both
    backends drop the same units and the rest of the run's draws stay in step."""
    xs, ys = x.reshape(x.size), y.reshape(y.size)
    if not train:
        for i in range(xs.size):
            ys[i] = xs[i]
        return
    ms = mask.reshape(mask.size)
    keep, cut = F(1.0 / (1.0 - p)), F(p)
    for i in range(ms.size):
        ms[i] = keep if rng.random(dtype=F) >= cut else F(0)
        ys[i] = xs[i] * ms[i]


def dropout_backward(dy, mask, dx):  # noqa: ANN001, ANN201
    """dx = dy * mask."""
    if dx is not None:
        dys, ms, dxs = dy.reshape(dy.size), mask.reshape(mask.size), dx.reshape(dx.size)
        for i in range(dxs.size):
            dxs[i] = dys[i] * ms[i]


def _columns(x):  # noqa: ANN001, ANN201
    """x as (rows, features): a vector batch as it is, channel-major images (c, n, h, w) as
    each channel's n*h*w values in one column (a transposed view: no copy)."""
    if x.ndim == 4:
        return x.reshape((x.shape[0], x.size // x.shape[0])).T
    return x.reshape((x.shape[0], x.size // x.shape[0]))


def batchnorm_forward(x, gamma, beta, running_mean, running_var, y, xhat, inv_std,  # noqa: ANN001, ANN201
                      momentum, eps, train):
    """xhat = (x - mu) / sqrt(var + eps), y = gamma * xhat + beta, per feature or channel;
    training uses the batch's mean and biased variance and moves the running ones."""
    v, out, xh = _columns(x), _columns(y), _columns(xhat)
    m, d = v.shape
    keep, move = F(momentum), F(1 - momentum)
    for j in range(d):
        if train:
            total = 0.0
            for i in range(m):
                total += v[i, j]
            mu = F(total / m)
            total = 0.0
            for i in range(m):
                e = v[i, j] - mu
                xh[i, j] = e
                total += e * e
            var = F(total / m)
            running_mean[j] = running_mean[j] * keep + move * mu
            running_var[j] = running_var[j] * keep + move * var
        else:
            for i in range(m):
                xh[i, j] = v[i, j] - running_mean[j]
            var = running_var[j]
        inv = F(1) / np.sqrt(var + F(eps))
        inv_std[j] = inv
        g, b = gamma[j], beta[j]
        for i in range(m):
            xh[i, j] *= inv
            out[i, j] = xh[i, j] * g + b


def batchnorm_backward(dy, xhat, inv_std, gamma, dx, dgamma, dbeta):  # noqa: ANN001, ANN201
    """dbeta = sum dy, dgamma = sum dy*xhat; dx = gamma*inv_std/m * (m*dy - dbeta -
    xhat*dgamma), per feature or channel (dx may be dy: the sums come first)."""
    g2, xh = _columns(dy), _columns(xhat)
    m, d = g2.shape
    for j in range(d):
        total, cross = F(0), F(0)
        for i in range(m):
            total += g2[i, j]
            cross += g2[i, j] * xh[i, j]
        dbeta[j], dgamma[j] = total, cross
    if dx is not None:
        out = _columns(dx)
        for j in range(d):
            c = gamma[j] * inv_std[j] / F(m)
            for i in range(m):
                out[i, j] = (g2[i, j] * F(m) - dbeta[j] - xh[i, j] * dgamma[j]) * c


# Images: channel-major (c, n, h, w) values, as the NumPy kernels (runtime/image_kernels.py).
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
def sgd_prescaled_update(p, g):  # noqa: ANN001, ANN201
    """W <- W - g (lr already folded into g)."""
    for i in range(p.size):
        p[i] -= g[i]


def sgd_update(p, g, lr, wd):  # noqa: ANN001, ANN201
    """W <- W - lr * (g + wd * W)."""
    a, d = F(lr), F(wd)
    for i in range(p.size):
        p[i] -= (g[i] + d * p[i]) * a


def momentum_update(p, g, v, lr, momentum, wd):  # noqa: ANN001, ANN201
    """v <- momentum * v - lr * dW;  W <- W + v."""
    a, m, d = F(lr), F(momentum), F(wd)
    for i in range(p.size):
        v[i] = v[i] * m - (g[i] + d * p[i]) * a
        p[i] += v[i]


def nesterov_update(p, g, v, lr, momentum, wd):  # noqa: ANN001, ANN201
    """v <- momentum * v - lr * dW;  W <- W + momentum^2 * v - (1 + momentum) * lr * dW."""
    a, m, d = F(lr), F(momentum), F(wd)
    for i in range(p.size):
        step = (g[i] + d * p[i]) * a
        v[i] = v[i] * m - step
        p[i] += v[i] * (m * m) - step * (F(1) + m)


def adagrad_update(p, g, h, lr, eps, wd):  # noqa: ANN001, ANN201
    """h <- h + dW^2;  W <- W - lr * dW / (sqrt(h) + eps)."""
    a, e, d = F(lr), F(eps), F(wd)
    for i in range(p.size):
        gi = g[i] + d * p[i]
        h[i] += gi * gi
        p[i] -= gi * a / (np.sqrt(h[i]) + e)


def rmsprop_update(p, g, h, lr, decay, eps, wd):  # noqa: ANN001, ANN201
    """h <- decay * h + (1 - decay) * dW^2;  W <- W - lr * dW / (sqrt(h) + eps)."""
    a, r, e, d = F(lr), F(decay), F(eps), F(wd)
    for i in range(p.size):
        gi = g[i] + d * p[i]
        h[i] = h[i] * r + gi * gi * (F(1) - r)
        p[i] -= gi * a / (np.sqrt(h[i]) + e)


def adam_update(p, g, m, v, lr, beta1, beta2, eps, step, wd):  # noqa: ANN001, ANN201
    """Adam with the bias correction folded into the step size (optim.py's form)."""
    lr_t = F(lr * (1.0 - beta2**step) ** 0.5 / (1.0 - beta1**step))
    b1, b2, e, d = F(1 - beta1), F(1 - beta2), F(eps), F(wd)
    for i in range(p.size):
        gi = g[i] + d * p[i]
        m[i] += (gi - m[i]) * b1
        v[i] += (gi * gi - v[i]) * b2
        p[i] -= m[i] * lr_t / (np.sqrt(v[i]) + e)


def clip_norm(g, limit):  # noqa: ANN001, ANN201
    """Scale g down to global norm `limit` when larger (optim.clip_norm)."""
    total = 0.0
    for i in range(g.size):
        total += g[i] * g[i]
    norm = math.sqrt(total)
    if norm > limit:
        c = F(limit / (norm + 1e-6))
        for i in range(g.size):
            g[i] *= c


def add_decay(p, g, decay):  # noqa: ANN001, ANN201
    """g += decay * p: DLFS's weight decay on the weights only (fitsettings.with_decay)."""
    for i in range(p.size):
        g[i] += decay[i] * p[i]


def accumulate(g, t):  # noqa: ANN001, ANN201
    """g += t: the gradients of a value read twice add up (NumPy: np.add(g, t, out=g))."""
    gs, ts = g.reshape(g.size), t.reshape(t.size)
    for i in range(gs.size):
        gs[i] += ts[i]


def argmax_rows(y, preds, lo):  # noqa: ANN001, ANN201
    """preds[lo + r] = argmax of row r: the epoch's predictions, for train_acc."""
    for r in range(y.shape[0]):
        preds[lo + r] = np.argmax(y[r])


def count_hits(y, t):  # noqa: ANN001, ANN201
    """Rows' worth of sigmoid hits, (y > 0.5) == (t > 0.5) summed over units / units: what
    `metrics.accuracy` times the batch size gives."""
    ys, ts = y.reshape(y.size), t.reshape(y.size)
    hits = 0
    for i in range(ys.size):
        hits += (ys[i] > 0.5) == (ts[i] > 0.5)
    return hits / y.shape[1]


fast_exp = exp32  # the generated module binds exp32 or exp64 by its dtype


# name -> function: what the compiled backend covers. An op whose kernels are not all here
# trains on NumPy (runtime/jit.py says so once).
JIT_KERNELS = {f.__name__: f for f in (
    affine_forward, affine_backward, matmul_forward, matmul_backward, sigmoid_forward,
    sigmoid_backward, tanh_forward, tanh_backward, relu_forward, relu_backward,
    leaky_relu_forward, leaky_relu_backward, dropout_forward, dropout_backward,
    batchnorm_forward, batchnorm_backward, add_forward,
    add_backward, conv_forward, conv_backward, conv_backward_stride1, pool2_forward,
    pool2_backward, flatten_forward, flatten_backward, softmax_ce_forward, softmax_ce_backward,
    sigmoid_ce_forward, sigmoid_ce_backward, mse_forward, mse_backward, sgd_prescaled_update,
    sgd_update, momentum_update, nesterov_update, adagrad_update, rmsprop_update, adam_update)}
# Helpers the kernels or the step call; copied into every generated module.
HELPERS = (_blas, mm, _columns, _inside, _im2col, _conv_grads, gather, clip_norm, add_decay,
           accumulate, argmax_rows, count_hits)
