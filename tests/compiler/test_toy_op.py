"""One new op, described in one place (its schema, its `OpDef`, its kernels), checks, trains,
gradchecks, emits and exports: no other file of netc knows about it."""

from __future__ import annotations

import importlib.util
from typing import ClassVar, Literal

import numpy as np
import pytest

import netc
from netc.compiler.descriptor import OpDef
from netc.compiler.ops import OPS, register
from netc.compiler.spec import OpSpec
from netc.runtime.gradcheck import gradcheck, random_batch

SPEC = "input: 3\naffine(5) -> softplus -> affine(2) -> softmax_ce\n"


class SoftplusSpec(OpSpec):
    op: Literal["softplus"] = "softplus"
    description: ClassVar[str] = "toy op: log(1 + exp(x))"


def softplus_forward(x, y):
    """y = log(1 + exp(x))."""
    np.logaddexp(0, x, out=y)


def softplus_backward(dy, x, dx):
    """dx = dy * sigmoid(x)."""
    if dx is None:
        return
    np.multiply(dy, 1 / (1 + np.exp(-x)), out=dx)


def _onnx(g, lp):
    g.node("Softplus", [], lp.label)


@pytest.fixture
def softplus():
    register(OpDef("softplus", SoftplusSpec, forward="softplus_forward({x}, {y})",
                   backward="softplus_backward({dy}, {x}, {dx})", onnx=_onnx,
                   kernels=(softplus_forward, softplus_backward)))
    yield
    del OPS["softplus"]


def test_toy_op_checks_with_its_schema(softplus):
    plan = netc.compile(SPEC).plan
    assert [lp.op for lp in plan.layers] == ["affine", "softplus", "affine", "softmax_ce"]
    assert "softplus" in plan.summary()
    with pytest.raises(netc.SpecError, match="softplus has no argument 'beta'|beta"):
        netc.compile(SPEC.replace("softplus", "softplus(beta=2)"))


def test_toy_op_gradchecks_and_trains(softplus):
    net = netc.compile(SPEC, dtype="float64", seed=1)
    x, t = random_batch(net, 8)
    assert all(r.ok for r in gradcheck(net, x, t)), gradcheck(net, x, t)
    x = np.random.default_rng(0).normal(size=(60, 3))
    t = (x[:, 0] > 0).astype(np.int64)
    history = net.fit(x, t, epochs=30, batch_size=20, lr=0.5, verbose=0)
    assert history.history["train_loss"][-1] < 0.5 * history.history["train_loss"][0]


def test_toy_op_is_copied_into_the_emitted_module(softplus):
    net = netc.compile(SPEC, dtype="float64")
    from netc.runtime.generated import standalone_module

    namespace: dict = {}
    exec(compile(standalone_module(net.plan), "<emitted>", "exec"), namespace)  # noqa: S102
    emitted = namespace["Net"](params={k: v.copy() for k, v in net.params.items()},
                               dtype="float64")
    x = np.random.default_rng(2).normal(size=(4, 3))
    np.testing.assert_allclose(emitted.predict(x), net.predict(x), rtol=1e-12)


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs netc[onnx]")
def test_toy_op_exports_to_onnx(softplus, tmp_path):
    import onnxruntime as ort

    net = netc.compile(SPEC, seed=3)
    net.export_onnx(tmp_path / "toy.onnx")
    x = np.random.default_rng(4).normal(size=(5, 3)).astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / "toy.onnx")).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, net.predict(x), rtol=1e-5, atol=1e-6)
