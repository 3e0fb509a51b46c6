"""The image ops end to end against an independent float64 reference: DLFS-1 ch. 7's
definitions written as plain loops over NCHW arrays (cross-correlation with zero padding and
stride, max pooling that routes each window's gradient to its first maximum in row-major order,
average pooling, global average pooling) and per-channel batchnorm in NumPy. The backward
reference is derived by the chain rule and checked against numeric differentiation of the
reference forward; netc is reached only through its public API (compile, params, loss, predict,
gradients)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import netc

Layer = tuple[Any, ...]  # ("conv", stride, pad), ("pool", size, stride, mode), ("relu",), ...
EPS = 1e-5  # batchnorm's default eps


def out_size(n: int, k: int, s: int, p: int = 0) -> int:
    return (n + 2 * p - k) // s + 1


def conv_forward(x: NDArray, W: NDArray, b: NDArray, stride: tuple[int, int],
                 pad: tuple[int, int]) -> NDArray:
    """y[i, f, r, q] = sum_{c, a, e} xpad[i, c, r*sh + a, q*sw + e] * W[f, c, a, e] + b[f]."""
    (n, _, h, w), (f, _, kh, kw) = x.shape, W.shape
    (sh, sw), (ph, pw) = stride, pad
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.zeros((n, f, out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)))
    for i, o, r, q in np.ndindex(y.shape):
        y[i, o, r, q] = np.sum(xp[i, :, r * sh:r * sh + kh, q * sw:q * sw + kw] * W[o]) + b[o]
    return y


def conv_backward(dy: NDArray, x: NDArray, W: NDArray, stride: tuple[int, int],
                  pad: tuple[int, int]) -> tuple[NDArray, NDArray, NDArray]:
    """Each output y[i, f, r, q] adds dy * W[f] to its window of dx and dy * window to dW[f]."""
    kh, kw = W.shape[2:]
    (sh, sw), (ph, pw) = stride, pad
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    for i, o, r, q in np.ndindex(dy.shape):
        window = (i, slice(None), slice(r * sh, r * sh + kh), slice(q * sw, q * sw + kw))
        dW[o] += dy[i, o, r, q] * xp[window]
        dxp[window] += dy[i, o, r, q] * W[o]
    dx = dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
    return dx, dW, dy.sum(axis=(0, 2, 3))


def pool_forward(x: NDArray, size: tuple[int, int], stride: tuple[int, int],
                 mode: str) -> NDArray:
    """The max or the mean of each window; rows and columns no window reaches are dropped."""
    (n, c, h, w), (kh, kw), (sh, sw) = x.shape, size, stride
    y = np.zeros((n, c, out_size(h, kh, sh), out_size(w, kw, sw)))
    for i, ch, r, q in np.ndindex(y.shape):
        window = x[i, ch, r * sh:r * sh + kh, q * sw:q * sw + kw]
        y[i, ch, r, q] = window.max() if mode == "max" else window.mean()
    return y


def pool_backward(dy: NDArray, x: NDArray, size: tuple[int, int], stride: tuple[int, int],
                  mode: str) -> NDArray:
    """max: all of dy to the window's first maximum (row-major); avg: dy / (kh*kw) to each."""
    (kh, kw), (sh, sw) = size, stride
    dx = np.zeros_like(x)
    for i, ch, r, q in np.ndindex(dy.shape):
        if mode == "avg":
            dx[i, ch, r * sh:r * sh + kh, q * sw:q * sw + kw] += dy[i, ch, r, q] / (kh * kw)
            continue
        best = None  # (a, e) of the first maximum met scanning the window row by row
        for a in range(kh):
            for e in range(kw):
                if best is None or x[i, ch, r * sh + a, q * sw + e] > \
                        x[i, ch, r * sh + best[0], q * sw + best[1]]:
                    best = (a, e)
        assert best is not None
        dx[i, ch, r * sh + best[0], q * sw + best[1]] += dy[i, ch, r, q]
    return dx


def batchnorm_forward(x: NDArray, gamma: NDArray, beta: NDArray) -> tuple[NDArray, NDArray]:
    """Per channel, statistics over the batch and every position (biased variance)."""
    axes, per = (0, 2, 3), (None, slice(None), None, None)
    xhat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + EPS)
    return gamma[per] * xhat + beta[per], xhat


