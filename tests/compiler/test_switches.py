"""0/1 train switches read true/false in a spec and in `fit`, and nothing else changes."""

from __future__ import annotations

import pytest

import netc
from netc import rules

NET = "affine(2, 3) -> softmax_ce\n"


@pytest.mark.parametrize("name", [r.name for r in rules.TRAIN.values() if r.switch])
def test_switch_reads_true_and_false_as_one_and_zero(name):
    plan = lambda v: netc.compile(f"train: {name}={v}\n" + NET).plan.run  # noqa: E731
    assert plan("true") == plan(1)
    assert plan("false") == plan(0)


def test_switch_refuses_other_names_and_numbers():
    for value in ("yes", "2"):
        with pytest.raises(netc.SpecError) as info:
            netc.compile(f"train: eval_train={value}\n" + NET)
        assert (info.value.line, info.value.column) == (1, 19)


def test_only_switches_take_a_bool_from_python():
    assert rules.TRAIN["eval_train"].check(True, "fit") == 1
    with pytest.raises(TypeError, match="lr must be a number"):
        rules.OPTIMIZERS["sgd"][0].check(True, "sgd")
    assert [r.name for r in rules.TRAIN.values() if r.switch] == [
        "eval_train", "wd_all", "keep_best"]
