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
    label: str | None = None  # `embed(650)@E`: the weight label `E`
    label_span: Span | None = None
    depth: int = 0  # argument nesting: `residual(residual(f))` is 1; literals and names 0


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument: positional when `name` is None. Identifiers arrive as a paren-less Call;
    an argument of more than one stage is a `Pipeline`, `f * 2` a `Repeat`."""

    name: str | None
    value: Value
    span: Span
    value_span: Span
    colon: bool = False  # written `name: value` (`input: src: tokens`), not `name=value`


@dataclass(frozen=True, slots=True)
class TensorRef:
    """A named tensor: `h.last` (`attr`), `tgt[:-1]` (`sliced`, with `start`/`stop` None where
    a bound is left out). `name_span` covers `name` alone."""

    name: str
    attr: str | None
    start: int | None
    stop: int | None
    sliced: bool
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Dims:
    """`1x28x28`: an image shape, as written (`text`) and as numbers."""

    dims: tuple[int, ...]
    text: str


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



@dataclass(frozen=True, slots=True)
class Repeat:
    """`body * count`; the count is checked (a positive whole number) by the expander."""

    body: Stage
    count: int | float | TooLarge
    count_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class Pipeline:
    """`a -> b -> c`, or `a -> b => h` (a statement binding its value to `h`). `depth` is the
    parenthesis nesting, groups and arguments both, so limits need no recursion."""

    stages: tuple[Stage, ...]
    span: Span
    depth: int = 0
    bind: str | None = None
    bind_span: Span | None = None


Stage = Call | Pipeline | Repeat | TensorRef
Value = int | float | str | Call | TooLarge | TensorRef | Dims | Pipeline | Repeat


@dataclass(frozen=True, slots=True)
class Param:
    """A block parameter: `n` (no default) or `p=1` in `cbr(n, p=1) = ...`."""

    name: str
    default: Value | None
    span: Span


@dataclass(frozen=True, slots=True)
class Definition:
    """`name = pipeline` or `name(params) = pipeline`: a reusable block."""

    name: str
    name_span: Span
    body: Pipeline
    span: Span
    params: tuple[Param, ...] = ()


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
