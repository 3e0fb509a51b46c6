"""Shared fixtures for the data-stage tests: an isolated environment and synthetic IDX files."""

from __future__ import annotations

import gzip
import hashlib
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from netc.runtime.data import mnist


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No test may reach the real mirrors, the user's cache or a proxy: downloads are off unless a
    # test points NETC_MNIST_MIRRORS at its own loopback server.
    monkeypatch.setenv("NETC_MNIST_MIRRORS", "")
    monkeypatch.delenv("NETC_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array (magic 0x0803 for 3-D, 0x0801 for 1-D)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def synthetic_mnist(n_train: int = 4, n_test: int = 3, seed: int = 0) -> dict[str, bytes]:
    """Decompressed content of four small, well-formed MNIST-like IDX files."""
    rng = np.random.default_rng(seed)
    return {
        mnist.TRAIN_IMAGES: idx_bytes(rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)),
        mnist.TRAIN_LABELS: idx_bytes(rng.integers(0, 10, n_train, dtype=np.uint8)),
        mnist.TEST_IMAGES: idx_bytes(rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)),
        mnist.TEST_LABELS: idx_bytes(rng.integers(0, 10, n_test, dtype=np.uint8)),
    }


@pytest.fixture
def synthetic() -> dict[str, bytes]:
    return synthetic_mnist()


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, bytes]], None]:
    """Make the checksum table expect the given synthetic contents."""

    def apply(contents: dict[str, bytes]) -> None:
        for name, raw in contents.items():
            monkeypatch.setitem(mnist.SHA256, name, hashlib.sha256(raw).hexdigest())

    return apply


def write_mnist(folder: Path, contents: dict[str, bytes], *, gz: bool = True) -> Path:
    """Write the files into `folder`, gzipped (`<name>.gz`) or raw."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in contents.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return folder


@pytest.fixture
def make_mnist() -> Callable[..., Path]:
    return write_mnist


@pytest.fixture
def encode_idx() -> Callable[[np.ndarray], bytes]:
    return idx_bytes
