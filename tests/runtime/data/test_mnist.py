"""MNIST: the IDX reader on good and bad files, local loading, and the real data set."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from netc.errors import DataError
from netc.runtime.data import Dataset, load_dataset, mnist
from netc.runtime.data.mnist import read_mnist_file

# The real files are found by the `mnist_dir` fixture (tests/conftest.py): a skip with the
# reason in a bare clone, a failure under CI.
needs_real = pytest.mark.usefixtures("mnist_dir")


@pytest.fixture(scope="module")
def real(mnist_dir: Path) -> Dataset:
    return load_dataset("mnist", data_dir=mnist_dir, progress=False)


def test_read_mnist_file_reads_raw_and_gzipped(
    tmp_path: Path, encode_idx: Callable[[np.ndarray], bytes]
) -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(2, 28, 28)
    raw = tmp_path / "x-idx3-ubyte"
    raw.write_bytes(encode_idx(images))
    gz = tmp_path / "y-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(encode_idx(images)))
    assert np.array_equal(read_mnist_file(raw, verify=False), images)
    assert np.array_equal(read_mnist_file(gz, verify=False), images)


def test_read_mnist_file_truncated_names_items_and_bytes(
    tmp_path: Path, encode_idx: Callable[[np.ndarray], bytes]
) -> None:
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(encode_idx(np.zeros(5, dtype=np.uint8))[:-2])
    with pytest.raises(DataError, match="truncated: header says 5 items, file holds 11 bytes") as e:
        read_mnist_file(path, verify=False)
    assert str(path) in str(e.value)


def test_read_mnist_file_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataError, match="truncated"):
        read_mnist_file(path, verify=False)


def test_read_mnist_file_trailing_bytes_are_rejected(
    tmp_path: Path, encode_idx: Callable[[np.ndarray], bytes]
) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(encode_idx(np.zeros(5, dtype=np.uint8)) + b"xx")
    with pytest.raises(DataError, match="2 unexpected bytes"):
        read_mnist_file(path, verify=False)


def test_read_mnist_file_wrong_magic(
    tmp_path: Path, encode_idx: Callable[[np.ndarray], bytes]
) -> None:
    # A labels file where images are expected (the name says idx3).
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(encode_idx(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(DataError, match="magic number is 0x00000801, expected 0x00000803"):
        read_mnist_file(path, verify=False)


@pytest.mark.parametrize(
    "payload",
    [b"not gzip at all", gzip.compress(b"\0" * 4000)[:30]],
    ids=["not-gzip", "cut-short"],
)
def test_read_mnist_file_corrupt_gzip(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(payload)
    with pytest.raises(DataError, match="corrupt gzip") as e:
        read_mnist_file(path, verify=False)
    assert str(path) in str(e.value)


def test_read_mnist_file_checksum_mismatch(
    tmp_path: Path, encode_idx: Callable[[np.ndarray], bytes]
) -> None:
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(encode_idx(np.zeros(5, dtype=np.uint8))))
    with pytest.raises(DataError, match="corrupt.*not match the SHA-256 of the real MNIST") as e:
        read_mnist_file(path)
    assert str(path) in str(e.value)


def test_read_mnist_file_verify_rejects_unknown_names(tmp_path: Path) -> None:
    path = tmp_path / "digits-idx1-ubyte"
    path.write_bytes(b"\0\0\x08\x01\0\0\0\0")
    with pytest.raises(DataError, match="not one of the four MNIST files"):
        read_mnist_file(path)


def test_load_mnist_local_synthetic_files(
    tmp_path: Path, synthetic: dict[str, bytes], trust: Callable, make_mnist: Callable
) -> None:
    trust(synthetic)
    folder = make_mnist(tmp_path / "m", synthetic, gz=False)
    d = load_dataset("mnist", data_dir=folder, progress=False)
    assert d.x_train.shape == (4, 784) and d.x_test.shape == (3, 784)
    assert d.x_train.dtype == np.float64 and d.t_train.dtype == np.int64
    assert d.n_classes == 10 and d.source == str(folder)
    expected = np.frombuffer(synthetic[mnist.TRAIN_IMAGES][16:], dtype=np.uint8) / 255.0
    assert np.array_equal(d.x_train.ravel(), expected)
    shaped = load_dataset("mnist", data_dir=folder, flatten=False)
    assert shaped.x_train.shape == (4, 1, 28, 28) and shaped.x_test.shape == (3, 1, 28, 28)


def test_load_mnist_returns_fresh_arrays(
    tmp_path: Path, synthetic: dict[str, bytes], trust: Callable, make_mnist: Callable
) -> None:
    trust(synthetic)
    folder = make_mnist(tmp_path / "m", synthetic)
    first = load_dataset("mnist", data_dir=folder)
    first.x_train[:] = -1.0
    first.t_train[:] = -1
    again = load_dataset("mnist", data_dir=folder)
    assert again.x_train.min() >= 0.0 and again.t_train.min() >= 0


def test_load_mnist_label_count_mismatch(
    tmp_path: Path,
    synthetic: dict[str, bytes],
    trust: Callable,
    make_mnist: Callable,
    encode_idx: Callable,
) -> None:
    contents = dict(synthetic)
    contents[mnist.TEST_LABELS] = encode_idx(np.zeros(2, dtype=np.uint8))
    trust(contents)
    folder = make_mnist(tmp_path / "m", contents)
    with pytest.raises(DataError, match="holds 2 labels but .* holds 3 images"):
        load_dataset("mnist", data_dir=folder)


def test_load_mnist_data_dir_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(DataError, match="is not a directory"):
        load_dataset("mnist", data_dir=path)


@needs_real
def test_mnist_real_shapes_and_range(real: Dataset) -> None:
    assert real.x_train.shape == (60000, 784) and real.x_test.shape == (10000, 784)
    assert real.t_train.shape == (60000,) and real.t_test.shape == (10000,)
    assert real.x_train.dtype == np.float64 and real.t_train.dtype == np.int64
    assert real.x_train.min() == 0.0 and real.x_train.max() == 1.0
    assert real.x_test.min() == 0.0 and real.x_test.max() == 1.0
    assert real.n_classes == 10 and real.name == "mnist"


@needs_real
def test_mnist_real_label_counts(real: Dataset) -> None:
    train, test = np.bincount(real.t_train), np.bincount(real.t_test)
    assert len(train) == 10 and len(test) == 10
    assert train.sum() == 60000 and test.sum() == 10000
    assert train[1] == 6742 and test[0] == 980  # the published per-digit counts


def test_mnist_real_unflattened(real: Dataset, mnist_dir: Path) -> None:
    shaped = load_dataset("mnist", data_dir=mnist_dir, flatten=False, progress=False)
    assert shaped.x_train.shape == (60000, 1, 28, 28)
    assert np.array_equal(shaped.x_train.reshape(60000, -1), real.x_train)


def test_mnist_real_decompressed_copy_passes_checksum(tmp_path: Path, mnist_dir: Path) -> None:
    name = mnist.TEST_LABELS
    source = mnist_dir / f"{name}.gz"
    if not source.is_file():
        source = mnist_dir / name
    copy = tmp_path / name
    copy.write_bytes(gzip.decompress(source.read_bytes()) if source.suffix else source.read_bytes())
    labels = read_mnist_file(copy)
    assert labels.shape == (10000,) and labels.max() == 9
