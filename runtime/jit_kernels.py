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

from . import jit_base, jit_images, jit_updates
from .jit_base import F, fast_exp, mm


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


# name -> function: what the compiled backend covers. An op whose kernels are not all here
# trains on NumPy (runtime/jit.py says so once).
JIT_KERNELS = {f.__name__: f for f in (
    affine_forward, affine_backward, matmul_forward, matmul_backward, sigmoid_forward,
    sigmoid_backward, tanh_forward, tanh_backward, relu_forward, relu_backward,
    leaky_relu_forward, leaky_relu_backward, dropout_forward, dropout_backward,
    batchnorm_forward, batchnorm_backward, add_forward, add_backward, softmax_ce_forward,
    softmax_ce_backward, sigmoid_ce_forward, sigmoid_ce_backward, mse_forward, mse_backward,
    *jit_images.KERNELS, *jit_updates.KERNELS)}
# Helpers the kernels or the step call; copied into every generated module.
HELPERS = (jit_base._blas, mm, _columns, jit_images._inside, jit_images._im2col,
           jit_images._conv_grads, jit_base.gather, jit_base.clip_norm, jit_base.add_decay,
           jit_base.accumulate, jit_base.argmax_rows, jit_base.count_hits)
