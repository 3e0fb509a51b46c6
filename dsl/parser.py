"""Stage 1, parse: `Source` -> `nodes.Program`, with Lark errors turned into `SpecSyntaxError`.

The LALR parser is built once per process (and its tables cached on disk by Lark), with the
AST built inline during the parse. A small post-lexer joins lines: a newline ends a statement
unless it only continues one, as Python joins lines inside brackets.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from typing import Any

from lark import Lark, Token, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..errors import Diagnostic, SpecLimitError, SpecSyntaxError
from ..source import Source, Span
from .nodes import Declaration, Definition, Pipeline, Program, TensorRef
from .transform import ToNodes

# A newline after these tokens, or before these, continues the statement.
# Not after `=>`: its name is on its line, so `x =>` then a new statement is an error.
_JOIN_AFTER = frozenset({"ARROW", "LPAR", "COMMA", "EQ", "COLON", "STAR"})
_JOIN_BEFORE = frozenset({"ARROW", "STAR", "COMMA", "RPAR", "BIND"})

# `h.last` is listed as a name and `1x28x28` as a number: the lists stay short.
_LABELS = {
    "ARROW": "'->'", "STAR": "'*'", "LPAR": "'('", "RPAR": "')'", "COMMA": "','",
    "EQ": "'='", "COLON": "':'", "NAME": "a name", "NUMBER": "a number",
    "STRING": "a string", "_NL": "a new line", "$END": "the end of the file",
    "REF": "a name", "DIMS": "a number", "SLICE": "a slice", "BIND": "'=>'", "AT": "'@'",
}
# Where a value may start, '(' (a group as an argument, rare) is left out of the list.
_VALUE_STARTS = frozenset({"NUMBER", "STRING", "NAME"})
_SHOWN_AS_TEXT = frozenset({"NAME", "NUMBER", "REF", "DIMS", "SLICE"})


class _LineJoiner:
    """Post-lexer: drop newlines that continue a statement, collapse the rest into one."""

    always_accept: tuple[str, ...] = ()

    def __init__(self) -> None:
        # The '(' tokens not yet closed, innermost last: read after a syntax error to say
        # which parenthesis is still open (the parser holds `_lock` while this runs).
        self.open: list[Token] = []

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        prev, pending = None, None
        self.open = opened = []
        for tok in stream:
            if tok.type == "_NL":
                pending = pending or tok
                continue
            if pending is not None and prev is not None and not opened \
                    and prev not in _JOIN_AFTER and tok.type not in _JOIN_BEFORE:
                yield pending
            pending = None
            if tok.type == "LPAR":
                opened.append(tok)
            elif tok.type == "RPAR" and opened:
                opened.pop()
            prev = tok.type
            yield tok


_lock = threading.Lock()

MAX_SOURCE_CHARS = 1_000_000
"""Longest spec parsed. Why: parsing costs ~3 us a character, and a 100,000-layer pipeline
(the expander's limit) written out in full still fits; anything longer is rejected at once."""


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, ToNodes]:
    transformer = ToNodes()
    lark = Lark.open("grammar.lark", rel_to=__file__, parser="lalr", lexer="basic",
                     postlex=_LineJoiner(), transformer=transformer, maybe_placeholders=True,
                     cache=True)
    return lark, transformer


def parse(source: Source | str) -> Program:
    """Parse spec text into a `Program`. Raises `SpecSyntaxError` with a located diagnostic."""
    if isinstance(source, str):
        source = Source.from_text(source)
    if len(source.text) > MAX_SOURCE_CHARS:
        at = source.span(MAX_SOURCE_CHARS, MAX_SOURCE_CHARS)
        raise SpecLimitError([Diagnostic(
            "too_long", f"the spec is {len(source.text):,} characters long; the limit is "
            f"{MAX_SOURCE_CHARS:,}", at, hint="a network spec is a few lines; "
            "use blocks and `* N` for repeated layers")], source)
    lark, transformer = _parser()
    with _lock:  # Why: the inline transformer carries the path of the file being parsed.
        transformer.path, transformer.problems = source.path, []
        try:
            statements = lark.parse(source.text)
        except UnexpectedInput as e:
            d = _with_open_paren(_diagnose(e, source), lark.options.postlex, source)
            raise SpecSyntaxError([d], source) from None
        problems = [*transformer.problems, *_unquoted_paths(statements, source)]
    if problems:
        problems.sort(key=lambda d: d.span.start if d.span else 0)
        raise SpecSyntaxError(problems, source)
    return Program(
        tuple(s for s in statements if isinstance(s, Definition)),
        tuple(s for s in statements if isinstance(s, Declaration)),
        tuple(s for s in statements if isinstance(s, Pipeline)),
        source,
    )


