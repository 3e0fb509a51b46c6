"""Parse tree -> AST: Lark callbacks that build `nodes` with spans taken from tokens.

Used as Lark's inline (LALR) transformer, so nodes are built during the parse, bottom-up and
without recursion. Why total: Lark wraps any exception raised here in a `VisitError`, so this
module never raises for user input; odd values (huge numbers, bad escapes) pass through and
the validator reports them with their location.
"""

from __future__ import annotations

import ast
import re
import warnings
from typing import Any

from lark import Token, Transformer

from ..source import Span
from .nodes import (
    MAX_DIGITS,
    Arg,
    Call,
    Declaration,
    Definition,
    Pipeline,
    Repeat,
    Stage,
    TooLarge,
)

_INT = re.compile(r"[+-]?[0-9]+")  # ASCII, as the grammar's NUMBER


class ToNodes(Transformer):
    """Builds AST nodes; `path` is set by the parser before each parse (spans carry it)."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)
        self.path = "<string>"

    def _span(self, first: Any, last: Any | None = None) -> Span:
        a = _bounds(first)
        b = _bounds(last if last is not None else first)
        return Span(self.path, a[0], a[1], b[2], b[3], a[4], b[5])

    def start(self, children: list[Any]) -> list[Any]:
        return [c for c in children if c is not None]

    def definition(self, c: list[Any]) -> Definition:
        name, _eq, body = c
        return Definition(str(name), self._span(name), body, self._span(name, body))

    def declaration(self, c: list[Any]) -> Declaration:
        key, _colon, args = c
        return Declaration(str(key), self._span(key), tuple(args), self._span(key, args[-1]))

    def pipeline(self, c: list[Any]) -> Pipeline:
        stages = tuple(x for x in c if not isinstance(x, Token))
        depth = max((_depth(s) for s in stages), default=0)
        return Pipeline(stages, self._span(c[0], c[-1]), depth)

    def stage(self, c: list[Any]) -> Stage:
        if len(c) == 1:
            return c[0]
        body, _star, count = c
        return Repeat(body, _number(count), self._span(count), self._span(body, count))

    def group(self, c: list[Any]) -> Pipeline:
        lpar, inner, rpar = c
        return Pipeline(inner.stages, self._span(lpar, rpar), inner.depth + 1)

    def call(self, c: list[Any]) -> Call:
        name = c[0]
        args = next((x for x in c[1:] if isinstance(x, list)), [])
        span = self._span(name, c[-1] if c[-1] is not None else name)
        return Call(str(name), tuple(args), span, self._span(name), len(c) > 1)

    def args(self, c: list[Any]) -> list[Arg]:
        return [self._positional(x) if not isinstance(x, Arg) else x for x in c if x is not None
                and not (isinstance(x, Token) and x.type == "COMMA")]

    def keyword(self, c: list[Any]) -> Arg:
        name, _eq, value = c
        vspan = self._value_span(value)
        return Arg(str(name), _plain(value), self._span(name, value), vspan)

    def number(self, c: list[Token]) -> Token:
        return c[0]

    def string(self, c: list[Token]) -> Token:
        return c[0]

    def _positional(self, value: Any) -> Arg:
        span = self._value_span(value)
        return Arg(None, _plain(value), span, span)

    def _value_span(self, value: Any) -> Span:
        return value.span if isinstance(value, Call) else self._span(value)


def _bounds(item: Any) -> tuple[int, int, int, int, int, int]:
    if isinstance(item, Token):
        return (item.line, item.column, item.end_line, item.end_column,
                item.start_pos, item.end_pos)
    if isinstance(item, list):
        return _bounds(item[0])[:2] + _bounds(item[-1])[2:4] + (
            _bounds(item[0])[4], _bounds(item[-1])[5])
    s = item.span
    return (s.line, s.column, s.end_line, s.end_column, s.start, s.end)


def _depth(stage: Stage) -> int:
    while isinstance(stage, Repeat):
        stage = stage.body
    return stage.depth if isinstance(stage, Pipeline) else 0


def _number(tok: Token) -> int | float | TooLarge:
    text = str(tok)
    if _INT.fullmatch(text):
        # Why the digit cap: int() refuses > 4300 digits, and any huge value would only be
        # echoed back in full by later messages; the validator reports it as too large.
        return int(text) if len(text.lstrip("+-")) <= MAX_DIGITS else TooLarge(text)
    return float(text)  # 1e999 is inf: the validator says it must be a finite number


def _plain(value: Any) -> int | float | str | Call | TooLarge:
    if isinstance(value, Call):
        return value
    if value.type == "NUMBER":
        return _number(value)
    try:
        with warnings.catch_warnings():  # Why: '\q' warns (an error under -W error)
            warnings.simplefilter("ignore")
            decoded = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        decoded = str(value)[1:-1]
    return decoded if isinstance(decoded, str) else str(value)[1:-1]
