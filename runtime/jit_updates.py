"""Runtime stage 6b, the compiled backend's optimizer updates: `optim.py`'s kernels as loops.

One pass over the flat parameter buffer per step, each update's arithmetic fused (weight
decay, the state's moving averages, the step). `g` is scratch afterwards, as in NumPy.
"""

from __future__ import annotations

import numpy as np

from .jit_base import F


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


KERNELS = (sgd_prescaled_update, sgd_update, momentum_update, nesterov_update, adagrad_update,
           rmsprop_update, adam_update)