def batchnorm_backward(dy: NDArray, x: NDArray, gamma: NDArray,
                       xhat: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    axes, per = (0, 2, 3), (None, slice(None), None, None)
    m = x.size // x.shape[1]
    inv_std = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + EPS)
    dxhat = dy * gamma[per]
    dx = inv_std / m * (m * dxhat - dxhat.sum(axis=axes, keepdims=True)
                        - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True))
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


def forward(layers: list[Layer], p: dict[str, NDArray], x: NDArray) -> tuple[NDArray, list[Any]]:
    """The chain's output and, per layer, (its key, its input, what backward needs)."""
    tape = []
    for pos, (op, *args) in enumerate(layers):
        key, cache = f"{pos}.{op}", None
        tape.append((key, x))
        if op == "conv":
            x = conv_forward(x, p[f"{key}.W"], p[f"{key}.b"], *args)
        elif op == "pool":
            x = pool_forward(x, *args)
        elif op == "global_avg_pool":
            x = x.mean(axis=(2, 3))
        elif op == "batchnorm":
            x, cache = batchnorm_forward(x, p[f"{key}.gamma"], p[f"{key}.beta"])
        elif op == "relu":
            x = np.maximum(x, 0)
        elif op == "flatten":
            x = x.reshape(len(x), -1)
        elif op == "affine":
            x = x @ p[f"{key}.W"] + p[f"{key}.b"]
        tape[-1] += (cache,)
    return x, tape


def backward(layers: list[Layer], p: dict[str, NDArray], tape: list[Any],
             dy: NDArray) -> dict[str, NDArray]:
    """Every parameter's gradient and the input's ("input", as (n, features) rows)."""
    g: dict[str, NDArray] = {}
    for (op, *args), (key, x, cache) in reversed(list(zip(layers, tape, strict=True))):
        if op == "conv":
            dy, g[f"{key}.W"], g[f"{key}.b"] = conv_backward(dy, x, p[f"{key}.W"], *args)
        elif op == "pool":
            dy = pool_backward(dy, x, *args)
        elif op == "global_avg_pool":
            dy = np.broadcast_to(dy[:, :, None, None] / (x.shape[2] * x.shape[3]), x.shape)
        elif op == "batchnorm":
            dy, g[f"{key}.gamma"], g[f"{key}.beta"] = batchnorm_backward(
                dy, x, p[f"{key}.gamma"], cache)
        elif op == "relu":
            dy = dy * (x > 0)
        elif op == "flatten":
            dy = dy.reshape(x.shape)
        elif op == "affine":
            g[f"{key}.W"], g[f"{key}.b"] = x.T @ dy, dy.sum(axis=0)
            dy = dy @ p[f"{key}.W"].T
    g["input"] = dy.reshape(len(dy), -1)
    return g


