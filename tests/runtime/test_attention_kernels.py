"""Tests for runtime/attention_kernels.py against an independent reference.

The reference is a float64 per-row, per-decoder-step loop over DLFS-2 ch. 8's formulas
(score of every encoder step by a dot product, softmax, weighted sum), sharing no code with the
kernels; the backward is checked against central differences of the reference's loss
sum(y * R) with respect to hd and hs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from netc.runtime import attention_kernels as ak

SHAPES = [(2, 3, 4, 5), (2, 1, 4, 5), (2, 3, 1, 5), (1, 1, 1, 3)]  # (n, Td, Ts, H)


def ref_attention(hd: NDArray, hs: NDArray) -> tuple[NDArray, NDArray]:
    """Per row, per decoder step: y[k, t] = sum_s softmax_s(hd[k, t] . hs[k, s]) hs[k, s]."""
    n, td, h = hd.shape
    ts = hs.shape[1]
    y, a = np.zeros((n, td, h)), np.zeros((n, td, ts))
    for k in range(n):
        for t in range(td):
            scores = np.array([float(np.dot(hd[k, t], hs[k, s])) for s in range(ts)])
            e = np.exp(scores - scores.max())
            w = e / e.sum()
            a[k, t] = w
            for s in range(ts):
                y[k, t] += w[s] * hs[k, s]
    return y, a


def inputs(n: int, td: int, ts: int, h: int, dtype: Any = np.float64, seed: int = 0):
    rng = np.random.default_rng(seed)
    hd = rng.normal(size=(n, td, h)).astype(dtype)
    hs = rng.normal(size=(n, ts, h)).astype(dtype)
    dy = rng.normal(size=(n, td, h)).astype(dtype)
    return hd, hs, dy


def forward(hd: NDArray, hs: NDArray, fwd: Callable[..., None] = ak.attention_forward):
    # Garbage in the outputs on entry: the kernel must overwrite every element.
    y = np.full(hd.shape, np.nan, dtype=hd.dtype)
    a = np.full((hd.shape[0], hd.shape[1], hs.shape[1]), np.nan, dtype=hd.dtype)
    fwd(hd, hs, y, a)
    return y, a


def backward(dy, hd, hs, a, want_dhd=True, want_dhs=True,
             bwd: Callable[..., None] = ak.attention_backward):
    dhd = np.full(hd.shape, np.nan, dtype=hd.dtype) if want_dhd else None
    dhs = np.full(hs.shape, np.nan, dtype=hs.dtype) if want_dhs else None
    da = np.full(a.shape, np.nan, dtype=a.dtype)
    bwd(dy, hd, hs, a, dhd, dhs, da)
    return dhd, dhs


def numerical_grad(f: Callable[[], float], x: NDArray, eps: float = 1e-6) -> NDArray:
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_loop_reference(shape: tuple[int, int, int, int]) -> None:
    hd, hs, _ = inputs(*shape)
    y, a = forward(hd, hs)
    want_y, want_a = ref_attention(hd, hs)
    np.testing.assert_allclose(a, want_a, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_central_differences(shape: tuple[int, int, int, int]) -> None:
    hd, hs, R = inputs(*shape, seed=1)
    _, a = forward(hd, hs)
    dhd, dhs = backward(R, hd, hs, a)

    def loss() -> float:
        return float((ref_attention(hd, hs)[0] * R).sum())

    np.testing.assert_allclose(dhd, numerical_grad(loss, hd), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dhs, numerical_grad(loss, hs), rtol=1e-6, atol=1e-8)


def test_one_encoder_step_gives_zero_query_gradient() -> None:
    # With Ts == 1 the weight is always 1, so y = hs and the queries get no gradient.
    hd, hs, dy = inputs(2, 3, 1, 4, seed=2)
    y, a = forward(hd, hs)
    np.testing.assert_array_equal(a, 1.0)
    np.testing.assert_allclose(y, np.broadcast_to(hs, y.shape), rtol=1e-15)
    dhd, dhs = backward(dy, hd, hs, a)
    np.testing.assert_allclose(dhd, 0.0, atol=1e-15)
    np.testing.assert_allclose(dhs, dy.sum(axis=1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize(("want_dhd", "want_dhs"), [(False, True), (True, False), (False, False)])
def test_none_gradients_are_skipped(want_dhd: bool, want_dhs: bool) -> None:
    hd, hs, dy = inputs(2, 3, 4, 5, seed=3)
    _, a = forward(hd, hs)
    full_dhd, full_dhs = backward(dy, hd, hs, a)
    before = [x.copy() for x in (dy, hd, hs, a)]
    dhd, dhs = backward(dy, hd, hs, a, want_dhd, want_dhs)
    for x, old in zip((dy, hd, hs, a), before, strict=True):
        np.testing.assert_array_equal(x, old)  # inputs are read, never written
    assert (dhd is None) != want_dhd and (dhs is None) != want_dhs
    if dhd is not None:
        np.testing.assert_array_equal(dhd, full_dhd)
    if dhs is not None:
        np.testing.assert_array_equal(dhs, full_dhs)


def test_float32_is_kept() -> None:
    hd, hs, dy = inputs(3, 4, 6, 8, dtype=np.float32, seed=4)
    y, a = forward(hd, hs)
    dhd, dhs = backward(dy, hd, hs, a)
    assert {x.dtype for x in (y, a, dhd, dhs)} == {np.dtype(np.float32)}
    hd64, hs64, dy64 = (x.astype(np.float64) for x in (hd, hs, dy))
    y64, a64 = forward(hd64, hs64)
    dhd64, dhs64 = backward(dy64, hd64, hs64, a64)
    for got, want in ((y, y64), (a, a64), (dhd, dhd64), (dhs, dhs64)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_scores_do_not_overflow(dtype: Any) -> None:
    hd, hs, dy = inputs(2, 3, 4, 5, seed=5)
    hd, hs = hd * 15, hs * 15  # scores of order 1e3: exp would overflow without the max shift
    scores = np.einsum("nth,nsh->nts", hd, hs)
    assert np.abs(scores).max() > 1e3
    hd, hs, dy = (x.astype(dtype) for x in (hd, hs, dy))
    # Underflow to weight 0 is the intended result for far-behind scores; anything else raises.
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        y, a = forward(hd, hs)
        dhd, dhs = backward(dy, hd, hs, a)
    for x in (y, a, dhd, dhs):
        assert np.isfinite(x).all()
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=0, atol=1e-6)
    want_y, want_a = ref_attention(hd.astype(np.float64), hs.astype(np.float64))
    np.testing.assert_allclose(a, want_a, atol=1e-5)
    np.testing.assert_allclose(y, want_y, rtol=1e-4, atol=1e-3)


def standalone(name: str) -> Callable[..., Any]:
    """Re-create a kernel from its source alone, in a namespace holding only `np`, as
    `netc compile --emit python` does."""
    source = inspect.getsource(ak.ATTENTION_KERNELS[name])
    module = f"from __future__ import annotations\n\n{source}"
    namespace: dict[str, Any] = {"np": np}
    exec(compile(module, f"<standalone {name}>", "exec", dont_inherit=True), namespace)
    return namespace[name]


def test_registry_and_source_are_self_contained() -> None:
    assert set(ak.ATTENTION_KERNELS) == {"attention_forward", "attention_backward",
                                         "steps_forward", "steps_backward"}
    fwd, bwd = standalone("attention_forward"), standalone("attention_backward")
    hd, hs, dy = inputs(2, 3, 4, 5, seed=6)
    y, a = forward(hd, hs, fwd)
    want_y, want_a = forward(hd, hs)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(a, want_a)
    for flags in ((True, True), (False, True), (True, False)):
        got = backward(dy, hd, hs, a, *flags, bwd=bwd)
        want = backward(dy, hd, hs, a, *flags)
        for g, w in zip(got, want, strict=True):
            if w is None:
                assert g is None
            else:
                np.testing.assert_array_equal(g, w)


def test_steps_kernels_slice_and_scatter_back() -> None:
    x = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)
    y = np.empty((2, 4, 3), np.float32)
    ak.steps_forward(x, None, -1, y)
    np.testing.assert_array_equal(y, x[:, :-1])
    ids = np.arange(10).reshape(2, 5)
    kept = np.empty((2, 4), np.int64)
    ak.steps_forward(ids, 1, None, kept)
    np.testing.assert_array_equal(kept, ids[:, 1:])
    dx = np.full_like(x, np.nan)
    ak.steps_backward(y, None, -1, dx)
    np.testing.assert_array_equal(dx[:, :-1], y)
    np.testing.assert_array_equal(dx[:, -1], 0)
    ak.steps_backward(y, None, -1, None)  # no gradient asked: nothing to do


def test_peeky_concat_repeats_a_vector_and_sums_its_gradient() -> None:
    from netc.runtime.kernels import concat_backward, concat_forward

    rng = np.random.default_rng(0)
    seq, vec = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 5))
    y = np.empty((2, 4, 8))
    concat_forward((seq, vec), y)
    np.testing.assert_array_equal(y[..., :3], seq)
    np.testing.assert_array_equal(y[..., 3:], np.repeat(vec[:, None], 4, axis=1))
    dy = rng.normal(size=y.shape)
    dseq, dvec = np.empty_like(seq), np.empty_like(vec)
    concat_backward(dy, (seq, vec), (dseq, dvec))
    np.testing.assert_array_equal(dseq, dy[..., :3])
    np.testing.assert_allclose(dvec, dy[..., 3:].sum(axis=1))
