"""The v2 forms the parser reads but the compiler does not build yet: one located error each."""

from __future__ import annotations

import pytest

import netc
from netc.errors import SpecStructureError

CASES = [
    ("cbr(n, p=1) = affine(n) -> relu\naffine(2, 3) -> softmax_ce\n", 1, 5,
     "a block with parameters"),
    ("input: 1x28x28\naffine(2, 3) -> softmax_ce\n", 1, 8,
     "an image or sequence input ('1x28x28')"),
    ("input: src: tokens\naffine(2, 3) -> softmax_ce\n", 1, 8, "a named input ('src: ...')"),
    ("affine(2, 3)@A -> softmax_ce\n", 1, 14, "a weight label ('@A')"),
    ("affine(2, 3) => h\nh -> softmax_ce\n", 1, 17, "naming a pipeline ('=> h')"),
    ("affine(2, 3) -> residual(affine(3) -> relu) -> softmax_ce\n", 1, 26,
     "a pipeline as an argument"),
    ("affine(2, 3) -> h.last -> softmax_ce\n", 1, 17, "a tensor reference ('h.last')"),
    ("affine(2, 3) -> concat(tgt[:-1], relu) -> softmax_ce\n", 1, 24,
     "a tensor reference ('tgt[:-1]')"),
]


@pytest.mark.parametrize(("text", "line", "col", "what"), CASES)
def test_unsupported_v2_form_is_one_located_error(text, line, col, what):
    with pytest.raises(SpecStructureError) as info:
        netc.compile(text)
    d = info.value.diagnostics[0]
    assert d.code == "not_supported_yet"
    assert (d.span.line, d.span.column) == (line, col)
    assert d.message.startswith(what) and d.message.endswith("is not supported yet")
    assert "cannot compile it yet" in (d.hint or "")


def test_unsupported_forms_are_all_reported_and_fmt_still_reads_them():
    text = "input: 1x28x28\naffine(2, 3)@A => h\nh -> h.last -> softmax_ce\n"
    with pytest.raises(SpecStructureError) as info:
        netc.compile(text)
    assert len(info.value.diagnostics) == 4
    assert netc.parse(text) is not None  # the parser (and so `netc fmt`) accepts them


def test_plain_specs_are_not_touched_by_the_guard():
    net = netc.compile("block = affine(4) -> relu\ninput: 2\nblock * 2 -> affine(3) -> softmax_ce")
    assert len(net.plan.layers) == 6
