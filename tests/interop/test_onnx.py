"""ONNX export: the checker accepts every model and onnxruntime reproduces `Network.predict`
for every layer kind, a trained net and a net loaded from a checkpoint (`netc export`)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx  # the test extra installs it
import onnxruntime as ort
import pytest

import netc
from netc.cli import main
from netc.errors import MissingDependencyError

ROOT = Path(__file__).resolve().parents[2]
SPIRAL = ROOT / "specs" / "spiral.net"

# One small spec per layer kind (each also ends in a loss, itself a kind under test).
KINDS = {
    "affine": "input: 4\naffine(5) -> softmax_ce",
    "matmul": "input: 4\nmatmul(3) -> mse",
    "sigmoid": "input: 4\nsigmoid -> affine(2) -> mse",
    "relu": "input: 4\nrelu -> affine(3) -> softmax_ce",
    "tanh": "input: 4\ntanh -> mse",
    "leaky_relu": "input: 4\nleaky_relu(0.2) -> mse",
    "softmax": "input: 4\naffine(3) -> softmax -> mse",
    "dropout": "input: 4\ndropout(0.5) -> affine(3) -> softmax_ce",
    "batchnorm": "input: 4\naffine(6) -> batchnorm(eps=0.001) -> relu -> affine(2) -> mse",
    "repeat": "input: 4\nrepeat(3) -> affine(2) -> mse",
    "sum": "input: 6\nsum(3) -> mse",
    "softmax_ce": "input: 4\naffine(3) -> softmax_ce",
    "sigmoid_ce": "input: 4\naffine(1) -> sigmoid_ce",
    "mse": "input: 4\ndropout -> mse",
    "all": "input: 4\nrepeat(2) -> affine(6) -> batchnorm -> leaky_relu -> dropout(0.1) -> "
           "sum(2) -> tanh -> matmul(4) -> relu -> sigmoid -> softmax -> affine(2) -> sigmoid_ce",
}


def _check(net: netc.runtime.network.Network, path: Path) -> None:
    onnx.checker.check_model(onnx.load(str(path)))
    x = np.random.default_rng(0).normal(size=(9, net.plan.input_width)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert session.get_inputs()[0].shape == ["batch", net.plan.input_width]
    got = session.run(["output"], {"input": x})[0]
    np.testing.assert_allclose(got, net.predict(x), atol=1e-5, rtol=0)


def _perturb(net: netc.runtime.network.Network) -> None:
    """Non-trivial batchnorm statistics and scales, so their export is really tested."""
    rng = np.random.default_rng(1)
    for key, array in [*net.buffers.items(), *net.params.items()]:
        if key.endswith(("running_var", "gamma")):
            array[...] = rng.uniform(0.5, 2.0, array.shape)
        elif key.endswith(("running_mean", "beta", ".b")):
            array[...] = rng.normal(size=array.shape)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_onnx_export_matches_predict_for_each_layer_kind(kind: str, tmp_path: Path) -> None:
    net = netc.compile(KINDS[kind])
    _perturb(net)
    net.export_onnx(tmp_path / f"{kind}.onnx")
    _check(net, tmp_path / f"{kind}.onnx")


def test_onnx_export_matches_a_trained_spiral_net(tmp_path: Path) -> None:
    from netc.runtime.data import load_dataset

    net = netc.load(SPIRAL)
    data = load_dataset("spiral")
    net.fit(data.x_train, data.t_train, epochs=20, batch_size=30, lr=1.0)
    net.export_onnx(tmp_path / "spiral.onnx")
    _check(net, tmp_path / "spiral.onnx")


def test_onnx_export_cli_uses_the_checkpoint(netc_run, spiral_checkpoint: Path,
                                             tmp_path: Path) -> None:
    done = netc_run("export", SPIRAL, "--checkpoint", spiral_checkpoint, "-o", "model.onnx")
    assert done.returncode == 0, done.stderr
    assert "model.onnx" in done.stdout
    net = netc.load(SPIRAL, checkpoint=spiral_checkpoint)
    untrained = netc.load(SPIRAL)
    assert not np.allclose(net.params["0.affine.W"], untrained.params["0.affine.W"])
    _check(net, tmp_path / "model.onnx")


def test_onnx_export_cli_without_checkpoint_warns(netc_run, tmp_path: Path) -> None:
    done = netc_run("export", SPIRAL)
    assert done.returncode == 0, done.stderr
    assert "untrained" in done.stderr
    _check(netc.load(SPIRAL), tmp_path / "spiral.onnx")


def test_onnx_export_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'netc\[onnx\]'"):
        netc.compile(KINDS["affine"]).export_onnx(tmp_path / "x.onnx")
    assert main(["export", str(SPIRAL), "-o", str(tmp_path / "x.onnx")]) == 1
    assert "ONNX export needs the optional extra" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
