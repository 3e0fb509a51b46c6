"""ONNX export of graphs (branches, merges, flatten): onnxruntime reproduces a NumPy reference
of a hand-made plan's graph, each node reading the values its `LayerPlan.inputs` name, and
`Network.predict` of compiled graph specs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import netc
from netc.compiler.plan import INPUT, LayerPlan, NetPlan, ParamPlan
from netc.runtime.onnx_export import to_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

KINDS = {"affine": "layer", "batchnorm": "layer", "add": "merge", "concat": "merge",
         "flatten": "reshape", "softmax_ce": "loss", "mse": "loss"}


def _node(i: int, op: str, inputs: tuple[int, ...], shape: tuple[int, ...], n_in: int = 0,
          **attrs: Any) -> LayerPlan:
    """One plan node; affine and batchnorm get their arrays under `<i>.<op>.<name>`."""
    arrays: dict[str, tuple[int, ...]] = {}
    if op == "affine":
        arrays = {"W": (n_in, shape[-1]), "b": (shape[-1],)}
    elif op == "batchnorm":
        arrays = {k: shape for k in ("gamma", "beta", "running_mean", "running_var")}
    params = tuple(ParamPlan(f"{i}.{op}.{k}", k, v, "zeros") for k, v in arrays.items())
    trained = params[:2] if op == "batchnorm" else params
    return LayerPlan(i, op, KINDS.get(op, "activation"), n_in or shape[-1], shape[-1],
                     tuple(attrs.items()), trained, params[2:] if op == "batchnorm" else (),
                     inputs=inputs, shape=shape)


def _net(layers: list[LayerPlan], input_shape: tuple[int, ...]) -> Any:
    """What the exporter reads of a `Network`: its plan and arrays (random, so tested)."""
    plan = NetPlan(tuple(layers), int(np.prod(input_shape)), input_shape=input_shape)
    rng = np.random.default_rng(3)
    params = {p.key: rng.normal(0, 0.5, p.shape) for lp in layers for p in lp.params}
    buffers = {b.key: rng.uniform(0.5, 2.0, b.shape) for lp in layers for b in lp.buffers}
    return SimpleNamespace(plan=plan, params=params, buffers=buffers)


def _op(op: str, xs: list[np.ndarray], p: dict[str, np.ndarray]) -> np.ndarray:
    """One node in NumPy, in evaluation mode."""
    x = xs[0]
    if op == "affine":
        return x @ p["W"] + p["b"]
    if op == "batchnorm":
        return p["gamma"] * (x - p["running_mean"]) / np.sqrt(p["running_var"] + 1e-5) + \
            p["beta"]
    if op == "softmax_ce":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return {"relu": lambda: np.maximum(x, 0), "tanh": lambda: np.tanh(x),
            "add": lambda: sum(xs),  # images (n, c, h, w) concat on the channels
            "concat": lambda: np.concatenate(xs, axis=1 if x.ndim == 4 else -1),
            "flatten": lambda: x.reshape(len(x), -1)}.get(op, lambda: x)()


def _reference(net: Any, x: np.ndarray) -> np.ndarray:
    """The plan's graph in NumPy, independent of the generated code and of the exporter."""
    values = {INPUT: x.astype(np.float64)}
    arrays = {**net.params, **net.buffers}
    for lp in net.plan.layers:
        p = {k.rsplit(".", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{lp.label}.")}
        values[lp.index] = _op(lp.op, [values[j] for j in lp.inputs], p)
    return values[net.plan.loss.index]


def _run(net: Any, tmp_path: Path) -> tuple[Any, np.ndarray, np.ndarray]:
    model = to_model(net)
    path = tmp_path / "dag.onnx"
    path.write_bytes(model.SerializeToString())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(5, *net.plan.input_shape)).astype(np.float32)
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert session.get_inputs()[0].shape == ["batch", *net.plan.input_shape]
    assert session.get_outputs()[0].shape == ["batch", *net.plan.loss.shape]
    return model, session.run(["output"], {"input": x})[0], _reference(net, x)


# input: 4 / affine(8) -> relu -> residual(affine(8) -> relu) -> concat(affine(3), tanh)
#   -> affine(2) -> softmax_ce
RESIDUAL_CONCAT = [
    _node(0, "affine", (INPUT,), (8,), 4), _node(1, "relu", (0,), (8,)),
    _node(2, "affine", (1,), (8,), 8), _node(3, "relu", (2,), (8,)),
    _node(4, "add", (1, 3), (8,), 16), _node(5, "affine", (4,), (3,), 8),
    _node(6, "tanh", (4,), (8,)), _node(7, "concat", (5, 6), (11,), 11),
    _node(8, "affine", (7,), (2,), 11), _node(9, "softmax_ce", (8,), (2,)),
]


def test_onnx_dag_residual_and_concat_match_the_graph(tmp_path: Path) -> None:
    model, got, want = _run(_net(RESIDUAL_CONCAT, (4,)), tmp_path)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    nodes = {n.name: n for n in model.graph.node}
    # Each merge reads its producers' values, the skip first: no chaining through `cur`.
    assert list(nodes["4.add"].input) == ["1.relu.out", "3.relu.out"]
    assert list(nodes["7.concat"].input) == ["5.affine.out", "6.tanh.out"]
    assert list(nodes["6.tanh"].input) == ["4.add.out"]


def test_onnx_dag_image_input_flatten_and_a_three_way_add(tmp_path: Path) -> None:
    # input: 2x3x3 / flatten -> add(affine(5), affine(5) -> relu, affine(5) -> batchnorm)
    #   -> concat(dropout, affine(2)) -> mse
    layers = [
        _node(0, "flatten", (INPUT,), (18,), 18), _node(1, "affine", (0,), (5,), 18),
        _node(2, "affine", (0,), (5,), 18), _node(3, "relu", (2,), (5,)),
        _node(4, "affine", (0,), (5,), 18), _node(5, "batchnorm", (4,), (5,), eps=1e-5),
        _node(6, "add", (1, 3, 5), (5,), 15), _node(7, "dropout", (6,), (5,), p=0.5),
        _node(8, "affine", (6,), (2,), 5), _node(9, "concat", (7, 8), (7,), 7),
        _node(10, "mse", (9,), (7,)),
    ]
    model, got, want = _run(_net(layers, (2, 3, 3)), tmp_path)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    nodes = {n.name: n for n in model.graph.node}
    assert nodes["0.flatten"].op_type == "Flatten"
    # Three inputs: two Adds in the kernel's order; dropout passes the add's value on.
    assert [n.op_type for n in model.graph.node].count("Add") == 2
    assert list(nodes["9.concat"].input) == ["6.add.out", "8.affine.out"]
    assert list(model.graph.output[0].type.tensor_type.shape.dim)[1].dim_value == 7


def test_onnx_dag_image_input_with_image_ops(tmp_path: Path) -> None:
    # Activations and merges on images before the flatten: (1, 2, 2) kept, then flattened;
    # concat joins images on the channels.
    layers = [
        _node(0, "relu", (INPUT,), (1, 2, 2)), _node(1, "tanh", (INPUT,), (1, 2, 2)),
        _node(2, "add", (0, 1), (1, 2, 2)), _node(3, "concat", (2, INPUT), (2, 2, 2)),
        _node(4, "flatten", (3,), (8,), 8), _node(5, "affine", (4,), (3,), 8),
        _node(6, "softmax_ce", (5,), (3,)),
    ]
    _, got, want = _run(_net(layers, (1, 2, 2)), tmp_path)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_onnx_dag_output_read_elsewhere_gets_an_identity(tmp_path: Path) -> None:
    # The loss's value is also read by a branch that leads nowhere: it cannot be renamed.
    layers = [_node(0, "affine", (INPUT,), (3,), 4), _node(1, "relu", (0,), (3,)),
              _node(2, "mse", (0,), (3,))]
    model, got, want = _run(_net(layers, (4,)), tmp_path)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    last = model.graph.node[-1]
    assert (last.op_type, list(last.input)) == ("Identity", ["0.affine.out"])


# Compiled graphs: the exported model against the network's own generated forward pass.
SPECS = {
    "residual_concat": "input: 4\naffine(8) -> relu -> residual(affine(8) -> relu) -> "
                       "concat(affine(3), tanh) -> affine(2) -> softmax_ce",
    "image_add3": "input: 1x4x4\nflatten -> add(affine(5), affine(5) -> relu, affine(5) -> "
                  "batchnorm) -> concat(dropout, affine(2)) -> mse",
    "image_ops": "input: 1x2x2\nresidual(relu) -> concat(tanh, sigmoid) -> flatten -> affine(3) "
                 "-> softmax_ce",
    "input_skip": "input: 6\nresidual(affine(6) -> tanh) -> residual(affine(6), skip=affine(6)) "
                  "-> affine(1) -> sigmoid_ce",
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_onnx_dag_compiled_net_matches_predict(name: str, tmp_path: Path) -> None:
    net = netc.compile(SPECS[name])
    rng = np.random.default_rng(1)
    for key, array in [*net.params.items(), *net.buffers.items()]:
        # Non-trivial batchnorm statistics and biases, so their export is really tested.
        array[...] = rng.uniform(0.5, 2.0, array.shape) if key.endswith("running_var") else \
            rng.normal(0, 0.5, array.shape)
    net.export_onnx(tmp_path / "net.onnx")
    onnx.checker.check_model(onnx.load(str(tmp_path / "net.onnx")))
    session = ort.InferenceSession(str(tmp_path / "net.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", *net.plan.input_shape]
    x = np.random.default_rng(0).normal(size=(9, *net.plan.input_shape)).astype(np.float32)
    got = session.run(["output"], {"input": x})[0]
    np.testing.assert_allclose(got, net.predict(x), atol=1e-5, rtol=0)
    assert not net.plan.is_chain
