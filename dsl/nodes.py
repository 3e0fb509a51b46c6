"""AST of the .net language: frozen dataclasses, every node with the `Span` it came from.

Stage 1's output (`netc.dsl.parse`). The AST is op-agnostic: `affine(784, 50)` and a block
name such as `hidden` are both `Call`s here; `compiler/expand.py` tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..source import Source, Span


@dataclass(frozen=True, slots=True)
class Call:
    """`name`, `name(args)`: a layer, a block reference, or (as an argument) a named value."""

    name: str
    args: tuple[Arg, ...]
    span: Span
    name_span: Span
    has_parens: bool


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument: positional when `name` is None. Identifiers arrive as a paren-less Call."""

    name: str | None
    value: Value
    span: Span
    value_span: Span


@dataclass(frozen=True, slots=True)
class TooLarge:
    """A whole-number literal of more than `MAX_DIGITS` digits (Python's `int()` refuses
    over 4300). Kept as text so the validator says it is too large, not "got inf"."""

    text: str

    def describe(self) -> str:
        """`a number with 5000 digits` (the literal itself when it is short)."""
        if len(self.text) <= 24:
            return self.text
        return f"a number with {sum(c.isdigit() for c in self.text)} digits"


MAX_DIGITS = 100  # Why: no width, count or rate needs more; longer literals are typos or attacks

Value = int | float | str | Call | TooLarge


@dataclass(frozen=True, slots=True)
class Repeat:
    """`body * count`; the count is checked (a positive whole number) by the expander."""

    body: Stage
    count: int | float | TooLarge
    count_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class Pipeline:
    """`a -> b -> c`; `depth` is the parenthesis nesting, so limits need no recursion."""

    stages: tuple[Stage, ...]
    span: Span
    depth: int = 0


Stage = Call | Pipeline | Repeat


@dataclass(frozen=True, slots=True)
class Definition:
    """`name = pipeline`: a reusable block."""

    name: str
    name_span: Span
    body: Pipeline
    span: Span


@dataclass(frozen=True, slots=True)
class Declaration:
    """`key: args`: a setting for input, data, optimizer, training or initialisation."""

    key: str
    key_span: Span
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Program:
    """A whole file: statements in source order, and the source they came from."""

    definitions: tuple[Definition, ...]
    declarations: tuple[Declaration, ...]
    pipelines: tuple[Pipeline, ...]
    source: Source
