"""Fixtures for what lives outside the repository: real MNIST and `../shared`.

A fresh clone with nothing beside it must pass the README's test command, so a test that needs
these skips with the reason; under CI (`CI` set) the layout is promised, so a missing piece is
a failure, never a silent skip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MNIST_DIR = Path(os.environ.get("NETC_DATA_DIR") or SHARED / "data" / "mnist")
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def missing(reason: str) -> None:
    """Skip with `reason`, or fail when running under CI, where the layout is promised."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder of the four real MNIST IDX files (gzipped or not)."""
    if not all((MNIST_DIR / n).is_file() or (MNIST_DIR / f"{n}.gz").is_file()
               for n in MNIST_FILES):
        missing(f"real MNIST not found in {MNIST_DIR} (set NETC_DATA_DIR)")
    return MNIST_DIR


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` beside the checkout (the contract check)."""
    if not (SHARED / "checks" / "contract.py").is_file():
        missing(f"{SHARED} is not beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def ort() -> Any:
    """onnxruntime (and onnx, which the export imports): a skip without the extra, a failure
    under CI, where the test extra is installed."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        missing("onnx or onnxruntime not installed (pip install -e '.[onnx]')")
    return onnxruntime
