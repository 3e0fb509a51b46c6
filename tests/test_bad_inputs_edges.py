"""Catalogue of the first-hour rough edges (issue 12): a mistyped command, flag or choice gets
"did you mean"; names brought from the book and Keras (`ReLU`, `SoftmaxWithLoss`, `Dense`,
`Conv2D`, `weight_decay`) and misspelt block names get the netc name; an unquoted `data:` path
gets the hint to quote it; a '(' left open mid-line is named where it opened; `check` of
several specs labels each one's errors by its path.

Expected messages are in `tests/bad_inputs/edges/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from catalogue import DATA_SPEC, Catalogue, spec_file  # noqa: E402  (tests/ is not a package)

cat = Catalogue("edges")
GOOD = "input: 2\naffine(3) -> softmax_ce\n"


def _check(tmp: Path, text: str) -> list[object]:
    return ["check", spec_file(tmp, text)]


# --- usage errors: the likely command, flag or choice -------------------------------------

@cat.case
def usage_command_typo(tmp, mp):
    return ["chek", DATA_SPEC]


@cat.case
def usage_flag_from_keras(tmp, mp):
    return ["run", DATA_SPEC, "--learning-rate", "0.1"]


@cat.case
def usage_flag_typo_with_value(tmp, mp):
    return ["run", DATA_SPEC, "--batchsize=10"]


@cat.case
def usage_two_unknown_flags(tmp, mp):
    return ["run", DATA_SPEC, "--learning-rate", "0.1", "--epcohs", "3"]


@cat.case
def usage_flag_typo_check(tmp, mp):
    return ["check", DATA_SPEC, "--jsn"]


@cat.case
def usage_choice_capitalised(tmp, mp):
    return ["run", DATA_SPEC, "--optimizer", "Adam"]


@cat.case
def usage_unknown_flag_nothing_close(tmp, mp):
    return ["check", DATA_SPEC, "--zzz"]


# --- names from the book and Keras ------------------------------------------------------

@cat.case
def book_layer_names(tmp, mp):
    return _check(tmp, "input: 2\nAffine(10) -> ReLU -> Relu -> Sigmoid -> Tanh -> Dropout"
                       " -> affine(3) -> SoftmaxWithLoss\n")


@cat.case
def keras_layer_names(tmp, mp):
    return _check(tmp, "input: 2\nDense(10) -> BatchNormalization -> BatchNorm -> Linear(3)"
                       " -> softmax_ce\n")


@cat.case
def keras_conv_names(tmp, mp):
    return _check(tmp, "input: 784\nConv2D(16) -> relu -> Convolution -> affine(10)"
                       " -> softmax_ce\n")


@cat.case
def keras_hyper_parameter_names(tmp, mp):
    return _check(tmp, "input: 2\noptimizer: sgd(learning_rate=0.1, weight_decay=0.001)\n"
                       "affine(3) -> softmax_ce\n")


@cat.case
def optimizer_capitalised(tmp, mp):
    return _check(tmp, "input: 2\noptimizer: SGD(lr=0.1)\naffine(3) -> softmax_ce\n")


@cat.case
def optimizer_adam_capitalised(tmp, mp):
    return _check(tmp, "input: 2\noptimizer: Adam\naffine(3) -> softmax_ce\n")


@cat.case
def block_name_typo(tmp, mp):
    return _check(tmp, "input: 2\nhidden = affine(10) -> relu\nhiden * 2 -> affine(3)"
                       " -> softmax_ce\n")


# --- syntax: quoted paths, open parentheses ---------------------------------------------

@cat.case
def data_path_unquoted(tmp, mp):
    return _check(tmp, "data: my/data.npz\ninput: 2\naffine(3) -> softmax_ce\n")


@cat.case
def data_file_unquoted(tmp, mp):
    return _check(tmp, "data: data.npz  # the training set\ninput: 2\naffine(3) -> softmax_ce\n")


@cat.case
def data_absolute_path_unquoted(tmp, mp):
    return _check(tmp, "data: /home/me/data.csv\ninput: 2\naffine(3) -> softmax_ce\n")


@cat.case
def unclosed_paren_mid_line(tmp, mp):
    return _check(tmp, "input: 2\naffine(10 -> relu -> affine(3) -> softmax_ce\n")


@cat.case
def unclosed_paren_before_name(tmp, mp):
    return _check(tmp, "input: 2\naffine(10 relu\naffine(3) -> softmax_ce\n")


# --- several specs ------------------------------------------------------------------------

@cat.case
def check_two_specs_second_bad(tmp, mp):
    good = spec_file(tmp, GOOD, "good.net")
    return ["check", good, spec_file(tmp, "input: 2\naffine(3) -> softmx_ce\n")]


@cat.case
def check_three_specs_one_missing(tmp, mp):
    good = spec_file(tmp, GOOD, "good.net")
    bad = spec_file(tmp, "input: 2\naffine(3 -> softmax_ce\n")
    return ["check", bad, tmp / "missing.net", good]


test_edges_catalogue_is_complete, test_edges_case_is_reported_exactly = cat.tests()