def _diagnose(e: UnexpectedInput, source: Source) -> Diagnostic:
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream
        ch = source.text[pos]
        shown = "NUL byte" if ch == "\0" else f"character {ch!r}"
        return Diagnostic("unexpected_character", f"unexpected {shown}",
                          source.span(pos, pos + 1),
                          hint=_unquoted_path_hint(source.text, pos)
                          or _char_hint(ch, source.text, pos))
    if isinstance(e, UnexpectedToken):
        return _token_diagnostic(e, source)
    pos = len(source.text)
    return Diagnostic("unexpected_eof", "unexpected end of the file", source.span(pos, pos))


def _unquoted_paths(statements: list[Any], source: Source) -> list[Diagnostic]:
    """`data: data.npz` lexes as the tensor reference `data.npz`: report it as the '.' it
    was before references existed, with the hint to quote the path."""
    out = []
    for s in statements:
        if isinstance(s, Declaration) and s.key == "data":
            for arg in s.args:
                if isinstance(arg.value, TensorRef) and arg.value.attr is not None:
                    pos = arg.value.name_span.end
                    out.append(Diagnostic("unexpected_character", "unexpected character '.'",
                                          source.span(pos, pos + 1),
                                          hint=_unquoted_path_hint(source.text, pos)))
    return out


def _with_open_paren(d: Diagnostic, joiner: _LineJoiner, source: Source) -> Diagnostic:
    """Add a note naming the '(' still open when the error came at the end of the file, or on
    a later line than that '(' (the usual sign of a forgotten ')')."""
    if d.span is None or d.code == "unexpected_character":
        return d
    opened = [t for t in joiner.open if t.start_pos < d.span.start]
    if not opened:
        return d
    lpar = opened[-1]
    if d.code == "unexpected_eof":
        note = f"the '(' at {lpar.line}:{lpar.column} is never closed" if len(opened) == 1 \
            else f"{len(opened):,} '(' are never closed, the last at {lpar.line}:{lpar.column}"
    elif d.span.line > lpar.line or _closes_here(d, source):
        note = f"the '(' at {lpar.line}:{lpar.column} is still open here; is a ')' missing?"
    else:
        return d
    return replace(d, notes=(*d.notes, note))


def _closes_here(d: Diagnostic, source: Source) -> bool:
    """`affine(2 -> relu`: a ')' was expected where a '->', '*' or a name came, on the line
    of the '(' (the end-of-file and next-line cases are named above)."""
    if d.span is None or "')'" not in d.message:
        return False
    word = source.text[d.span.start:d.span.end]
    return word in ("->", "*") or word.isidentifier()


def _unquoted_path_hint(text: str, pos: int) -> str | None:
    """`data: my/data.npz`: a path is a string, so the '/' or '.' does not lex."""
    start = text.rfind("\n", 0, pos) + 1
    if not re.match(r"\s*data\s*:", text[start:pos]) or text[pos] not in "./\\~-:":
        return None
    end = text.find("\n", pos)
    value = text[start:len(text) if end < 0 else end].split(":", 1)[1].split("#")[0].strip()
    if len(value) > 60 or '"' in value:
        return "a path in `data:` is written in quotes"
    return f'a path in `data:` is written in quotes: data: "{value}"'


