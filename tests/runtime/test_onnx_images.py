"""ONNX export of the image ops (conv, pool, global_avg_pool, batchnorm per channel, dropout on
images, flatten): onnxruntime, an implementation independent of netc's kernels, reproduces
`Network.predict` on NCHW inputs, with non-trivial batchnorm statistics and after training;
the graph holds the ONNX node types the issue names, and conv weights as (filters, channels,
kh, kw), as in PyTorch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netc
from netc.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[2]

# name: (spec, the ONNX node types in order). Sizes floor in pools (10 -> pool(3, stride=2)
# -> 4), and conv kernels, strides and pads differ per axis, so a swapped pair shows.
SPECS = {
    "conv_stride_pad_3x5": (
        "input: 2x9x11\nconv(4, 3x5, stride=2, pad=1) -> batchnorm -> relu -> dropout(0.3)"
        " -> pool(2, stride=1) -> pool(2, mode=\"avg\") -> flatten -> affine(3) -> softmax_ce",
        ["Conv", "BatchNormalization", "Relu", "MaxPool", "AveragePool", "Flatten", "Gemm",
         "Softmax"]),
    "per_axis_pairs": (
        "input: 2x9x11\nconv(4, 3x5, stride=2x1, pad=1x2) -> tanh"
        " -> pool(3x2, stride=2x1, mode=\"avg\") -> flatten -> mse",
        ["Conv", "Tanh", "AveragePool", "Flatten"]),
    "overlapping_pools_floor": (
        "input: 3x10x9\npool(3, stride=2) -> pool(2, stride=1, mode=\"avg\") -> flatten"
        " -> batchnorm -> sigmoid_ce",
        ["MaxPool", "AveragePool", "Flatten", "BatchNormalization", "Sigmoid"]),
    "global_avg_pool": (
        "input: 1x28x28\nconv(3, 5) -> dropout(0.5) -> batchnorm(eps=0.001) -> relu -> pool(2)"
        " -> conv(5, 3, pad=1) -> global_avg_pool -> affine(2) -> softmax_ce",
        ["Conv", "BatchNormalization", "Relu", "MaxPool", "Conv", "GlobalAveragePool",
         "Flatten", "Gemm", "Softmax"]),
}


def _perturb(net: Any) -> None:
    """Batchnorm statistics and scales, and biases, away from their initial 0 and 1."""
    rng = np.random.default_rng(1)
    for key, array in [*net.buffers.items(), *net.params.items()]:
        if key.endswith(("running_var", "gamma")):
            array[...] = rng.uniform(0.5, 2.0, array.shape)
        elif key.endswith(("running_mean", "beta", ".b")):
            array[...] = rng.normal(size=array.shape)


def _session(ort: Any, net: Any, path: Path) -> Any:
    """An onnxruntime session of `path`, whose one input is NCHW with a dynamic batch."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == \
        [("input", ["batch", *net.plan.input_shape])]
    assert session.get_outputs()[0].shape == ["batch", net.plan.n_outputs]
    return session


