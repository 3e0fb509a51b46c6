"""Catalogue of lint warnings made errors by `netc check --strict` (issue 12): a softmax or
sigmoid before the loss that applies it, mse/sigmoid_ce on a data set of class labels, an
output width that is not the data's number of classes, a learning rate far outside the
optimizer's usual range. Each warning names file:line:col, shows the line, and gives the fix.

Without `--strict` the same specs pass with the warnings on stderr (tests/compiler/test_lint.py).
Expected messages are in `tests/bad_inputs/lint/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from catalogue import Catalogue, spec_file  # noqa: E402  (tests/ is not a package)

cat = Catalogue("lint")


def _strict(tmp: Path, text: str) -> list[object]:
    return ["check", spec_file(tmp, text), "--strict"]


@cat.case
def softmax_before_softmax_ce(tmp, mp):
    return _strict(tmp, "data: spiral\ninput: 2\naffine(10) -> relu -> affine(3) -> softmax"
                        " -> softmax_ce\n")


@cat.case
def sigmoid_before_sigmoid_ce(tmp, mp):
    return _strict(tmp, "input: 4\naffine(1) -> sigmoid -> sigmoid_ce\n")


@cat.case
def softmax_in_a_block_before_the_loss(tmp, mp):
    return _strict(tmp, "input: 4\nhead = affine(3) -> softmax\nhead -> softmax_ce\n")


@cat.case
def mse_on_spiral_labels(tmp, mp):
    return _strict(tmp, "data: spiral\ninput: 2\naffine(10) -> sigmoid -> affine(1) -> mse\n")


@cat.case
def sigmoid_ce_on_mnist_labels(tmp, mp):
    return _strict(tmp, "data: mnist\ninput: 784\naffine(10) -> sigmoid_ce\n")


@cat.case
def output_wider_than_mnist_classes(tmp, mp):
    return _strict(tmp, 'data: "mnist"\ninput: 784\naffine(100) -> relu -> softmax_ce\n')


@cat.case
def output_narrower_than_spiral_classes(tmp, mp):
    return _strict(tmp, "data: spiral\ninput: 2\naffine(10) -> relu -> affine(2) -> softmax_ce\n")


@cat.case
def adam_lr_far_too_large(tmp, mp):
    return _strict(tmp, "input: 2\noptimizer: adam(lr=1)\naffine(3) -> softmax_ce\n")


@cat.case
def sgd_lr_far_too_large(tmp, mp):
    return _strict(tmp, "input: 2\noptimizer: sgd, lr=50\naffine(3) -> softmax_ce\n")


@cat.case
def sgd_lr_far_too_small(tmp, mp):
    return _strict(tmp, "input: 2\noptimizer: sgd(1e-9)\naffine(3) -> softmax_ce\n")


@cat.case
def several_warnings_in_source_order(tmp, mp):
    return _strict(tmp, "data: mnist\ninput: 784\noptimizer: rmsprop(lr=0.5)\n"
                        "affine(50) -> relu -> affine(12) -> softmax -> softmax_ce\n")


test_lint_catalogue_is_complete, test_lint_case_is_reported_exactly = cat.tests()
