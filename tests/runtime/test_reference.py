"""Losses and gradients of random pipelines against a plain NumPy reference written here.

The reference is deliberately independent of `netc.runtime.kernels`: each op has its own
forward and backward below, written the obvious way (allocating, no `out=`), and the
dropout mask is re-derived from a copy of the network's random generator.
"""

from __future__ import annotations

import numpy as np
import pytest

import netc

TOL = 1e-10
N = 7  # batch size

ACTIVATIONS = ("sigmoid", "relu", "tanh", "leaky_relu", "softmax", "dropout")
LAYERS = ("affine", "matmul", "batchnorm", "repeat", "sum")
LOSSES = ("softmax_ce", "sigmoid_ce", "mse")


# ---- the reference ---------------------------------------------------------------------

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ref_forward(layers, params, buffers, x, train, rng):
    """Run `layers` (list of (index, op, args)); return the output and per-layer caches."""
    caches = []
    for i, op, args in layers:
        key = f"{i}.{op}"
        cache = {"x": x}
        if op == "affine":
            y = x @ params[key + ".W"] + params[key + ".b"]
        elif op == "matmul":
            y = x @ params[key + ".W"]
        elif op == "sigmoid":
            y = _sigmoid(x)
        elif op == "relu":
            y = np.where(x > 0, x, 0.0)
        elif op == "tanh":
            y = np.tanh(x)
        elif op == "leaky_relu":
            y = np.where(x > 0, x, args["alpha"] * x)
        elif op == "softmax":
            y = _softmax(x)
        elif op == "dropout":
            if train:
                keep = rng.random(x.shape) >= args["p"]
                cache["mask"] = keep / (1.0 - args["p"])
            else:
                cache["mask"] = np.ones_like(x)
            y = x * cache["mask"]
        elif op == "batchnorm":
            gamma, beta = params[key + ".gamma"], params[key + ".beta"]
            if train:
                mu, var = x.mean(axis=0), x.var(axis=0)
            else:
                mu, var = buffers[key + ".running_mean"], buffers[key + ".running_var"]
            cache["std"] = np.sqrt(var + 1e-5)
            cache["xhat"] = (x - mu) / cache["std"]
            y = gamma * cache["xhat"] + beta
        elif op == "repeat":
            y = np.concatenate([x] * args["n"], axis=1)
        elif op == "sum":
            y = sum(np.split(x, args["n"], axis=1))
        else:
            raise AssertionError(op)
        cache["y"] = y
        caches.append(cache)
        x = y
    return x, caches


def ref_backward(layers, params, caches, dy):
    """Backprop `dy` through `layers`; return (grads by parameter key, dL/dinput)."""
    grads = {}
    for (i, op, args), c in zip(reversed(layers), reversed(caches), strict=True):
        key, x, y = f"{i}.{op}", c["x"], c["y"]
        if op in ("affine", "matmul"):
            grads[key + ".W"] = x.T @ dy
            if op == "affine":
                grads[key + ".b"] = dy.sum(axis=0)
            dx = dy @ params[key + ".W"].T
        elif op == "sigmoid":
            dx = dy * y * (1 - y)
        elif op == "relu":
            dx = dy * (x > 0)
        elif op == "tanh":
            dx = dy * (1 - y**2)
        elif op == "leaky_relu":
            dx = dy * np.where(x > 0, 1.0, args["alpha"])
        elif op == "softmax":
            dx = y * (dy - (dy * y).sum(axis=1, keepdims=True))
        elif op == "dropout":
            dx = dy * c["mask"]
        elif op == "batchnorm":
            n, xhat = len(x), c["xhat"]
            grads[key + ".gamma"] = (dy * xhat).sum(axis=0)
            grads[key + ".beta"] = dy.sum(axis=0)
            dxhat = dy * params[key + ".gamma"]
            dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (
                n * c["std"])
        elif op == "repeat":
            dx = sum(np.split(dy, args["n"], axis=1))
        elif op == "sum":
            dx = np.concatenate([dy] * args["n"], axis=1)
        else:
            raise AssertionError(op)
        dy = dx
    return grads, dy


def ref_loss(loss, y, t):
    """(loss value, dL/dy) for the three losses; t is one-hot/rows."""
    n = len(y)
    if loss == "softmax_ce":
        p = _softmax(y)
        return float(-np.sum(t * np.log(p)) / n), (p - t) / n
    if loss == "sigmoid_ce":
        s = _sigmoid(y)
        return float(-np.sum(t * np.log(s) + (1 - t) * np.log(1 - s)) / n), (s - t) / n
    return float(0.5 * np.sum((y - t) ** 2) / n), (y - t) / n


# ---- random pipelines ------------------------------------------------------------------

