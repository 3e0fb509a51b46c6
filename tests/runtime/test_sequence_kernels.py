"""Tests for runtime/sequence_kernels.py against independent references.

The references are float64 per-sample, per-step loops over DLFS-2's formulas with separate gate
matrices (no code shared with the kernels); the backward references are central differences of
the reference forward's loss sum(y * R). The LSTM is also checked against torch.nn.LSTM.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from netc.runtime import sequence_kernels as sk

N, T, D, H = 2, 3, 3, 2
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def sig(a: NDArray) -> NDArray:
    return 1 / (1 + np.exp(-a))


def ref_lstm(x, Wx, Wh, b, h0, c0):
    """Per sample, per step; columns f, g, i, o each as its own matrix."""
    blocks = [slice(k * H, (k + 1) * H) for k in range(4)]
    wf, wg, wi, wo = (Wx[:, s] for s in blocks)
    uf, ug, ui, uo = (Wh[:, s] for s in blocks)
    bf, bg, bi, bo = (b[s] for s in blocks)
    y = np.zeros((x.shape[0], x.shape[1], H))
    hT, cT = np.zeros_like(h0), np.zeros_like(c0)
    for k in range(x.shape[0]):
        h, c = h0[k].copy(), c0[k].copy()
        for t in range(x.shape[1]):
            xs = x[k, t]
            f = sig(xs @ wf + h @ uf + bf)
            g = np.tanh(xs @ wg + h @ ug + bg)
            i = sig(xs @ wi + h @ ui + bi)
            o = sig(xs @ wo + h @ uo + bo)
            c = f * c + g * i
            h = o * np.tanh(c)
            y[k, t] = h
        hT[k], cT[k] = h, c
    return y, hT, cT


def ref_gru(x, Wx, Wh, b, h0):
    """Per sample, per step; columns z, r, h; hh uses (r*h) Whh as DLFS-2 does."""
    wz, wr, wh = Wx[:, :H], Wx[:, H:2 * H], Wx[:, 2 * H:]
    uz, ur, uh = Wh[:, :H], Wh[:, H:2 * H], Wh[:, 2 * H:]
    y = np.zeros((x.shape[0], x.shape[1], H))
    hT = np.zeros_like(h0)
    for k in range(x.shape[0]):
        h = h0[k].copy()
        for t in range(x.shape[1]):
            xs = x[k, t]
            z = sig(xs @ wz + h @ uz + b[:H])
            r = sig(xs @ wr + h @ ur + b[H:2 * H])
            hh = np.tanh(xs @ wh + (r * h) @ uh + b[2 * H:])
            h = (1 - z) * h + z * hh
            y[k, t] = h
        hT[k] = h
    return y, hT


def ref_rnn(x, Wx, Wh, b, h0):
    y = np.zeros((x.shape[0], x.shape[1], H))
    hT = np.zeros_like(h0)
    for k in range(x.shape[0]):
        h = h0[k].copy()
        for t in range(x.shape[1]):
            h = np.tanh(x[k, t] @ Wx + h @ Wh + b)
            y[k, t] = h
        hT[k] = h
    return y, hT


def garbage(shape, dtype):
    """Scratch as the caller may hand it over: anything at all in it."""
    return np.full(shape, np.nan, dtype=dtype)


def run_forward(kind: str, x, Wx, Wh, b, h0, c0, stream: bool):
    """Run the kernel forward; returns y and the scratch backward reads."""
    n, t, d = x.shape
    dt = x.dtype
    s = {"xt": garbage((t, n, d), dt), "Hs": garbage((t + 1, n, H), dt)}
    y = garbage((n, t, H), dt)
    flag = np.array([stream])
    if kind == "lstm":
        s.update(G=garbage((t, n, 4 * H), dt), Cs=garbage((t + 1, n, H), dt),
                 Tc=garbage((t, n, H), dt))
        sk.lstm_forward(x, Wx, Wh, b, y, h0, c0, flag, s["xt"], s["G"], s["Hs"], s["Cs"],
                        s["Tc"])
    elif kind == "gru":
        s.update(G=garbage((t, n, 3 * H), dt), G2=garbage((t, n, H), dt))
        sk.gru_forward(x, Wx, Wh, b, y, h0, flag, s["xt"], s["G"], s["Hs"], s["G2"])
    else:
        sk.rnn_forward(x, Wx, Wh, b, y, h0, flag, s["xt"], s["Hs"])
    return y, s


def run_backward(kind: str, dy, Wx, Wh, s, with_dx: bool = True):
    T_, n, d = s["xt"].shape
    dt = dy.dtype
    dx = garbage((n, T_, d), dt) if with_dx else None
    dWx, dWh, db = garbage(Wx.shape, dt), garbage(Wh.shape, dt), garbage(Wx.shape[1:], dt)
    dG = garbage((T_, n, Wx.shape[1]), dt)
    if kind == "lstm":
        sk.lstm_backward(dy, Wx, Wh, s["xt"], s["G"], s["Hs"], s["Cs"], s["Tc"], dx, dWx, dWh,
                         db, dG)
    elif kind == "gru":
        sk.gru_backward(dy, Wx, Wh, s["xt"], s["G"], s["Hs"], dx, dWx, dWh, db, dG, s["G2"])
    else:
        sk.rnn_backward(dy, Wx, Wh, s["xt"], s["Hs"], dx, dWx, dWh, db, dG)
    return {"x": dx, "Wx": dWx, "Wh": dWh, "b": db}


def params(kind: str, rng, dtype=np.float64, n=N, t=T, d=D):
    k = GATES[kind]
    p = {"x": rng.normal(size=(n, t, d)), "Wx": rng.normal(size=(d, k * H)) * 0.8,
         "Wh": rng.normal(size=(H, k * H)) * 0.8, "b": rng.normal(size=k * H) * 0.5}
    state = rng.normal(size=(2, n, H))
    return {name: v.astype(dtype) for name, v in p.items()}, state.astype(dtype)


def reference(kind: str, p, h0, c0):
    """(y, final h, final c or None) from the loop reference."""
    if kind == "lstm":
        return ref_lstm(p["x"], p["Wx"], p["Wh"], p["b"], h0, c0)
    ref = ref_gru if kind == "gru" else ref_rnn
    return (*ref(p["x"], p["Wx"], p["Wh"], p["b"], h0), None)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("stream", [False, True])
def test_sequence_forward_matches_loop_reference(kind: str, stream: bool) -> None:
    p, (h0, c0) = params(kind, np.random.default_rng(1))
    h0k, c0k = h0.copy(), c0.copy()
    y, _ = run_forward(kind, p["x"], p["Wx"], p["Wh"], p["b"], h0k, c0k, stream)
    start = (h0, c0) if stream else (np.zeros_like(h0), np.zeros_like(c0))
    y_ref, h_ref, c_ref = reference(kind, p, *start)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    if stream:  # the final state is carried into the next window
        np.testing.assert_allclose(h0k, h_ref, rtol=1e-12, atol=1e-12)
        if kind == "lstm":
            np.testing.assert_allclose(c0k, c_ref, rtol=1e-12, atol=1e-12)
    else:
        assert np.array_equal(h0k, h0) and np.array_equal(c0k, c0)
    assert not np.allclose(y_ref, reference(kind, p, h0 * 0 + 0.5, c0 * 0 + 0.5)[0])


def numeric(f, a: NDArray, h: float = 1e-6) -> NDArray:
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        orig = a[idx]
        a[idx] = orig + h
        up = f()
        a[idx] = orig - h
        down = f()
        a[idx] = orig
        grad[idx] = (up - down) / (2 * h)
    return grad


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("stream", [False, True])
def test_sequence_backward_matches_numeric_reference(kind: str, stream: bool) -> None:
    rng = np.random.default_rng(2)
    p, (h0, c0) = params(kind, rng)
    if not stream:
        h0, c0 = np.zeros_like(h0), np.zeros_like(c0)
    R = rng.normal(size=(N, T, H))
    _, s = run_forward(kind, p["x"], p["Wx"], p["Wh"], p["b"], h0.copy(), c0.copy(), True)
    grads = run_backward(kind, R, p["Wx"], p["Wh"], s)

    def loss() -> float:
        return float(np.sum(reference(kind, p, h0, c0)[0] * R))

    for name in ("x", "Wx", "Wh", "b"):
        np.testing.assert_allclose(grads[name], numeric(loss, p[name]), rtol=1e-6, atol=1e-8,
                                   err_msg=f"{kind} d{name}")


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_sequence_backward_without_dx(kind: str) -> None:
    rng = np.random.default_rng(3)
    p, (h0, c0) = params(kind, rng)
    dy = rng.normal(size=(N, T, H))
    _, s1 = run_forward(kind, p["x"], p["Wx"], p["Wh"], p["b"], h0, c0, False)
    _, s2 = run_forward(kind, p["x"], p["Wx"], p["Wh"], p["b"], h0, c0, False)
    full, lean = run_backward(kind, dy, p["Wx"], p["Wh"], s1), \
        run_backward(kind, dy, p["Wx"], p["Wh"], s2, with_dx=False)
    assert lean["x"] is None
    for name in ("Wx", "Wh", "b"):
        np.testing.assert_array_equal(lean[name], full[name])


class NoFloat64:
    """Stands in for `np` inside the kernel module: a float64 array or scalar going into or
    coming out of any numpy call (float32 work upcast, or a float64 temporary) fails."""

    def __init__(self, target=np) -> None:
        self.target = target

    def __getattr__(self, name: str):
        attr = getattr(self.target, name)
        return NoFloat64(attr) if callable(attr) and not isinstance(attr, type) else attr

    def __call__(self, *args, **kwargs):
        for v in (*args, *kwargs.values(), *kwargs.get("out", ())):
            NoFloat64.check(v)
        return NoFloat64.check(self.target(*args, **kwargs))

    @staticmethod
    def check(v):
        if isinstance(v, (np.ndarray, np.generic)) and v.dtype == np.float64:
            raise AssertionError("float64 inside a float32 kernel call")
        return v


@pytest.fixture
def float32_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sk, "np", NoFloat64())


def test_float32_guard_catches_upcasts(float32_only: None) -> None:
    a = np.ones(3, dtype=np.float32)
    for bad in (lambda: sk.np.empty(3), lambda: sk.np.multiply(a, np.float64(2), out=a),
                lambda: sk.np.add.at(a, [0], np.ones(1))):
        with pytest.raises(AssertionError):
            bad()
    sk.np.multiply(a, 2.0, out=a)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("with_dx", [False, True])
def test_sequence_float32_stays_float32(kind: str, with_dx: bool, float32_only: None) -> None:
    rng = np.random.default_rng(4)
    p, (h0, c0) = params(kind, rng)
    p32 = {k: v.astype(np.float32) for k, v in p.items()}
    h32, c32 = h0.astype(np.float32), c0.astype(np.float32)
    y, s = run_forward(kind, p32["x"], p32["Wx"], p32["Wh"], p32["b"], h32, c32, True)
    dy = rng.normal(size=(N, T, H)).astype(np.float32)
    grads = run_backward(kind, dy, p32["Wx"], p32["Wh"], s, with_dx)
    assert y.dtype == h32.dtype == np.float32
    assert all(g is None or g.dtype == np.float32 for g in grads.values())
    y_ref, h_ref, _ = reference(kind, p, h0, c0)
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h32, h_ref, rtol=1e-4, atol=1e-5)


def test_lstm_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    n, t, d = 3, 5, 4
    p, (h0, c0) = params("lstm", rng, n=n, t=t, d=d)
    y, _ = run_forward("lstm", p["x"], p["Wx"], p["Wh"], p["b"], h0.copy(), c0.copy(), True)
    # The book's columns are f, g, i, o; PyTorch's rows are i, f, g, o.
    order = np.concatenate([np.arange(H) + k * H for k in (2, 0, 1, 3)])
    lstm = torch.nn.LSTM(d, H, batch_first=True).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(p["Wx"][:, order].T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(p["Wh"][:, order].T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(p["b"][order].copy()))
        lstm.bias_hh_l0.zero_()
        out, _ = lstm(torch.from_numpy(p["x"]), (torch.from_numpy(h0[None]),
                                                 torch.from_numpy(c0[None])))
    np.testing.assert_allclose(y, out.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embed_repeated_ids(dtype, monkeypatch: pytest.MonkeyPatch) -> None:
    if dtype == np.float32:
        monkeypatch.setattr(sk, "np", NoFloat64())
    rng = np.random.default_rng(6)
    W = rng.normal(size=(5, 3)).astype(dtype)
    x = np.array([[1, 4, 1], [1, 0, 4]], dtype=np.int32)
    y = garbage((2, 3, 3), dtype)
    sk.embed_forward(x, W, y)
    assert np.array_equal(y[1, 2], W[4]) and np.array_equal(y[0, 0], W[1])
    y1 = garbage((2, 3), dtype)
    sk.embed_forward(x[:, 0].astype(np.int64), W, y1)
    assert np.array_equal(y1, W[[1, 1]])
    dy = rng.normal(size=(2, 3, 3)).astype(dtype)
    dW = garbage(W.shape, dtype)
    sk.embed_backward(dy, x, dW)
    expect = np.zeros((5, 3))
    for k in range(2):
        for t in range(3):
            expect[x[k, t]] += dy[k, t]
    assert dW.dtype == dtype
    np.testing.assert_allclose(dW, expect, rtol=1e-6)
    assert np.all(dW[[2, 3]] == 0)


def test_last_and_seq_mean(float32_only: None) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    y = garbage((2, 3), np.float32)
    sk.last_forward(x, y)
    assert np.array_equal(y, x[:, 3])
    dy = rng.normal(size=(2, 3)).astype(np.float32)
    dx = garbage((2, 4, 3), np.float32)
    sk.last_backward(dy, dx)
    assert np.array_equal(dx[:, 3], dy) and np.all(dx[:, :3] == 0)
    sk.seq_mean_forward(x, y)
    np.testing.assert_allclose(y, x.mean(axis=1), rtol=1e-6)
    sk.seq_mean_backward(dy, dx)
    np.testing.assert_allclose(dx, np.repeat(dy[:, None] / 4, 4, axis=1), rtol=1e-6)
    sk.last_backward(dy, None)
    sk.seq_mean_backward(dy, None)


def test_clip_norm_scales_only_above_threshold() -> None:
    """`train: clip=` (runtime/optim.py): DLFS-2's clip_grads over the flat gradients."""
    from netc.runtime.optim import clip_norm

    g = np.array([3.0, 4.0], dtype=np.float32)
    assert clip_norm(g, 10.0) == pytest.approx(5.0) and np.array_equal(g, [3, 4])
    norm = clip_norm(g, 1.0)
    assert isinstance(norm, float) and norm == pytest.approx(5.0)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [0.6, 0.8], rtol=1e-5)


def test_registry_lists_every_kernel() -> None:
    assert sk.SEQUENCE_KERNELS["lstm_forward"] is sk.lstm_forward
    assert len(sk.SEQUENCE_KERNELS) == 14
