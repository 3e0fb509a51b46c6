"""Parse tree -> AST: Lark callbacks that build `nodes` with spans taken from tokens.

Used as Lark's inline (LALR) transformer, so nodes are built during the parse, bottom-up and
without recursion. Why total: Lark wraps any exception raised here in a `VisitError`, so this
module never raises for user input; odd values (huge numbers, bad escapes) pass through and
the validator reports them with their location. The few slips only visible once a rule is
complete (a block parameter that is not a name) go to `problems`, which the parser raises.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import replace
from typing import Any

from lark import Token, Transformer

from ..errors import Diagnostic
from ..source import Span
from .nodes import (
    MAX_DIGITS,
    Arg,
    Call,
    Declaration,
    Definition,
    Dims,
    Param,
    Pipeline,
    Repeat,
    Stage,
    TensorRef,
    TooLarge,
    Value,
)

_INT = re.compile(r"[+-]?[0-9]+")  # ASCII, as the grammar's NUMBER
_PARAM_HINT = "a block's parameters are names, with an optional default: `cbr(n, p=1) = ...`"


class ToNodes(Transformer):
    """Builds AST nodes; `path` is set and `problems` emptied by the parser before each
    parse (spans carry the path)."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)
        self.path = "<string>"
        self.problems: list[Diagnostic] = []

    def _span(self, first: Any, last: Any | None = None) -> Span:
        a = _bounds(first)
        b = _bounds(last if last is not None else first)
        return Span(self.path, a[0], a[1], b[2], b[3], a[4], b[5])

    def _part(self, tok: Token, a: int, b: int) -> Span:
        """The span of `tok`'s characters [a, b) (tokens of a single line)."""
        return Span(self.path, tok.line, tok.column + a, tok.line, tok.column + b,
                    tok.start_pos + a, tok.start_pos + b)

    def start(self, children: list[Any]) -> list[Any]:
        return [c for c in children if c is not None]

    def definition(self, c: list[Any]) -> Definition:
        head, _eq, body = c
        if head.label_span is not None:
            self.problems.append(Diagnostic(
                "bad_parameter", "a block definition takes no weight label", head.label_span,
                hint="put the label on a call inside the block, e.g. `embed(650)@E`"))
        return Definition(head.name, head.name_span, body, self._span(head, body),
                          self._params(head.args))

    def _params(self, args: tuple[Arg, ...]) -> tuple[Param, ...]:
        params: list[Param] = []
        for arg in args:
            v = arg.value
            if arg.name is not None and not arg.colon:
                param = Param(arg.name, v, arg.span)
            elif isinstance(v, Call) and not v.has_parens and v.label is None:
                param = Param(v.name, None, arg.span)
            else:
                self.problems.append(Diagnostic(
                    "bad_parameter", "a block parameter must be a name", arg.value_span,
                    hint=_PARAM_HINT))
                continue
            if any(p.name == param.name for p in params):
                self.problems.append(Diagnostic(
                    "bad_parameter", f"parameter {param.name!r} is given twice", arg.span))
            elif param.default is None and any(p.default is not None for p in params):
                self.problems.append(Diagnostic(
                    "bad_parameter", f"parameter {param.name!r} has no default but follows "
                    "one that has", arg.span, hint="put the parameters without a default first"))
            params.append(param)
        return tuple(params)

    def declaration(self, c: list[Any]) -> Declaration:
        key, _colon, args = c
        return Declaration(str(key), self._span(key), tuple(args), self._span(key, args[-1]))

    def pipeline(self, c: list[Any]) -> Pipeline:
        stages = tuple(x for x in c if not isinstance(x, Token))
        depth = max((_depth(s) for s in stages), default=0)
        return Pipeline(stages, self._span(c[0], c[-1]), depth)

    def bound(self, c: list[Any]) -> Pipeline:
        pipeline, _bind, name = c
        return replace(pipeline, span=self._span(pipeline, name), bind=str(name),
                       bind_span=self._span(name))

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
        has_parens = len(c) > 1 and isinstance(c[1], Token) and c[1].type == "LPAR"
        args = tuple(c[2] or ()) if has_parens else ()
        labelled = len(c) >= 3 and isinstance(c[-2], Token) and c[-2].type == "AT"
        label = c[-1] if labelled else None
        span = self._span(name, c[-1])
        depth = max((_nesting(a.value) for a in args), default=0)
        return Call(str(name), args, span, self._span(name), has_parens,
                    None if label is None else str(label),
                    None if label is None else self._span(label), depth)

    def ref(self, c: list[Token]) -> TensorRef:
        head = c[0]
        text = str(head)
        name, _, attr = text.partition(".")
        start = stop = None
        if len(c) > 1:
            start, stop = self._slice(c[1])
        return TensorRef(name, attr or None, start, stop, len(c) > 1, self._span(head, c[-1]),
                         self._part(head, 0, len(name)))

    def _slice(self, tok: Token) -> tuple[int | None, int | None]:
        bounds = []
        for text in str(tok)[1:-1].split(":"):
            digits = text.strip().lstrip("+-")
            if len(digits) > MAX_DIGITS:
                self.problems.append(Diagnostic(
                    "bad_slice", f"a slice bound of {len(digits)} digits is too large",
                    self._span(tok), hint="slice bounds are small whole numbers: `tgt[:-1]`"))
            bounds.append(int(text) if text.strip() and len(digits) <= MAX_DIGITS else None)
        return bounds[0], bounds[1]

    def args(self, c: list[Any]) -> list[Arg]:
        return [self._positional(x) if not isinstance(x, Arg) else x for x in c if x is not None
                and not (isinstance(x, Token) and x.type == "COMMA")]

    def keyword(self, c: list[Any]) -> Arg:
        name, _eq, value = c
        vspan = self._value_span(value)
        return Arg(str(name), _plain(value), self._span(name, value), vspan)

    def named(self, c: list[Any]) -> Arg:
        name, _colon, value = c
        return Arg(str(name), _plain(value), self._span(name, value), self._value_span(value),
                   colon=True)

    def argpipe(self, c: list[Pipeline]) -> Value:
        """An argument of one stage is that stage (`f(g(1))` holds a Call, as before)."""
        (pipeline,) = c
        return pipeline.stages[0] if len(pipeline.stages) == 1 else pipeline

    def number(self, c: list[Token]) -> Token:
        return c[0]

    def string(self, c: list[Token]) -> Token:
        return c[0]

    def dims(self, c: list[Token]) -> Token:
        return c[0]

    def _positional(self, value: Any) -> Arg:
        span = self._value_span(value)
        return Arg(None, _plain(value), span, span)

    def _value_span(self, value: Any) -> Span:
        return self._span(value) if isinstance(value, Token) else value.span


