"""The command line and the API on a small convolutional spec, end to end: conv with padding,
a 3x2 kernel with a 1x2 stride, max and average pooling, batchnorm per channel and dropout on
images, on learnable 2x8x8 images from a `.npz` file. `check` shows every node's image shape,
`run` learns, a resumed run, a Ctrl-C'd run, the standalone module and a second run with the
same seed end with the same bits as a straight `fit`, `time` lists the conv and pool nodes,
`gradcheck` passes, `fmt` keeps the pairs and the comments, `lint` is quiet, and the ONNX
export of the trained net equals `predict` under onnxruntime."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.runtime.checkpoint import load_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import missing  # noqa: E402 (a plain import: --import-mode=importlib)

CONV = """\
# A small conv net on 2x8x8 images.
data: "images.npz"
input: 2x8x8
optimizer: adam(lr=0.01)
train: epochs=4, batch_size=30, seed=0

conv(4, 3, pad=1) -> relu -> pool(2) -> batchnorm ->  # per channel on 4x4x4
conv(6, 3x2, stride=1x2, pad=1x0) -> tanh -> pool(2, mode="avg") ->  # rows and columns differ
flatten -> dropout(0.2) -> affine(3) -> softmax_ce
"""
# (op as check prints it, output shape) in order; (8 + 2 - 3) / 1 + 1 = 8, then
# (4 + 2 - 3) / 1 + 1 = 4 rows and (4 - 2) / 2 + 1 = 2 columns, then pooled 2x1.
NODES = [("conv(4, 3, pad=1)", (4, 8, 8)), ("relu", (4, 8, 8)), ("pool(2)", (4, 4, 4)),
         ("batchnorm", (4, 4, 4)), ("conv(6, 3x2, stride=1x2, pad=1x0)", (6, 4, 2)),
         ("tanh", (6, 4, 2)), ('pool(2, mode="avg")', (6, 2, 1)), ("flatten", (12,)),
         ("dropout", (12,)), ("affine", (3,)), ("softmax_ce", (3,))]
COMMENTS = ["# A small conv net on 2x8x8 images.", "# per channel on 4x4x4",
            "# rows and columns differ"]
EPOCHS, STEPS = 4, 5  # 150 training images in batches of 30


def images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 2x8x8 images of three classes, each a bright shape at its own place: a vertical
    bar in channel 0, a horizontal bar in channel 1, a square in both channels."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, n)
    x = rng.normal(0.0, 0.5, (n, 2, 8, 8))
    x[t == 0, 0, 2:6, 1:3] += 1.5
    x[t == 1, 1, 1:3, 2:6] += 1.5
    x[t == 2, :, 5:7, 5:7] += 1.5
    return x, t


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the spec's relative data path, and default outputs, land here
    (x, t), (xt, tt) = images(150, 0), images(60, 1)
    np.savez(tmp_path / "images.npz", x_train=x, t_train=t, x_test=xt, t_test=tt)
    path = tmp_path / "conv.net"
    path.write_text(CONV)
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def train_data(spec: Path) -> tuple[np.ndarray, np.ndarray]:
    """The training images exactly as `netc run` reads them (float32, NCHW)."""
    (x, t), _ = netc.datasets.load_npz(spec.parent / "images.npz", flatten=False)
    assert x.shape == (150, 2, 8, 8) and x.dtype == np.float32
    return x, t


def history(path: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "seconds"}
            for r in json.loads(path.read_text())["history"]]


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_the_spec_is_the_net_the_tests_assume(spec: Path) -> None:
    plan = netc.plan_file(spec)
    assert plan.input_shape == (2, 8, 8)
    assert [(lp.op, lp.shape) for lp in plan.layers] == [
        (re.match(r"\w+", op).group(), shape) for op, shape in NODES]
    net = netc.load(spec)
    assert net.params["0.conv.W"].shape == (4, 2, 3, 3)  # (filters, channels, kh, kw)
    assert net.params["4.conv.W"].shape == (6, 4, 3, 2)
    assert net.params["4.conv.b"].shape == (6,)


def test_check_prints_every_nodes_image_shape(spec: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "check", spec)
    assert code == 0 and err == ""
    rows = [line for line in out.splitlines() if re.match(r"\s*(\d+|input)\s", line)]
    assert "input" in rows[0] and "(batch, 2, 8, 8)" in rows[0]
    assert len(rows) == 1 + len(NODES)
    for i, (row, (op, shape)) in enumerate(zip(rows[1:], NODES, strict=True)):
        assert row.split()[0] == str(i)
        assert row.split(None, 1)[1].startswith(op.replace('"', "")), row
        assert f"(batch, {', '.join(map(str, shape))})" in row, row
    assert "parameters: 273 " in out  # 72+4 + 4+4 + 144+6 + 36+3


def test_run_learns_the_images(spec: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    m = tmp_path / "m.json"
    code, out, err = cli(capsys, "run", spec, "--metrics-json", m, "--quiet")
    assert code == 0, err
    assert out.startswith(f"trained {EPOCHS} epochs of images.npz with adam")
    rows = history(m)
    assert len(rows) == EPOCHS
    assert rows[-1]["train_loss"] < 0.7 * rows[0]["train_loss"]
    assert rows[-1]["test_acc"] >= 0.8, rows  # chance is a third


def test_same_seed_trains_to_the_same_bits_twice(spec: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    x, t = train_data(spec)
    first, second = netc.load(spec), netc.load(spec)
    first.fit(x, t, verbose=0)
    second.fit(x, t, verbose=0)
    assert_same(dict(first.params), dict(second.params))
    assert_same(dict(first.buffers), dict(second.buffers))
    other = netc.load(spec, seed=1)
    other.fit(x, t, verbose=0)
    assert not np.array_equal(other.params["0.conv.W"], first.params["0.conv.W"])
    # `netc run` trains the same net as `fit`, from the spec's settings.
    ckpt = tmp_path / "run.npz"
    assert cli(capsys, "run", spec, "--checkpoint", ckpt, "--quiet")[0] == 0
    assert_same(load_checkpoint(ckpt).params, dict(first.params))


def test_standalone_module_trains_to_the_same_bits_as_fit(
        spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = tmp_path / "conv_net.py"
    code, _, err = cli(capsys, "compile", spec, "--emit", "python", "-o", module)
    assert code == 0, err
    saved = tmp_path / "trained.npz"
    run = subprocess.run([sys.executable, str(module), "--data", "images.npz", "--save",
                          str(saved)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("epoch ") == EPOCHS
    net = netc.load(spec)
    net.fit(*train_data(spec), verbose=0)  # every setting from the spec, as the module takes them
    with np.load(saved) as d:
        assert_same(dict(d), dict(net.params))


def test_checkpoint_and_resume_are_bit_exact(spec: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    full, half, rest = tmp_path / "full.npz", tmp_path / "half.npz", tmp_path / "rest.npz"
    mf, mr = tmp_path / "full.json", tmp_path / "rest.json"
    assert cli(capsys, "run", spec, "--checkpoint", full, "--metrics-json", mf, "--quiet")[0] == 0
    assert cli(capsys, "run", spec, "--epochs", 2, "--checkpoint", half, "--quiet")[0] == 0
    code, out, err = cli(capsys, "run", spec, "--epochs", EPOCHS, "--resume", half,
                         "--checkpoint", rest, "--metrics-json", mr, "--quiet")
    assert code == 0, err
    assert out.startswith(f"trained {EPOCHS} epochs (resumed after epoch 2)")
    assert history(mr) == history(mf)
    a, b = load_checkpoint(full), load_checkpoint(rest)
    assert_same(a.params, b.params)
    assert_same(a.buffers, b.buffers)  # the batchnorm's running statistics, one per channel
    assert sorted(a.buffers) == ["3.batchnorm.running_mean", "3.batchnorm.running_var"]
    assert a.buffers["3.batchnorm.running_var"].shape == (4,)
    assert_same(a.optimizer, b.optimizer)  # adam's moments
    for key in ("epoch", "step", "updates", "shuffle_rng", "net_rng", "hyper"):
        assert a.meta[key] == b.meta[key], key


def test_ctrl_c_mid_epoch_resumes_bit_exact(spec: Path, tmp_path: Path) -> None:
    x, t = train_data(spec)
    straight = netc.load(spec)
    straight.fit(x, t, epochs=3, verbose=0)
    saved = tmp_path / "interrupted.npz"

    def ctrl_c(epoch: int, step: int, n: int, loss: float) -> None:
        assert n == STEPS
        if (epoch, step) == (2, 3):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        netc.load(spec).fit(x, t, epochs=3, verbose=0, interrupt_checkpoint=saved,
                            on_step=ctrl_c)
    resumed = netc.load(spec, seed=7)  # the checkpoint, not the seed, decides
    resumed.fit(x, t, epochs=3, verbose=0, resume=saved)
    assert_same(dict(resumed.params), dict(straight.params))
    assert_same(dict(resumed.buffers), dict(straight.buffers))


def test_time_lists_every_node_with_the_convs_and_pools(
        spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "time", spec, "--steps", 2)
    assert code == 0, err
    lines = out.splitlines()
    labels = [line.split()[0] for line in lines[1:-1]]
    ops = [re.match(r"\w+", op).group() for op, _ in NODES]
    assert labels == ["gather", *[f"{i}.{op}" for i, op in enumerate(ops)], "update"]
    for label in ("0.conv", "2.pool", "4.conv", "6.pool"):
        row = next(line for line in lines if line.startswith(label + " "))
        assert re.search(r"\d+\.\d+ms\s+\d+\.\d+ms\s+\d+\.\d+%$", row), row
    assert "for a batch of 30 " in lines[-1]


def test_gradcheck_passes_on_the_conv_net(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "gradcheck", spec)
    assert code == 0, out + err
    params = list(netc.load(spec).params)
    assert {"0.conv.W", "0.conv.b", "3.batchnorm.gamma", "4.conv.W"} <= set(params)
    for k in params:
        assert re.search(rf"^{re.escape(k)} .* ok$", out, re.M), k
    n = len(params) + 1  # and the gradient with respect to the input
    assert f"{n} of {n} within" in out


def test_fmt_round_trips_keeps_the_pairs_and_comments(
        spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = netc.plan_file(spec).spec_hash
    code, _, err = cli(capsys, "fmt", spec)
    assert code == 0, err
    once = spec.read_text()
    assert once != CONV
    assert "conv(6, 3x2, stride=1x2, pad=1x0)" in once  # pairs stay pairs, in their order
    assert 'pool(2, mode="avg")' in once and "input: 2x8x8" in once
    for comment in COMMENTS:
        assert comment in once, comment
    assert netc.plan_file(spec).spec_hash == before
    assert cli(capsys, "fmt", "--check", spec)[0] == 0
    assert cli(capsys, "fmt", spec)[0] == 0
    assert spec.read_text() == once


def test_lint_is_quiet_on_the_conv_net(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "lint", spec, "--strict")
    assert code == 0, out + err
    assert out == f"{spec}: no warnings\n"
    code, out, _ = cli(capsys, "lint", spec, "--json")
    assert code == 0
    assert json.loads(out) == {"ok": True, "path": str(spec), "diagnostics": []}


def test_onnx_export_of_the_trained_net_equals_predict(
        spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        missing("onnx or onnxruntime not installed (pip install -e '.[onnx]')")
    ckpt, model = tmp_path / "trained.npz", tmp_path / "conv.onnx"
    assert cli(capsys, "run", spec, "--checkpoint", ckpt, "--quiet")[0] == 0
    code, out, err = cli(capsys, "export", spec, "--checkpoint", ckpt, "-o", model)
    assert code == 0, err
    assert "(batch, 2, 8, 8)" in out
    graph = onnx.load(str(model)).graph
    assert [n.op_type for n in graph.node] == [
        "Conv", "Relu", "MaxPool", "BatchNormalization", "Conv", "Tanh", "AveragePool",
        "Flatten", "Gemm", "Softmax"]
    net = netc.load(spec, checkpoint=ckpt)
    assert np.abs(net.buffers["3.batchnorm.running_mean"]).max() > 0  # trained statistics
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    _, (xt, tt) = netc.datasets.load_npz(spec.parent / "images.npz", flatten=False)
    got = session.run(["output"], {"input": xt.astype(np.float32)})[0]
    np.testing.assert_allclose(got, net.predict(xt), atol=1e-5, rtol=1e-4)
    assert np.mean(got.argmax(axis=1) == tt) == net.accuracy(xt, tt) >= 0.8


def test_one_epoch_of_the_shipped_simple_convnet_on_mnist(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path,
                                                          mnist_dir: Path) -> None:
    # The real thing, once: DLFS-1's SimpleConvNet on real MNIST images (1x28x28) for one
    # epoch; the full 20-epoch figure is in the README (98.94 %).
    monkeypatch.setenv("NETC_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("NETC_MNIST_MIRRORS", "")  # the files must be there; never download
    spec = Path(__file__).resolve().parents[2] / "specs" / "mnist_simple_convnet.net"
    m = tmp_path / "m.json"
    code, out, err = cli(capsys, "run", spec, "--epochs", 1, "--metrics-json", m, "--quiet")
    assert code == 0, err
    (rec,) = history(m)
    assert rec["test_acc"] >= 0.975, rec  # 98.18 % measured
