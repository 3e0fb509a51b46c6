"""Dense layers on sequences `(N, T, D)`: affine and matmul act per time step (DLFS-2's
TimeAffine), elementwise ops and losses act on every value, and the rest say what to do."""

from __future__ import annotations

import numpy as np
import pytest

import netc
from netc.errors import SpecError
from netc.runtime.gradcheck import random_batch

SEQ = "input: 5x8\naffine(16) -> tanh -> matmul(4) -> mse"


def test_per_step_shapes_and_weights() -> None:
    plan = netc.plan(SEQ)
    assert plan.input_shape == (5, 8)
    assert [(lp.shape, lp.steps) for lp in plan.layers] == [
        ((5, 16), 5), ((5, 16), 0), ((5, 4), 5), ((5, 4), 0)]
    assert [p.shape for p in plan.layers[0].params] == [(8, 16), (16,)]
    assert "affine(8, 16)" in plan.summary() and "(batch, 5, 16)" in plan.summary()


def test_per_step_affine_is_the_same_affine_at_every_step() -> None:
    net = netc.compile("input: 5x8\naffine(3) -> mse", seed=0, dtype="float64")
    x = np.random.default_rng(0).normal(size=(4, 40))
    w, b = net.params["0.affine.W"], net.params["0.affine.b"]
    want = np.stack([x.reshape(4, 5, 8)[:, s] @ w + b for s in range(5)], axis=1)
    np.testing.assert_allclose(net.predict(x), want.reshape(4, -1), rtol=1e-12)


@pytest.mark.parametrize("text", [
    SEQ,
    "input: 5x8\naffine(16)@E -> tanh => h\nh -> residual(affine(16)) -> concat(h, tanh) -> "
    "affine(16) -> affine(tied=E) -> sigmoid_ce",
    "input: 3x4\naffine(6) -> relu -> dropout(0.2) -> affine(2) -> flatten -> affine(3) -> "
    "softmax_ce",
])
def test_per_step_networks_gradcheck(text: str) -> None:
    net = netc.compile(text, seed=2, dtype="float64")
    x, t = random_batch(net, 6, 0)
    assert not [(r.name, r.error) for r in netc.gradcheck(net, x, t) if not r.ok(1e-6)]


def test_per_step_network_trains_and_exports(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    net = netc.compile(SEQ, seed=0)
    x = np.random.default_rng(0).normal(size=(60, 40)).astype("float32")
    t = np.tanh(x.reshape(60, 5, 8)[:, :, :4]).reshape(60, -1)
    history = net.fit(x, t, epochs=5, batch_size=10, lr=0.1, verbose=False)
    losses = history.history["train_loss"]
    assert losses[-1] < losses[0]
    net.export_onnx(tmp_path / "seq.onnx")
    got = ort.InferenceSession(str(tmp_path / "seq.onnx")).run(
        None, {"input": x[:4].reshape(4, 5, 8)})[0]
    np.testing.assert_allclose(got, net.predict(x[:4]), atol=1e-5)


@pytest.mark.parametrize(("text", "message", "hint"), [
    ("input: 2x5x8\naffine(3) -> mse",
     "affine takes one vector or one sequence per row, but receives (batch, 2, 5, 8) from "
     "the input", "insert flatten"),
    ("input: 5x8\nbatchnorm -> mse",
     "batchnorm takes a vector or an image per row, but receives (batch, 5, 8) from the "
     "input",
     "insert flatten"),
    ("input: 2x5x8\nrelu -> softmax_ce",
     "softmax_ce takes one vector or one sequence per row, but receives (batch, 2, 5, 8) from "
     "the input", "insert flatten"),
    ("input: 5x8\nlstm(4) => h\naffine(3) -> h.last -> mse",
     "a tensor reference ('h.last') is not supported yet", "")
])
def test_ops_that_need_vectors_say_so(text: str, message: str, hint: str) -> None:
    with pytest.raises(SpecError) as info:
        netc.plan(text)
    d = info.value.diagnostics[0]
    assert d.message == message and hint in (d.hint or "")