def loss_and_grad(out: NDArray, t: NDArray) -> tuple[float, NDArray]:
    """mse (t float, 0.5 * squared error summed, mean over the batch) or softmax_ce (t ints)."""
    n = len(out)
    if t.dtype.kind == "f":
        return float(0.5 * np.sum((out - t) ** 2) / n), (out - t) / n
    e = np.exp(out - out.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    onehot = np.eye(out.shape[1])[t]
    return float(-np.sum(onehot * np.log(prob)) / n), (prob - onehot) / n


def reference(layers: list[Layer], p: dict[str, NDArray], x: NDArray,
              t: NDArray) -> tuple[float, NDArray, dict[str, NDArray]]:
    out, tape = forward(layers, p, x)
    loss, dout = loss_and_grad(out, t)
    return loss, out, backward(layers, p, tape, dout)


MSE, CE = "flatten -> mse", "flatten -> affine(3) -> softmax_ce"
# name -> (input shape (C, H, W), spec chain, the same chain for the reference)
CASES: dict[str, tuple[tuple[int, int, int], str, list[Layer]]] = {
    "conv_stride1_pad0": ((2, 6, 5), f"conv(3, 3) -> {MSE}",
                          [("conv", (1, 1), (0, 0)), ("flatten",)]),
    "conv_stride2_pad1": ((3, 7, 7), f"conv(4, 3, stride=2, pad=1) -> {MSE}",
                          [("conv", (2, 2), (1, 1)), ("flatten",)]),
    "conv_pad2_keeps_size": ((1, 5, 5), f"conv(2, 5, pad=2) -> {MSE}",
                             [("conv", (1, 1), (2, 2)), ("flatten",)]),
    "conv_2x3_stride_2x1": ((2, 6, 6), f"conv(3, 2x3, stride=2x1, pad=1) -> {MSE}",
                            [("conv", (2, 1), (1, 1)), ("flatten",)]),
    "conv_pad_1x2": ((2, 4, 5), f"conv(2, 3, pad=1x2) -> {CE}",
                     [("conv", (1, 1), (1, 2)), ("flatten",), ("affine",)]),
    "conv_after_conv": ((2, 7, 7), f"conv(3, 3, pad=1) -> relu -> conv(4, 3, stride=2, "
                        f"pad=1) -> {MSE}", [("conv", (1, 1), (1, 1)), ("relu",),
                                             ("conv", (2, 2), (1, 1)), ("flatten",)]),
    "max_pool_2": ((2, 6, 6), f"conv(3, 3, pad=1) -> pool(2) -> {MSE}",
                   [("conv", (1, 1), (1, 1)), ("pool", (2, 2), (2, 2), "max"), ("flatten",)]),
    "max_pool_3_stride_2": ((2, 9, 9), f"conv(2, 3) -> pool(3, stride=2) -> {MSE}",
                            [("conv", (1, 1), (0, 0)), ("pool", (3, 3), (2, 2), "max"),
                             ("flatten",)]),
    "max_pool_2_stride_1": ((1, 5, 5), f"conv(2, 2) -> relu -> pool(2, stride=1) -> {CE}",
                            [("conv", (1, 1), (0, 0)), ("relu",),
                             ("pool", (2, 2), (1, 1), "max"), ("flatten",), ("affine",)]),
    "max_pool_odd_floor": ((2, 5, 7), f"conv(2, 1) -> pool(2) -> {MSE}",
                           [("conv", (1, 1), (0, 0)), ("pool", (2, 2), (2, 2), "max"),
                            ("flatten",)]),
    "max_pool_2x3_stride_1x2": ((1, 5, 8), f"conv(2, 1) -> pool(2x3, stride=1x2) -> {MSE}",
                                [("conv", (1, 1), (0, 0)), ("pool", (2, 3), (1, 2), "max"),
                                 ("flatten",)]),
    "avg_pool_2": ((2, 6, 6), f"conv(3, 3, pad=1) -> pool(2, mode=\"avg\") -> {MSE}",
                   [("conv", (1, 1), (1, 1)), ("pool", (2, 2), (2, 2), "avg"), ("flatten",)]),
    "avg_pool_3_stride_2_odd": ((1, 8, 8), f"conv(2, 2) -> pool(3, stride=2, mode=\"avg\") -> "
                                f"{MSE}", [("conv", (1, 1), (0, 0)),
                                           ("pool", (3, 3), (2, 2), "avg"), ("flatten",)]),
    "global_avg_pool": ((2, 5, 4), "conv(4, 3, pad=1) -> relu -> global_avg_pool -> affine(3) "
                        "-> softmax_ce", [("conv", (1, 1), (1, 1)), ("relu",),
                                          ("global_avg_pool",), ("affine",)]),
    "batchnorm_per_channel": ((2, 6, 6), f"conv(3, 3, pad=1) -> batchnorm -> relu -> pool(2) "
                              f"-> {CE}", [("conv", (1, 1), (1, 1)), ("batchnorm",), ("relu",),
                                           ("pool", (2, 2), (2, 2), "max"), ("flatten",),
                                           ("affine",)]),
    "simple_convnet": ((1, 8, 8), "conv(4, 3) -> relu -> pool(2) -> flatten -> affine(5) -> "
                       "relu -> affine(3) -> softmax_ce",
                       [("conv", (1, 1), (0, 0)), ("relu",), ("pool", (2, 2), (2, 2), "max"),
                        ("flatten",), ("affine",), ("relu",), ("affine",)]),
}


def setup(name: str, seed: int = 0) -> tuple[Any, list[Layer], NDArray, NDArray]:
    """The compiled net with random parameters (biases and gamma/beta too), a batch, targets."""
    shape, chain, layers = CASES[name]
    net = netc.compile(f"input: {'x'.join(map(str, shape))}\n{chain}", dtype="float64",
                       seed=seed)
    rng = np.random.default_rng(seed)
    for v in net.params.values():  # live arrays: writing them changes the net
        v[...] = rng.normal(scale=0.5, size=v.shape)
    x = rng.normal(size=(4, *shape))
    out, _ = forward(layers, net.params, x)
    t = (rng.integers(0, 3, len(x)) if chain.endswith("softmax_ce")
         else rng.normal(size=out.shape))
    return net, layers, x, t


@pytest.mark.parametrize("name", CASES)
def test_image_reference_loss_and_output_match_netc(name: str) -> None:
    net, layers, x, t = setup(name)
    want_loss, want_out, _ = reference(layers, net.params, x, t)
    # Training mode: batchnorm uses the batch's statistics, as the reference does.
    assert net.loss(x, t, train=True) == pytest.approx(want_loss, rel=1e-12)
    if "batchnorm" not in name:
        got = net.predict(x)
        if t.dtype.kind == "f":
            np.testing.assert_allclose(got, want_out, rtol=1e-12, atol=1e-12)
        else:  # predict gives softmax_ce's probabilities
            e = np.exp(want_out - want_out.max(axis=1, keepdims=True))
            np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_image_reference_gradients_match_netc(name: str) -> None:
    net, layers, x, t = setup(name)
    _, _, want = reference(layers, net.params, x, t)
    got = net.gradients(x, t, input_grad=True)
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key].shape == value.shape, key
        np.testing.assert_allclose(got[key], value, rtol=1e-10, atol=1e-12, err_msg=key)


