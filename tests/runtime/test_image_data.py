"""Image data from every entry point: `netc run`, `fit`, `predict`/`accuracy`, `.npz` files
and the standalone module take (N, C, H, W) images (or (N, C*H*W) rows, or (N, H, W) for one
channel) for an image input, with the same results; a shape the spec's input cannot take is a
`DataError` naming the file, the array, both shapes and the fix."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.datasets import load_mnist
from netc.errors import DataError
from netc.runtime.data import load_dataset

SMALL = "conv(2, 3) -> relu -> pool(2) -> flatten -> affine(3) -> softmax_ce"
MNIST_CONV = "conv(4, 5) -> relu -> pool(2) -> flatten -> affine(10) -> softmax_ce"


def _images(n: int = 12, shape: tuple[int, ...] = (1, 8, 8), seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)), rng.integers(0, 3, n)


def _spec(tmp_path: Path, data: str, body: str = SMALL, shape: str = "1x8x8",
          train: str = "epochs=2, batch_size=4, seed=0") -> Path:
    spec = tmp_path / "net.net"
    spec.write_text(f"data: {data}\ninput: {shape}\ntrain: {train}\n{body}\n")
    return spec


def _run(spec: Path, *extra: str) -> int:
    return main(["run", str(spec), "--quiet", *extra])


# --- predict / accuracy / fit: NCHW and flat rows give the same results -------------------------

def test_image_predict_accuracy_same_for_nchw_rows_and_one_channel():
    net = netc.compile(f"input: 1x8x8\n{SMALL}", dtype="float64")
    x, t = _images()
    y = net.predict(x)
    assert y.shape == (12, 3)
    assert np.array_equal(net.predict(x.reshape(12, 64)), y)
    assert np.array_equal(net.predict(x[:, 0]), y)  # (N, H, W): one channel
    assert net.accuracy(x, t) == net.accuracy(x.reshape(12, -1), t)
    assert net.loss(x, t) == net.loss(x.reshape(12, -1), t)


def test_image_predict_channel_order_is_nchw():
    """A flat row is read in (c, h, w) order, as PyTorch flattens NCHW: swapping two channels
    of the images changes the answer exactly as swapping those blocks of the rows does."""
    net = netc.compile(f"input: 2x4x4\n{SMALL}", dtype="float64")
    x, _ = _images(5, (2, 4, 4))
    swapped = x[:, ::-1]
    rows = x.reshape(5, 2, 16)[:, ::-1].reshape(5, 32)
    assert np.array_equal(net.predict(swapped), net.predict(rows))
    assert not np.allclose(net.predict(swapped), net.predict(x))


def test_image_fit_same_for_nchw_and_rows():
    x, t = _images(16)
    runs = []
    for data in (x, x.reshape(16, -1)):
        net = netc.compile(f"input: 1x8x8\n{SMALL}", dtype="float64", seed=3)
        history = net.fit(data, t, epochs=2, batch_size=4, seed=1, validation_data=(x, t),
                          verbose=0)
        runs.append((history[-1]["train_loss"], history[-1]["val_loss"],
                     {k: v.copy() for k, v in net.params.items()}))
    assert runs[0][:2] == runs[1][:2]
    assert all(np.array_equal(runs[0][2][k], runs[1][2][k]) for k in runs[0][2])


@pytest.mark.parametrize(("shape", "words"), [
    ((3, 8, 8), "the inputs hold (N, 3, 8, 8) images, but the spec's input is 1x8x8: "
                "write `input: 3x8x8`"),
    ((1, 6, 8), "the inputs hold (N, 1, 6, 8) images, but the spec's input is 1x8x8: "
                "write `input: 1x6x8`"),
    ((6, 8), "the inputs hold (N, 6, 8) images (one channel), but the spec's input is 1x8x8: "
             "write `input: 1x6x8`"),
    ((8, 8, 1), "the inputs hold (N, 8, 8, 1) images with the channels last, but the spec's "
                "input 1x8x8 is channels first: transpose them to (N, 1, 8, 8) with "
                "x.transpose(0, 3, 1, 2)"),
    ((1, 1, 8, 8), "the inputs hold samples of shape (1, 1, 8, 8), but the spec's input is "
                   "1x8x8: pass (N, 1, 8, 8) images or (N, 64) rows"),
])
def test_image_predict_wrong_shape_names_both_shapes_and_fix(shape, words):
    net = netc.compile(f"input: 1x8x8\n{SMALL}")
    x = np.zeros((2, *shape))
    for call in (net.predict, lambda a: net.fit(a, [0, 1], epochs=1, verbose=0)):
        with pytest.raises(DataError) as e:
            call(x)
        assert str(e.value) == words


def test_image_predict_wrong_width_rows_name_the_image_shape():
    net = netc.compile(f"input: 1x8x8\n{SMALL}")
    with pytest.raises(DataError, match=r"takes 64 \(the input of conv at <string>:2:1, "
                                         r"images 1x8x8\)"):
        net.predict(np.zeros((2, 65)))


def test_image_predict_uint8_follows_flat_rule():
    """uint8 images are raw pixels as flat uint8 rows are: scaled by 1/255 for `data: mnist`,
    refused otherwise."""
    raw = np.random.default_rng(0).integers(0, 256, (3, 1, 8, 8), dtype=np.uint8)
    net = netc.compile(f"data: mnist\ninput: 1x8x8\n{SMALL}", dtype="float64")
    assert np.array_equal(net.predict(raw), net.predict(raw.reshape(3, -1) / 255.0))
    other = netc.compile(f"input: 1x8x8\n{SMALL}")
    with pytest.raises(DataError, match="inputs are uint8"):
        other.predict(raw)


# --- .npz files: (N, C, H, W) and (N, H, W) ---------------------------------------------------

def test_image_npz_nchw_and_hw_load_as_the_same_rows(tmp_path):
    x, t = _images()
    np.savez(tmp_path / "nchw.npz", x_train=x, t_train=t, x_test=x[:4], t_test=t[:4])
    np.savez(tmp_path / "hw.npz", x_train=x[:, 0], t_train=t, x_test=x[:4, 0], t_test=t[:4])
    a = load_dataset(str(tmp_path / "nchw.npz"), input_shape=(1, 8, 8))
    b = load_dataset(str(tmp_path / "hw.npz"), input_shape=(1, 8, 8))
    assert a.x_train.shape == (12, 64)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.x_test, b.x_test)
    assert np.array_equal(a.x_train, x.reshape(12, -1))


def test_image_npz_run_nchw_and_hw_train_alike(tmp_path, capsys):
    x, t = _images()
    losses = []
    for name, data in (("nchw", x), ("hw", x[:, 0]), ("rows", x.reshape(12, -1))):
        np.savez(tmp_path / f"{name}.npz", x_train=data, t_train=t, x_test=data, t_test=t)
        metrics = tmp_path / f"{name}.json"
        spec = _spec(tmp_path, f'"{tmp_path / name}.npz"')
        assert _run(spec, "--metrics-json", str(metrics)) == 0
        history = json.loads(metrics.read_text())["history"]
        losses.append([(h["train_loss"], h["test_loss"]) for h in history])
    assert len(losses[0]) == 2 and losses[0] == losses[1] == losses[2]


@pytest.mark.parametrize(("array", "shape", "words"), [
    ("x_train", (3, 32, 32), "x_train holds (N, 3, 32, 32) images, but the spec's input is "
                             "1x8x8: write `input: 3x32x32`"),
    ("x_train", (9, 9), "x_train holds (N, 9, 9) images (one channel), but the spec's input "
                        "is 1x8x8: write `input: 1x9x9`"),
    ("x_train", (65,), "x_train holds 65 values per sample, but the spec's input 1x8x8 takes "
                       "64 (pass (N, 1, 8, 8) images or (N, 64) rows)"),
    ("x_test", (2, 8, 8), "x_test holds (N, 2, 8, 8) images, but the spec's input is 1x8x8: "
                          "write `input: 2x8x8`"),
])
def test_image_npz_shape_mismatch_names_file_array_shapes_and_fix(tmp_path, capsys, array,
                                                                  shape, words):
    x, t = _images()
    arrays = {"x_train": x, "t_train": t, "x_test": x, "t_test": t}
    arrays[array] = np.zeros((12, *shape))
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    assert _run(_spec(tmp_path, f'"{path}"')) == 1
    err = capsys.readouterr().err
    assert f"{path}: {words}" in err
    assert "Traceback" not in err


def test_image_npz_uint8_follows_flat_rule(tmp_path):
    """uint8 image files load as flat uint8 files do: the values as they are, cast."""
    raw = np.random.default_rng(0).integers(0, 256, (4, 1, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "img.npz", x_train=raw, t_train=np.arange(4) % 3)
    np.savez(tmp_path / "flat.npz", x_train=raw.reshape(4, -1), t_train=np.arange(4) % 3)
    a = load_dataset(str(tmp_path / "img.npz"), input_shape=(1, 8, 8))
    b = load_dataset(str(tmp_path / "flat.npz"), input_shape=(1, 8, 8))
    assert np.array_equal(a.x_train, b.x_train) and a.x_train.max() > 1


def test_image_mnist_refused_for_another_image_shape_before_loading(tmp_path, capsys):
    """No MNIST is needed (nor downloaded): the shape is refused first."""
    spec = _spec(tmp_path, "mnist", shape="3x32x32")
    assert _run(spec, "--data-dir", str(tmp_path / "none")) == 1
    assert ("mnist holds (N, 1, 28, 28) images, but the spec's input is 3x32x32: write "
            "`input: 1x28x28`") in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


# --- the standalone module -----------------------------------------------------------------

def test_image_standalone_module_takes_nchw_and_rows(tmp_path):
    spec = tmp_path / "img.net"
    spec.write_text(f"input: 2x6x6\n{SMALL}\n")
    module = tmp_path / "img_net.py"
    assert main(["compile", str(spec), "--emit", "python", "-o", str(module)]) == 0
    loader = importlib.util.spec_from_file_location("img_net", module)
    mod = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(mod)
    net = netc.load(spec, dtype="float64")
    emitted = mod.Net(dict(net.params), "float64")
    x, t = _images(5, (2, 6, 6))
    y = net.predict(x)
    assert np.allclose(emitted.predict(x), y, rtol=0, atol=1e-12)
    assert np.allclose(emitted.predict(x.reshape(5, -1)), y, rtol=0, atol=1e-12)
    assert emitted.loss(x, t) == emitted.loss(x.reshape(5, -1), t)


# --- real MNIST as images ------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_images(mnist_dir: Path):
    return load_mnist(flatten=False, data_dir=mnist_dir, progress=False)


def test_image_mnist_netc_run_trains_a_conv_net(tmp_path, mnist_dir, capsys):
    spec = _spec(tmp_path, "mnist", MNIST_CONV, "1x28x28",
                 "epochs=3, batch_size=50, seed=0, subset=500")
    metrics = tmp_path / "m.json"
    assert _run(spec, "--epochs", "1", "--data-dir", str(mnist_dir),
                "--metrics-json", str(metrics)) == 0
    (last,) = json.loads(metrics.read_text())["history"]
    assert last["epoch"] == 1 and last["test_acc"] > 0.2  # 10 steps from 10 % chance


def test_image_mnist_fit_on_nchw_images(mnist_images):
    (x, t), (xt, tt) = mnist_images
    assert x.shape[1:] == (1, 28, 28) and 0 <= x.min() and x.max() <= 1
    net = netc.compile(f"input: 1x28x28\n{MNIST_CONV}", seed=0)
    net.fit(x[:600], t[:600], epochs=2, batch_size=50, optimizer="adam", lr=0.003,
            seed=0, verbose=0)
    accuracy = net.accuracy(xt[:1000], tt[:1000])
    assert accuracy > 0.6  # 24 steps from 10 % chance
    assert accuracy == net.accuracy(xt[:1000].reshape(1000, -1), tt[:1000])
