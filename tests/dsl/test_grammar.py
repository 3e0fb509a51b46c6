"""The grammar file itself: it builds strictly (no regex collisions, no LALR conflicts)."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import as_file, files

import pytest
from lark import Lark

pytest.importorskip("interegular")  # Lark's strict mode needs it to detect regex collisions.


@lru_cache(maxsize=1)
def _grammar() -> Lark:
    with as_file(files("netc.dsl") / "grammar.lark") as path:
        return Lark.open(str(path), parser="lalr", lexer="basic", strict=True)


def test_grammar_builds_in_strict_mode() -> None:
    assert _grammar().parser is not None


def test_grammar_has_no_op_names() -> None:
    # Why: the registry, not the grammar, decides which calls exist.
    text = (files("netc.dsl") / "grammar.lark").read_text(encoding="utf-8")
    for op in ("affine", "relu", "softmax_ce", "adam"):
        assert f'"{op}"' not in text


@pytest.mark.parametrize(("text", "kind"), [
    ("affine", "NAME"), ("_x9", "NAME"), ("784", "NUMBER"), ("-2", "NUMBER"), ("+3", "NUMBER"),
    (".5", "NUMBER"), ("1e-3", "NUMBER"), ("2.", "NUMBER"), ("6.02E23", "NUMBER"),
    ('"a\\"b"', "STRING"), ("'x'", "STRING"), ("->", "ARROW"), ("*", "STAR"), (",", "COMMA"),
    ("=", "EQ"), (":", "COLON"), ("(", "LPAR"), (")", "RPAR"),
])
def test_grammar_lexes_each_terminal(text: str, kind: str) -> None:
    (token,) = list(_grammar().lex(text))
    assert token.type == kind and str(token) == text


def test_grammar_arrow_next_to_negative_number() -> None:
    kinds = [t.type for t in _grammar().lex("f(-2)->g(-.5)")]
    assert kinds == ["NAME", "LPAR", "NUMBER", "RPAR", "ARROW", "NAME", "LPAR", "NUMBER", "RPAR"]


def test_grammar_comment_and_whitespace_are_ignored() -> None:
    kinds = [t.type for t in _grammar().lex("relu \t# -> tanh\n")]
    assert kinds == ["NAME", "_NL"]


@pytest.mark.parametrize("digit", ["\u0660", "\u0663", "\uff13", "\u00b2", "\u0967"])
def test_grammar_numbers_are_ascii_digits_only(digit: str) -> None:
    # `\d` matched Arabic-Indic and full-width digits, and int()/float() read them.
    tokens = list(_grammar().lex("0", dont_ignore=True))
    assert [t.type for t in tokens] == ["NUMBER"]
    from lark.exceptions import UnexpectedCharacters

    for text in (digit, f"0{digit}1", f"1e{digit}", f".{digit}"):
        with pytest.raises(UnexpectedCharacters):
            list(_grammar().lex(text))
