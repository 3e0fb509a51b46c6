"""`expect(...)` in a spec: a shape assertion that adds no node, checked by shape inference,
and `netc fmt --annotate` / `--strip`, which write and remove the inferred shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

import netc
from netc.annotate import annotate, strip
from netc.cli import main
from netc.errors import SpecError
from netc.source import Source

CONV = ("input: 1x28x28\nconv(30, 5) -> relu -> pool(2) -> {expect} -> flatten -> affine(10) "
        "-> softmax_ce\n")


def _error(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        netc.plan(text)
    return info.value


def test_expect_that_holds_changes_nothing_in_the_plan():
    with_it = netc.plan(CONV.format(expect="expect(30, 12, 12)"))
    without = netc.plan(CONV.format(expect="flatten").replace("flatten -> flatten", "flatten"))
    assert [lp.label for lp in with_it.layers] == [lp.label for lp in without.layers]
    assert with_it.spec_hash == without.spec_hash  # checkpoints stay valid
    assert [p.key for lp in with_it.layers for p in lp.params] == \
        [p.key for lp in without.layers for p in lp.params]


def test_expect_that_fails_is_located_and_names_both_shapes():
    e = _error(CONV.format(expect="expect(30, 14, 14)"))
    (d,) = e.diagnostics
    assert d.code == "expect_mismatch" and (d.span.line, d.span.column) == (2, 35)
    assert "expect(30, 14, 14) does not hold: pool at 2:24 gives 30x12x12, not 30x14x14" \
        in d.message
    assert "expect(30, 12, 12)" in d.hint


def test_expect_inside_a_block_is_checked_at_each_use_and_names_the_use():
    spec = "input: 4\nb(n) = affine(n) -> expect(5)\nb(5) -> b(3) -> affine(2) -> softmax_ce\n"
    (d,) = _error(spec).diagnostics
    assert d.code == "expect_mismatch" and "affine at 2:8 gives 3, not 5" in d.message
    assert any("b" in note and "3:9" in note for note in d.notes)  # the second use
    netc.plan(spec.replace("b(3)", "b(5)"))  # both uses give 5: it holds


def test_expect_on_a_sequence_and_an_image_row():
    netc.plan("input: tokens(20), steps=5\nembed(8) -> expect(5, 8) -> lstm(4) -> expect(5, 4) "
              "-> affine(20) -> softmax_ce\n")
    netc.plan("input: 3x8x8\nconv(4, 3, pad=1) -> expect(4, 8, 8) -> flatten -> expect(256) "
              "-> affine(2) -> softmax_ce\n")


@pytest.mark.parametrize("stage,says", [
    ("expect(0)", "whole numbers of at least 1"),
    ("expect(3, k=2)", "a keyword argument 'k=2'"),
    ("expect(2.5)", "whole numbers"),
    ("expect()", "needs the shape it checks"),
    ("expect", "needs the shape it checks"),
])
def test_expect_refuses_what_is_not_a_shape(stage, says):
    (d,) = _error(f"input: 4\naffine(3) -> {stage} -> softmax_ce\n").diagnostics
    assert d.code == "bad_expect" and says in d.message and "expect(30, 12, 12)" in d.hint


def test_expect_on_the_input_says_input_declares_it():
    (d,) = _error("input: 4\nexpect(4) -> affine(3) -> softmax_ce\n").diagnostics
    assert d.code == "bad_expect" and "`input:` declares" in d.message


def test_a_block_named_expect_is_the_block():
    netc.plan("input: 4\nexpect = affine(5) -> relu\naffine(4) -> expect -> affine(3) -> "
              "softmax_ce\n")


SPEC = """# a comment of the author's
input: 1x28x28
block = conv(4, 3, pad=1) -> relu

block -> pool(2)  # the author's note
    -> flatten -> affine(10) -> softmax_ce
"""


def test_annotate_writes_each_stage_shape_and_strip_takes_them_away():
    src = Source.from_text(SPEC, "s.net")
    text = annotate(src)
    assert "block  #: 4x28x28" in text and "-> pool(2)  # the author's note" in text
    assert "-> flatten  #: 784" in text and "-> softmax_ce  #: 10" in text
    assert "#: 4x14x14" in text  # the pool's, after the author's comment
    assert "conv(4, 3, pad=1) -> relu\n" in text  # a block's body is not annotated
    assert annotate(Source.from_text(text, "s.net")) == text  # idempotent
    plain = strip(Source.from_text(text, "s.net"))
    assert "#:" not in plain and "# the author's note" in plain
    netc.plan(text), netc.plan(plain)  # both still specs


def test_fmt_annotate_and_strip_from_the_cli(tmp_path: Path, capsys):
    path = tmp_path / "s.net"
    path.write_text(SPEC)
    assert main(["fmt", "--annotate", "--check", str(path)]) == 1  # it would change
    assert main(["fmt", "--annotate", str(path)]) == 0
    assert "#: 4x28x28" in path.read_text()
    assert main(["fmt", "--annotate", "--check", str(path)]) == 0  # nothing left to do
    assert main(["fmt", "--strip", str(path)]) == 0
    assert "#:" not in path.read_text()
    capsys.readouterr()
    path.write_text("input: 4\naffine(3) -> expect(5) -> softmax_ce\n")
    assert main(["fmt", "--annotate", str(path)]) == 1  # the spec's error, not a traceback
    err = capsys.readouterr().err
    assert f"{path}:2:14: error: expect(5) does not hold" in err and "Traceback" not in err
    assert path.read_text() == "input: 4\naffine(3) -> expect(5) -> softmax_ce\n"
