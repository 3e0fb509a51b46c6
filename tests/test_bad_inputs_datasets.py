"""Catalogue of data mistakes a learner makes in the first hour (issue 12): a misspelt `data:`
name or a file type netc cannot read (caught by `check`), an MNIST-wide spec with no `data:`
line, and raw uint8 pixels given to a network not trained on MNIST.

Expected messages are in `tests/bad_inputs/datasets/`. The working cases (uint8 MNIST images
scaled as in training, `netc.datasets`) are unit tests in `tests/runtime/data/test_datasets.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from catalogue import (  # noqa: E402  (tests/ is not a package)
    DATA_SPEC,
    Catalogue,
    npz,
    spec_file,
    trained_checkpoint,
)

cat = Catalogue("datasets")
MNIST_NET = "affine(784, 50) -> relu -> affine(10) -> softmax_ce\n"


@cat.case
def check_data_name_misspelt(tmp: Path, mp: object) -> list[object]:
    # Before: `check` passed; `run` then said "unknown dataset 'minst'" with no suggestion.
    return ["check", spec_file(tmp, "data: minst\n" + MNIST_NET)]


@cat.case
def check_data_name_capitalised(tmp: Path, mp: object) -> list[object]:
    return ["check", spec_file(tmp, 'data: "MNIST"\n' + MNIST_NET)]


@cat.case
def check_data_file_of_unknown_type(tmp: Path, mp: object) -> list[object]:
    # Before: `check` passed; `run` refused the file only once it existed.
    return ["check", spec_file(tmp, 'data: "digits.txt"\n' + MNIST_NET)]


@cat.case
def run_data_flag_misspelt(tmp: Path, mp: object) -> list[object]:
    return ["run", DATA_SPEC, "--data", "spirla", "--quiet"]


@cat.case
def run_mnist_width_without_data(tmp: Path, mp: object) -> list[object]:
    # Before: the spiral's width error alone, not saying that the `data:` line is missing.
    return ["run", spec_file(tmp, MNIST_NET), "--quiet", "--epochs", 1]


@cat.case
def run_other_width_without_data(tmp: Path, mp: object) -> list[object]:
    return ["run", spec_file(tmp, "input: 5\naffine(3) -> softmax_ce\n"), "--quiet"]


@cat.case
def predict_uint8_inputs_to_a_network_not_trained_on_mnist(tmp: Path, mp: object) -> list[object]:
    # Before: the pixels 0-255 were taken as they are: every answer 100 % confident.
    ck = trained_checkpoint(tmp)
    x = npz(tmp, "pixels.npz", x=np.arange(12, dtype=np.uint8).reshape(3, 4) * 20)
    return ["predict", DATA_SPEC, "--checkpoint", ck, x]


test_datasets_catalogue_is_complete, test_datasets_case_is_reported_exactly = cat.tests()