def _bounds(item: Any) -> tuple[int, int, int, int, int, int]:
    if isinstance(item, Token):
        return (item.line, item.column, item.end_line, item.end_column,
                item.start_pos, item.end_pos)
    if isinstance(item, list):
        return _bounds(item[0])[:2] + _bounds(item[-1])[2:4] + (
            _bounds(item[0])[4], _bounds(item[-1])[5])
    s = item.span
    return (s.line, s.column, s.end_line, s.end_column, s.start, s.end)


def _depth(stage: Any) -> int:
    """Nesting of a stage (or argument value): its groups' and arguments' parentheses."""
    while isinstance(stage, Repeat):
        stage = stage.body
    return stage.depth if isinstance(stage, Pipeline | Call) else 0


def _nesting(value: Any) -> int:
    """What an argument adds to its call's depth: a call with parentheses, a pipeline or a
    repeat nest one level inside the call's '(' (so `residual(residual(f))` nests); a
    number or a bare name adds nothing, so `affine(10, init=he)` keeps depth 0."""
    if isinstance(value, Call):
        return value.depth + 1 if value.has_parens else 0
    if isinstance(value, Pipeline | Repeat):
        return _depth(value) + 1
    return 0


def _number(tok: Token) -> int | float | TooLarge:
    text = str(tok)
    if _INT.fullmatch(text):
        # Why the digit cap: int() refuses > 4300 digits, and any huge value would only be
        # echoed back in full by later messages; the validator reports it as too large.
        return int(text) if len(text.lstrip("+-")) <= MAX_DIGITS else TooLarge(text)
    return float(text)  # 1e999 is inf: the validator says it must be a finite number


def _dims(text: str) -> Dims | TooLarge:
    parts = text.split("x")
    if any(len(p) > MAX_DIGITS for p in parts):
        return TooLarge(text)
    return Dims(tuple(int(p) for p in parts), text)


def _plain(value: Any) -> Value:
    if not isinstance(value, Token):
        return value
    if value.type == "NUMBER":
        return _number(value)
    if value.type == "DIMS":
        return _dims(str(value))
    try:
        with warnings.catch_warnings():  # Why: '\q' warns (an error under -W error)
            warnings.simplefilter("ignore")
            decoded = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        decoded = str(value)[1:-1]
    return decoded if isinstance(decoded, str) else str(value)[1:-1]