def _check(ort: Any, net: Any, path: Path, x: np.ndarray | None = None) -> np.ndarray:
    """onnxruntime on NCHW images equals predict on the same images and on their flat
    (c, h, w)-ordered rows; returns onnxruntime's output."""
    session = _session(ort, net, path)
    if x is None:
        x = np.random.default_rng(0).normal(size=(6, *net.plan.input_shape))
    x = x.astype(np.float32)
    got = session.run(["output"], {"input": x})[0]
    assert got.shape == (len(x), net.plan.n_outputs)
    np.testing.assert_allclose(got, net.predict(x), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(got, net.predict(x.reshape(len(x), -1)), atol=1e-5, rtol=1e-4)
    return got


def _graph(path: Path) -> Any:
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    return model.graph


@pytest.mark.parametrize("name", sorted(SPECS))
def test_onnx_images_match_predict_and_use_the_onnx_ops(name: str, ort: Any,
                                                        tmp_path: Path) -> None:
    text, ops = SPECS[name]
    net = netc.compile(text)
    _perturb(net)
    net.export_onnx(tmp_path / "m.onnx")
    got = _check(ort, net, tmp_path / "m.onnx")
    assert not np.allclose(got, got[0])  # the rows differ: the check compares something
    graph = _graph(tmp_path / "m.onnx")
    assert [n.op_type for n in graph.node] == ops


def test_onnx_conv_and_pool_attributes_and_weight_layout(ort: Any, tmp_path: Path) -> None:
    net = netc.compile(SPECS["per_axis_pairs"][0])
    net.export_onnx(tmp_path / "m.onnx")
    graph = _graph(tmp_path / "m.onnx")
    inits = {i.name: tuple(i.dims) for i in graph.initializer}
    # (filters, channels, kh, kw) and one bias per filter, as net.params and PyTorch hold them.
    assert inits["0.conv.W"] == (4, 2, 3, 5) == net.params["0.conv.W"].shape
    assert inits["0.conv.b"] == (4,)
    attrs = {n.op_type: {a.name: list(a.ints) for a in n.attribute} for n in graph.node}
    # ONNX pads are (top, left, bottom, right).
    assert attrs["Conv"] == {"kernel_shape": [3, 5], "strides": [2, 1], "pads": [1, 2, 1, 2]}
    assert attrs["AveragePool"] == {"kernel_shape": [3, 2], "strides": [2, 1]}


def test_onnx_batchnorm_per_channel_after_training(ort: Any, tmp_path: Path) -> None:
    net = netc.compile("input: 2x8x8\nconv(4, 3, pad=1) -> batchnorm -> relu -> pool(2)"
                       " -> flatten -> affine(3) -> softmax_ce")
    rng = np.random.default_rng(2)
    # Channel 1 of the input is shifted and scaled, so the running statistics move.
    x = rng.normal(size=(60, 2, 8, 8)) * np.array([1.0, 3.0])[:, None, None] + \
        np.array([0.0, 2.0])[:, None, None]
    t = rng.integers(0, 3, size=60)
    net.fit(x, t, epochs=3, batch_size=20, lr=0.05)
    mean, var = net.buffers["1.batchnorm.running_mean"], net.buffers["1.batchnorm.running_var"]
    assert mean.shape == var.shape == (4,)  # one statistic per channel, not per pixel
    assert np.abs(mean).max() > 0.05 and np.abs(var - 1).max() > 0.05
    net.export_onnx(tmp_path / "trained.onnx")
    inits = {i.name: tuple(i.dims) for i in _graph(tmp_path / "trained.onnx").initializer}
    assert inits["1.batchnorm.running_mean"] == inits["1.batchnorm.gamma"] == (4,)
    _check(ort, net, tmp_path / "trained.onnx", x[:10])


def test_onnx_multi_input_with_an_image(ort: Any, tmp_path: Path) -> None:
    net = netc.compile("input: a: 6, b: 2x6x6\na -> affine(4) -> tanh => ha\n"
                       "b -> conv(3, 3, pad=1) -> pool(2) -> global_avg_pool -> affine(4) => hb\n"
                       "add(ha, hb) -> affine(2) -> softmax_ce")
    _perturb(net)
    net.export_onnx(tmp_path / "two.onnx")
    session = ort.InferenceSession(str(tmp_path / "two.onnx"),
                                   providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == \
        [("a", ["batch", 6]), ("b", ["batch", 2, 6, 6])]
    rng = np.random.default_rng(4)
    xa, xb = rng.normal(size=(5, 6)), rng.normal(size=(5, 2, 6, 6))
    got = session.run(["output"], {"a": xa.astype(np.float32), "b": xb.astype(np.float32)})[0]
    np.testing.assert_allclose(got, net.predict({"a": xa, "b": xb}), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("spec", ["mnist_simple_convnet.net", "mnist_deep_convnet.net"])
def test_onnx_export_cli_of_the_shipped_conv_nets(spec: str, ort: Any, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    assert main(["export", str(ROOT / "specs" / spec), "-o", str(out)]) == 0
    net = netc.load(ROOT / "specs" / spec)
    x = np.random.default_rng(5).uniform(size=(4, 1, 28, 28))  # MNIST's [0, 1] pixels
    _check(ort, net, out, x)
    ops = [n.op_type for n in _graph(out).node]
    assert ops.count("Conv") == (1 if "simple" in spec else 6)
    assert "Dropout" not in ops  # evaluation mode: dropout is left out