def _random_call(rng, width):
    """One random op that fits `width`: (op, args, spec text, new width)."""
    op = str(rng.choice(ACTIVATIONS + LAYERS))
    if op in ("affine", "matmul"):
        n_out = int(rng.integers(1, 7))
        return op, {}, f"{op}({n_out})", n_out
    if op == "leaky_relu":
        alpha = float(rng.choice([0.01, 0.1, 0.3]))
        return op, {"alpha": alpha}, f"leaky_relu({alpha})", width
    if op == "dropout":
        p = float(rng.choice([0.2, 0.5]))
        return op, {"p": p}, f"dropout({p})", width
    if op == "repeat":
        n = int(rng.integers(1, 4))
        return op, {"n": n}, f"repeat({n})", width * n
    if op == "sum":
        n = int(rng.choice([d for d in range(1, width + 1) if width % d == 0]))
        return op, {"n": n}, f"sum({n})", width // n
    return op, {}, op, width


def random_pipeline(seed):
    """(spec text, layers, loss, input width, output width) of a random 1-4 layer net."""
    rng = np.random.default_rng(seed)
    width = n_in = int(rng.integers(1, 7))
    loss = str(rng.choice(LOSSES))
    layers, texts = [], []
    for i in range(int(rng.integers(1, 5))):
        op, args, text, width = _random_call(rng, width)
        layers.append((i, op, args))
        texts.append(text)
    if loss == "softmax_ce" and width < 2:
        width = int(rng.integers(2, 6))
        layers.append((len(layers), "affine", {}))
        texts.append(f"affine({width})")
    spec = f"input: {n_in}\n" + " -> ".join([*texts, loss])
    return spec, layers, loss, n_in, width


def _targets(rng, loss, k):
    if loss == "softmax_ce":
        labels = rng.integers(0, k, N)
        return labels, np.eye(k)[labels]
    if loss == "sigmoid_ce":
        t = rng.integers(0, 2, (N, k)).astype(float)
        return t, t
    t = rng.standard_normal((N, k))
    return t, t


def _perturb(net, rng):
    """Give every parameter and running statistic non-trivial values."""
    for v in net.params.values():
        v[...] = rng.standard_normal(v.shape)
    for k, v in net.buffers.items():
        v[...] = rng.uniform(0.5, 1.5, v.shape) if k.endswith("var") else rng.normal(size=v.shape)


def _close(actual, expected, what):
    np.testing.assert_allclose(actual, expected, rtol=TOL, atol=TOL, err_msg=what)


@pytest.mark.parametrize("seed", range(40))
def test_reference_random_pipeline_matches_numpy(seed):
    spec, layers, loss, n_in, k = random_pipeline(seed)
    net = netc.compile(spec, seed=seed, dtype="float64")
    rng = np.random.default_rng(1000 + seed)
    _perturb(net, rng)
    x = rng.standard_normal((N, n_in))
    t, t_rows = _targets(rng, loss, k)
    params = {key: v.copy() for key, v in net.params.items()}
    buffers = {key: v.copy() for key, v in net.buffers.items()}

    # Evaluation mode: loss and predictions.
    y, _ = ref_forward(layers, params, buffers, x, False, None)
    _close(net.loss(x, t), ref_loss(loss, y, t_rows)[0], f"eval loss of {spec!r}")
    head = {"softmax_ce": _softmax, "sigmoid_ce": _sigmoid, "mse": lambda v: v}[loss]
    _close(net.predict(x), head(y), f"predict of {spec!r}")

    # Training mode: the dropout masks come from a copy of the network's generator.
    mask_rng = np.random.default_rng()
    mask_rng.bit_generator.state = net.rng.bit_generator.state
    y, caches = ref_forward(layers, params, buffers, x, True, mask_rng)
    value, dy = ref_loss(loss, y, t_rows)
    grads, dx = ref_backward(layers, params, caches, dy)
    got = net.gradients(x, t, input_grad=True)
    assert set(got) == {*net.params, "input"}
    for key in net.params:
        _close(got[key], grads[key], f"d{key} of {spec!r}")
    _close(got["input"], dx, f"dinput of {spec!r}")
    mask_rng.bit_generator.state = net.rng.bit_generator.state
    y, _ = ref_forward(layers, params, buffers, x, True, mask_rng)
    _close(net.loss(x, t, train=True), ref_loss(loss, y, t_rows)[0], f"train loss of {spec!r}")


def test_reference_batchnorm_running_stats_follow_momentum():
    net = netc.compile("input: 3\nbatchnorm(momentum=0.8) -> affine(2) -> mse", dtype="float64")
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((N, 3)) * 2 + 1, rng.standard_normal((N, 2))
    net.gradients(x, t)
    _close(net.buffers["0.batchnorm.running_mean"], 0.2 * x.mean(axis=0), "running mean")
    _close(net.buffers["0.batchnorm.running_var"], 0.8 + 0.2 * x.var(axis=0), "running var")


def test_reference_pipelines_cover_every_op():
    seen = set()
    for seed in range(40):
        _, layers, loss, _, _ = random_pipeline(seed)
        seen |= {op for _, op, _ in layers} | {loss}
    assert seen >= set(ACTIVATIONS + LAYERS + LOSSES)
