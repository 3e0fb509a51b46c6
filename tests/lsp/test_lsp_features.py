"""The language server's answers as pure functions (netc/lsp_features.py, netc/lsp_info.py):
tensors and labels, shapes in hovers, and text mid-edit that must never make them raise."""

from __future__ import annotations

from pathlib import Path

from netc.lsp_features import analyse, definition, formatted, references
from netc.lsp_info import completions, hover, inlay_hints

ROOT = Path(__file__).resolve().parents[2]
DATES = (ROOT / "specs" / "dates_attention.net").read_text(encoding="utf-8")
RESIDUAL = (ROOT / "specs" / "mnist_residual.net").read_text(encoding="utf-8")


def _at(text: str, needle: str) -> tuple[int, int]:
    """0-based (line, character) of the last `needle` (the comments come first)."""
    offset = text.rindex(needle)
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)


def test_tensors_bound_and_declared_by_input_are_symbols():
    a = analyse(DATES)
    assert {(k, n) for k, n in a.symbols} == {("tensor", n) for n in ("src", "tgt", "hs", "hd")}
    line, col = _at(DATES, "=> hs")
    assert definition(a, _at(DATES, "hs.last")) == ((line, col + 3), (line, col + 5))
    line, col = _at(DATES, "(hd, hs)")
    assert len(references(a, (line, col + 1))) == 3  # `=> hd` and its two uses
    text, _ = hover(a, (line, col + 1))
    assert "tensor **hd**, defined on line" in text and "shape: (batch, 10, 256)" in text


def test_hover_on_a_block_gives_its_output_shape_and_keyword_docs():
    a = analyse(RESIDUAL)
    text, _ = hover(a, _at(RESIDUAL, "block * 3"))
    assert "block **block**" in text and "shape: (batch, 256)" in text
    assert "n_out" not in (hover(a, _at(RESIDUAL, "lr=")) or ("",))[0]
    assert "learning rate" in hover(a, _at(RESIDUAL, "lr="))[0]


def test_completion_knows_the_setting_it_is_in():
    a = analyse("input: 2\ntrain: epochs=3, \n")
    labels = [c.label for c in completions(a, (1, 17))]
    assert labels[:2] == ["epochs", "batch_size"] and "softmax_ce" in labels


def test_every_prefix_of_a_spec_is_answered_without_raising():
    for cut in range(0, len(DATES), 5):
        a = analyse(DATES[:cut])
        for pos in ((0, 0), (cut // 60, 3), (99, 99)):
            hover(a, pos), completions(a, pos), definition(a, pos), references(a, pos)
        inlay_hints(a)
        formatted(DATES[:cut])
        assert a.plan is not None or a.diagnostics


def test_netc_lsp_without_pygls_names_the_extra(monkeypatch, capsys):
    import sys

    from netc.cli import main

    monkeypatch.setitem(sys.modules, "netc.lsp", None)  # as if pygls were not installed
    assert main(["lsp"]) == 1
    assert "pip install 'netc[lsp]'" in capsys.readouterr().err