def _token_diagnostic(e: UnexpectedToken, source: Source) -> Diagnostic:
    tok, last = e.token, _last_type(e)
    expected = _expected(e.expected, last=last,
                         stray=tok.type == "RPAR" and "RPAR" not in e.expected)
    want = _expected_text(expected)
    if last in ("BIND", "AT"):  # `src -> lstm =>`, `embed(6)@`: the name is missing
        want = f"; expected a name after {_LABELS[last]}"
    if tok.type == "$END":
        pos = len(source.text.rstrip())
        hint = "a pipeline cannot end with '->'" if last == "ARROW" else None
        return Diagnostic("unexpected_eof", f"unexpected end of the file{want}",
                          source.span(pos, pos), hint=hint)
    if tok.type == "_NL":
        span = source.span(tok.start_pos, tok.start_pos)
        return Diagnostic("unexpected_newline", f"the line ends too early{want}", span)
    span: Span = source.span(tok.start_pos, tok.end_pos)
    shown = repr(str(tok)) if tok.type in _SHOWN_AS_TEXT else _LABELS.get(tok.type, tok.type)
    return Diagnostic("unexpected_token", f"unexpected {shown}{want}", span,
                      hint=_token_hint(tok, last, expected))


def _expected(types: set[str], *, last: str | None, stray: bool) -> list[str]:
    """Labels of the expected terminals, each once, without the rare ones that would only
    lengthen the list: '=>' and '@' (after a call), '=' after a ')' (a block head
    `cbr(n) =`), '(' where a value may start (a group as an argument). After a ')' that
    closes nothing, only the end of the statement is named."""
    labels = {_LABELS.get(t, t) for t in types if not t.startswith("__")}
    labels -= {"'=>'", "'@'", "a slice"}
    if last == "RPAR":
        labels.discard("'='")
    if _VALUE_STARTS <= types:
        labels.discard("'('")
    if stray:
        labels -= {"'->'", "'*'", "'='"}
    return sorted(labels)


def _token_hint(tok: Token, last: str | None, expected: list[str]) -> str | None:
    """A friendly line for the common slips, keyed on the token found and the one before."""
    if tok.type in ("NAME", "LPAR", "REF") and "'->'" in expected:
        return f"missing '->' before {str(tok)!r}?"
    if tok.type in ("NAME", "DIMS") and last in ("NUMBER", "DIMS") \
            and re.fullmatch(r"x[0-9]*", str(tok)):
        return "an image shape is written without spaces: `input: 1x28x28`"
    if tok.type in ("NUMBER", "STRING", "DIMS") and last == "NAME":
        # `input 784`: a setting without its colon, or a call without parentheses.
        return "settings are written `key: value` (e.g. `input: 784`), calls `name(args)`"
    if tok.type == "BIND":
        return "'=>' names the value of a whole pipeline statement, e.g. " \
               "`src -> lstm(128) => h`; not inside parentheses or a block"
    if tok.type == "AT":
        return "a weight label follows a call, e.g. `embed(650)@E`"
    if tok.type == "SLICE":
        return "a slice follows the name of an input or a bound tensor, e.g. `tgt[:-1]`"
    return None


def _last_type(e: UnexpectedToken) -> str | None:
    """Type of the last token shifted before the error (None when Lark does not say)."""
    state = getattr(e.interactive_parser, "parser_state", None)
    stack = getattr(state, "value_stack", None) or [None]
    return stack[-1].type if isinstance(stack[-1], Token) else None


def _expected_text(expected: list[str]) -> str:
    if not expected or len(expected) > 6:
        return ""
    return "; expected " + (expected[0] if len(expected) == 1 else
                            ", ".join(expected[:-1]) + " or " + expected[-1])


def _char_hint(ch: str, text: str, pos: int) -> str | None:
    if ch == "[" and ":" in text[pos:text.find("]", pos) + 1 or pos]:
        return "a slice is written `name[start:stop]` with whole numbers, e.g. `tgt[:-1]`"
    if ch in "[]{}":
        return "use parentheses '(' ')' for calls and groups"
    if ch == "." and pos and (text[pos - 1].isalnum() or text[pos - 1] == "_"):
        return "a tensor's part is written `name.last`, with no spaces"
    if ch == ";":
        return "statements are separated by new lines"
    if ch in "\"'":
        return f"a string ends with {ch} on the line where it starts"
    if ch.isdigit():  # not 0-9, which would have lexed: '٣', '３', '²'
        return "write numbers with the ASCII digits 0-9"
    return None
