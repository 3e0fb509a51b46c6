"""Catalogue of values that must be refused (issue 11): number flags that are not plain ASCII
decimals or lie outside the spec's own bounds, non-ASCII digits in a spec, hyper-parameters out
of range, targets outside their loss's range, and non-finite inputs to `predict`.

Usage errors (`usage_` cases) exit 2; the rest exit 1. Expected messages are in
`tests/bad_inputs/values/`; `two_sigmoid_outputs.net` there is the spec of the sigmoid cases.
The same rules seen from the Python API are tested in `tests/runtime/test_values.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from catalogue import (  # noqa: E402  (tests/ is not a package)
    DATA_SPEC,
    HERE,
    Catalogue,
    data_run,
    good_arrays,
    npz,
    spec_file,
    trained_checkpoint,
)

cat = Catalogue("values")
SPIRAL = Path("specs") / "spiral.net"
SIGMOID_SPEC = HERE / "values" / "two_sigmoid_outputs.net"


# ---- command-line numbers ----------------------------------------------------------------


@cat.case
def usage_time_lr_nan(tmp: Path, mp: object) -> list[object]:
    # Before: reached the generated update as `nan` (a NameError with adam).
    return ["time", SPIRAL, "--optimizer", "adam", "--lr", "nan", "--steps", 1]


@cat.case
def usage_time_lr_negative(tmp: Path, mp: object) -> list[object]:
    return ["time", SPIRAL, "--lr", "-0.1", "--steps", 1]


@cat.case
def usage_time_steps_underscore(tmp: Path, mp: object) -> list[object]:
    return ["time", SPIRAL, "--steps", "1_0"]


@cat.case
def usage_run_lr_underscore(tmp: Path, mp: object) -> list[object]:
    # Before: int()/float() read `1_0` as 10 and trained with it.
    return ["run", SPIRAL, "--lr", "1_0", "--quiet"]


@cat.case
def usage_run_lr_infinite(tmp: Path, mp: object) -> list[object]:
    return ["run", SPIRAL, "--lr", "1e999", "--quiet"]


@cat.case
def usage_run_epochs_arabic_indic(tmp: Path, mp: object) -> list[object]:
    # Before: int('٣') is 3: three epochs were trained.
    return ["run", SPIRAL, "--epochs", "\u0663", "--quiet"]


@cat.case
def usage_run_epochs_full_width(tmp: Path, mp: object) -> list[object]:
    return ["run", SPIRAL, "--epochs", "\uff12", "--quiet"]


@cat.case
def usage_run_epochs_with_spaces(tmp: Path, mp: object) -> list[object]:
    return ["run", SPIRAL, "--epochs", " 2 ", "--quiet"]


@cat.case
def usage_run_epochs_above_the_spec_limit(tmp: Path, mp: object) -> list[object]:
    # `train: epochs=` stops at 1,000,000; the flag that overrides it now does too.
    return ["run", SPIRAL, "--epochs", "10000000", "--quiet"]


@cat.case
def usage_run_seed_too_large(tmp: Path, mp: object) -> list[object]:
    return ["run", SPIRAL, "--seed", "99999999999999999999", "--quiet"]


@cat.case
def usage_gradcheck_tol_nan(tmp: Path, mp: object) -> list[object]:
    return ["gradcheck", SPIRAL, "--tol", "nan"]


@cat.case
def usage_gradcheck_batch_float(tmp: Path, mp: object) -> list[object]:
    return ["gradcheck", SPIRAL, "--batch", "8.0"]


# ---- spec numbers ------------------------------------------------------------------------


@cat.case
def spec_arabic_indic_digit_in_lr(tmp: Path, mp: object) -> list[object]:
    # Before: `0٠1` lexed as one number and read as lr=1.
    return ["check", spec_file(tmp, "optimizer: sgd(lr=0\u06601)\ninput: 2\n"
                                    "affine(3) -> softmax_ce\n")]


@cat.case
def spec_full_width_width(tmp: Path, mp: object) -> list[object]:
    return ["check", spec_file(tmp, "input: 2\naffine(\uff13) -> softmax_ce\n")]


@cat.case
def spec_adam_beta1_one(tmp: Path, mp: object) -> list[object]:
    # Already refused by the spec schema; the API and the flags now share its rule.
    return ["check", spec_file(tmp, "optimizer: adam(beta1=1)\ninput: 2\n"
                                    "affine(3) -> softmax_ce\n")]


@cat.case
def spec_momentum_above_one(tmp: Path, mp: object) -> list[object]:
    return ["check", spec_file(tmp, "optimizer: momentum(lr=0.1, momentum=5)\ninput: 2\n"
                                    "affine(3) -> softmax_ce\n")]


# ---- targets -------------------------------------------------------------------------------


def one_hot(n: int = 10) -> dict[str, np.ndarray]:
    arrays = good_arrays(n)
    return {"x_train": arrays["x_train"], "t_train": np.eye(3)[arrays["t_train"]]}


@cat.case
def one_hot_row_sums_to_two(tmp: Path, mp: object) -> list[object]:
    # Before: trained, silently, towards a loss below its minimum.
    arrays = one_hot()
    arrays["t_train"][3] = [1.0, 1.0, 0.0]
    return data_run(npz(tmp, **arrays))


@cat.case
def one_hot_row_of_zeros(tmp: Path, mp: object) -> list[object]:
    arrays = one_hot()
    arrays["t_train"][5] = 0.0
    return data_run(npz(tmp, **arrays))


@cat.case
def one_hot_row_negative(tmp: Path, mp: object) -> list[object]:
    arrays = one_hot()
    arrays["t_train"][2] = [1.5, -0.5, 0.0]
    return data_run(npz(tmp, **arrays))


@cat.case
def one_hot_test_row_sums_to_half(tmp: Path, mp: object) -> list[object]:
    arrays = one_hot()
    test = one_hot(4)
    test["t_train"][1] = [0.25, 0.25, 0.0]
    return data_run(npz(tmp, **arrays, x_test=test["x_train"], t_test=test["t_train"]))


def sigmoid_targets() -> dict[str, np.ndarray]:
    x = good_arrays()["x_train"]
    return {"x_train": x, "t_train": (x[:, :2] > 0).astype(np.float64)}


@cat.case
def sigmoid_target_two(tmp: Path, mp: object) -> list[object]:
    # Before: trained, silently (the loss went negative).
    arrays = sigmoid_targets()
    arrays["t_train"][6, 1] = 2.0
    return ["run", SIGMOID_SPEC, "--data", npz(tmp, **arrays), "--quiet"]


@cat.case
def sigmoid_target_negative(tmp: Path, mp: object) -> list[object]:
    arrays = sigmoid_targets()
    arrays["t_train"][0, 0] = -0.25
    return ["run", SIGMOID_SPEC, "--data", npz(tmp, **arrays), "--quiet"]


# ---- predict inputs ------------------------------------------------------------------------


@cat.case
def predict_input_with_nan(tmp: Path, mp: object) -> list[object]:
    # Before: printed NaN probabilities for the row, exit 0.
    x = np.ones((5, 4))
    x[3, 2] = np.nan
    return ["predict", DATA_SPEC, npz(tmp, "new.npz", x=x), "--checkpoint",
            trained_checkpoint(tmp)]


@cat.case
def predict_input_with_inf_in_csv(tmp: Path, mp: object) -> list[object]:
    path = tmp / "new.csv"
    path.write_text("1,2,3,4\n1,inf,3,4\n", encoding="utf-8")
    return ["predict", DATA_SPEC, path, "--checkpoint", trained_checkpoint(tmp)]


test_values_catalogue_is_complete, test_values_case_is_reported_exactly = cat.tests()
