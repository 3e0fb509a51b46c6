"""`netc.datasets` (the data API for Python users) and raw uint8 pixels at the input boundary.

The loaders must return exactly the arrays `netc run` trains on; uint8 images given to a
network whose spec says `data: mnist` are scaled as training scales them, and refused by any
other network. MNIST here is synthetic (see conftest.py); the real files are used by
tests/test_readme.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.compiler import spec as compiler_spec
from netc.datasets import load_csv, load_mnist, load_npz, load_spiral
from netc.errors import DataError, SpecValidationError
from netc.runtime import data as runtime_data
from netc.runtime.data import load_dataset, mnist

MNIST_NET = "data: mnist\naffine(784, 6) -> relu -> affine(10) -> softmax_ce\n"


@pytest.fixture
def digits(tmp_path: Path, synthetic: dict[str, bytes], trust: Callable,
           make_mnist: Callable) -> Path:
    """A folder of synthetic MNIST files (4 training, 3 test images) the checksums accept."""
    trust(synthetic)
    return make_mnist(tmp_path / "mnist", synthetic)


def _raw(synthetic: dict[str, bytes], name: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(synthetic[name][8 + 4 * (len(shape) - 1):], np.uint8).reshape(shape)


# ---- netc.datasets -----------------------------------------------------------------------


def test_datasets_load_mnist_defaults_match_what_run_trains_on(digits: Path) -> None:
    (x, t), (xt, tt) = load_mnist(data_dir=digits)
    assert x.shape == (4, 784) and xt.shape == (3, 784)
    assert x.dtype == np.float32 and t.dtype == np.int64 and t.shape == (4,)
    trained = load_dataset("mnist", data_dir=digits, dtype="float32")
    assert np.array_equal(x, trained.x_train) and np.array_equal(xt, trained.x_test)
    assert np.array_equal(t, trained.t_train) and np.array_equal(tt, trained.t_test)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_datasets_load_mnist_raw_images_and_one_hot_as_dlfs(
        digits: Path, synthetic: dict[str, bytes]) -> None:
    (x, t), (xt, tt) = load_mnist(normalize=False, flatten=False, one_hot=True,
                                  data_dir=digits)
    assert x.dtype == np.uint8 and x.shape == (4, 1, 28, 28) and xt.shape == (3, 1, 28, 28)
    assert np.array_equal(x[:, 0], _raw(synthetic, mnist.TRAIN_IMAGES, (4, 28, 28)))
    labels = _raw(synthetic, mnist.TRAIN_LABELS, (4,))
    assert t.shape == (4, 10) and t.dtype == np.float32
    assert np.array_equal(t.argmax(axis=1), labels) and np.array_equal(t.sum(axis=1), [1] * 4)
    (_, t_book), _ = load_mnist(data_dir=digits, one_hot_label=True)  # the book's keyword
    assert np.array_equal(t_book, t)


def test_datasets_load_mnist_reads_netc_data_dir_and_gives_writable_copies(
        digits: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETC_DATA_DIR", str(digits))
    (x, _), _ = load_mnist(normalize=False)
    x[:] = 7  # must not reach the per-process cache
    (again, _), _ = load_mnist(normalize=False)
    assert (again != 7).any()


def test_datasets_load_mnist_missing_files_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="MNIST files not found in .*empty"):
        load_mnist(data_dir=tmp_path / "empty", progress=False)


def test_datasets_load_spiral_is_the_run_data_for_the_seed() -> None:
    (x, t), test = load_spiral()
    assert test == (None, None)
    assert x.shape == (300, 2) and x.dtype == np.float32 and t.dtype == np.int64
    assert np.array_equal(x, load_dataset("spiral", seed=0).x_train.astype(np.float32))
    (other, _), _ = load_spiral(seed=3)
    assert not np.array_equal(other, x)


def test_datasets_load_npz_and_csv_return_the_pairs(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.ones((4, 2)), t_train=np.arange(4) % 2,
             x_test=np.zeros((2, 2)), t_test=np.array([1, 0]))
    (x, t), (xt, tt) = load_npz(path)
    assert x.dtype == np.float32 and x.shape == (4, 2) and list(tt) == [1, 0]
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n0.5,1,2\n1.5,2,0\n", encoding="utf-8")
    (x, t), test = load_csv(csv)
    assert x.tolist() == [[0.5, 1.0], [1.5, 2.0]] and t.tolist() == [2, 0]
    assert test == (None, None)


def test_datasets_loader_refuses_another_file_type(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"d\.csv: load_npz reads \.npz files"):
        load_npz(tmp_path / "d.csv")


def test_datasets_is_an_attribute_of_netc() -> None:
    assert netc.datasets.load_mnist is load_mnist and "datasets" in netc.__all__


# ---- `data:` values ----------------------------------------------------------------------


def test_datasets_compiler_and_runtime_agree_on_the_data_names() -> None:
    assert compiler_spec.DATA_NAMES == runtime_data.NAMES
    assert compiler_spec.DATA_SUFFIXES == runtime_data.SUFFIXES


@pytest.mark.parametrize("value", ["spiral", "mnist", '"d.npz"', '"sub/D.CSV"'])
def test_datasets_check_accepts_known_data(value: str) -> None:
    assert netc.plan(f"data: {value}\naffine(4, 3) -> softmax_ce").run.data == value.strip('"')


def test_datasets_check_refuses_a_misspelt_data_name() -> None:
    with pytest.raises(SpecValidationError) as info:
        netc.plan("data: minst\naffine(784, 10) -> softmax_ce")
    d = info.value.diagnostics[0]
    assert d.code == "unknown_data" and d.hint == "did you mean 'mnist'?"
    assert (d.span.line, d.span.column) == (1, 7)


# ---- raw uint8 pixels ---------------------------------------------------------------------


def test_uint8_images_to_an_mnist_network_are_scaled_as_in_training(digits: Path) -> None:
    net = netc.compile(MNIST_NET, seed=1)
    (raw, t), _ = load_mnist(normalize=False, data_dir=digits)
    (x, _), _ = load_mnist(data_dir=digits)
    assert np.array_equal(net.predict(raw), net.predict(x))
    assert np.array_equal(net.predict(raw.reshape(-1, 1, 28, 28)), net.predict(x))
    twin = netc.compile(MNIST_NET, seed=1)
    h_raw = net.fit(raw, t, epochs=2, batch_size=2, seed=0)
    h_float = twin.fit(x, t, epochs=2, batch_size=2, seed=0)
    assert [r["train_loss"] for r in h_raw] == [r["train_loss"] for r in h_float]


def test_uint8_inputs_to_another_network_are_refused_with_the_fix() -> None:
    net = netc.compile("affine(4, 3) -> softmax_ce", seed=0)
    with pytest.raises(DataError, match=r"uint8 .* `data: mnist` \(this spec's data is "
                                        r"spiral\)\n  hint: pass floats .* x / 255"):
        net.predict(np.zeros((2, 4), np.uint8))
    with pytest.raises(DataError, match="uint8"):
        net.fit(np.zeros((2, 4), np.uint8), [0, 1], epochs=1)
    assert net.predict(np.zeros((2, 4), np.int64)).shape == (2, 3)  # only uint8 is pixels


def test_predict_cli_scales_uint8_mnist_images(digits: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "m.net"
    spec.write_text(MNIST_NET, encoding="utf-8")
    net = netc.load(spec, seed=2)
    (x, t), _ = load_mnist(data_dir=digits)
    net.fit(x, t, epochs=3, batch_size=2, optimizer="adam", lr=0.01, seed=0)
    ck = tmp_path / "m.ckpt.npz"
    net.save_checkpoint(ck)
    (raw, _), _ = load_mnist(normalize=False, flatten=False, data_dir=digits)
    outputs = {}
    for name, images in (("raw", raw), ("float", x)):
        path = tmp_path / f"{name}.npz"
        np.savez(path, x=images)
        capsys.readouterr()
        assert main(["predict", str(spec), "--checkpoint", str(ck), str(path)]) == 0
        outputs[name] = capsys.readouterr().out
    assert outputs["raw"] == outputs["float"]
    assert "1.000000" not in outputs["raw"]  # before: raw pixels made every answer certain
