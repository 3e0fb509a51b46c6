"""The v2 forms the parser reads but the compiler does not build yet: one located error each.

(Shapes, named values, combinators and block parameters are built now: test_graph_front.py.)"""

from __future__ import annotations

import pytest

import netc
from netc.errors import SpecStructureError

CASES = [
    ("input: src: tokens, b: 4\naffine(2, 3) -> softmax_ce\n", 1, 8,
     "a named input of 'tokens' ('src: ...')"),
    ("affine(2, 3) -> h.last -> softmax_ce\n", 1, 17, "a tensor reference ('h.last')"),
    ("affine(2, 3) -> concat(tgt.first, relu) -> softmax_ce\n", 1, 24,
     "a tensor reference ('tgt.first')"),
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
    text = "input: a: tokens, b: 4\naffine(2, 3)@A => h\nh -> h.last -> softmax_ce\n"
    with pytest.raises(SpecStructureError) as info:
        netc.compile(text)
    assert len(info.value.diagnostics) == 2
    assert netc.parse(text) is not None  # the parser (and so `netc fmt`) accepts them


def test_plain_specs_are_not_touched_by_the_guard():
    net = netc.compile("block = affine(4) -> relu\ninput: 2\nblock * 2 -> affine(3) -> softmax_ce")
    assert len(net.plan.layers) == 6