def numeric(f: Callable[[], float], a: NDArray, picks: int = 8,
            h: float = 1e-6) -> dict[tuple[Any, ...], float]:
    """Central differences of f() for a few entries of `a` (a spread, picked at random)."""
    found = {}
    for flat in np.random.default_rng(9).choice(a.size, min(picks, a.size), replace=False):
        idx = np.unravel_index(flat, a.shape)
        orig = a[idx]
        a[idx] = orig + h
        up = f()
        a[idx] = orig - h
        down = f()
        a[idx] = orig
        found[idx] = (up - down) / (2 * h)
    return found


@pytest.mark.parametrize("name", ["conv_2x3_stride_2x1", "max_pool_3_stride_2",
                                  "avg_pool_3_stride_2_odd", "global_avg_pool",
                                  "batchnorm_per_channel", "conv_pad_1x2"])
def test_image_reference_backward_matches_its_own_numeric_gradient(name: str) -> None:
    # The reference's chain rule checked by finite differences of the reference forward.
    net, layers, x, t = setup(name)
    p = {k: v.copy() for k, v in net.params.items()}
    _, _, grads = reference(layers, p, x, t)
    for key, a in [*p.items(), ("input", x)]:
        grad = grads[key].reshape(a.shape)
        for idx, want in numeric(lambda: loss_and_grad(forward(layers, p, x)[0], t)[0],
                                 a).items():
            assert grad[idx] == pytest.approx(want, abs=1e-7), (key, idx)


@pytest.mark.parametrize(("side", "chain", "layers"), [
    (6, "pool(2)", [("pool", (2, 2), (2, 2), "max")]),  # the windows tile the image
    (7, "pool(2)", [("pool", (2, 2), (2, 2), "max")]),  # the last row and column drop
    (7, "pool(2, stride=1)", [("pool", (2, 2), (1, 1), "max")]),
    (7, "pool(3, stride=2)", [("pool", (3, 3), (2, 2), "max")]),
])
def test_image_max_pool_ties_route_to_the_first_maximum_once(
        side: int, chain: str, layers: list[Layer]) -> None:
    # Small integers: most windows hold their maximum more than once (a relu's zeros do).
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, size=(3, 2, side, side)).astype(float)
    x[0] = 0.0  # one image all ties
    net = netc.compile(f"input: 2x{side}x{side}\n{chain} -> flatten -> mse", dtype="float64")
    out, _ = forward([*layers, ("flatten",)], {}, x)
    t = out - rng.uniform(1.0, 2.0, size=out.shape)  # dy > 0 for every window
    got = net.gradients(x, t, input_grad=True)["input"].reshape(x.shape)
    _, _, want = reference([*layers, ("flatten",)], {}, x, t)
    np.testing.assert_allclose(got, want["input"].reshape(x.shape), rtol=1e-12)
    # Every window passes its gradient on once, whole: the sums agree.
    np.testing.assert_allclose(got.sum(axis=(2, 3)), (out - t).reshape(3, 2, -1).sum(2) / 3,
                               rtol=1e-12)
    if chain == "pool(2)":  # disjoint windows: exactly one element of each gets gradient
        hits = (got[:, :, :6, :6] != 0).reshape(3, 2, 3, 2, 3, 2).sum(axis=(3, 5))
        np.testing.assert_array_equal(hits, 1)
        np.testing.assert_array_equal(got[0, :, ::2, ::2][:, :3, :3] != 0, True)
