"""The language server's answers as pure functions (`netc lsp`, netc/lsp.py speaks the protocol).

Stage: an editor front end over the compiler. `analyse` runs the same stages as `netc check`
and `netc lint` (read -> parse -> expand -> validate -> check -> lower -> lint) on a buffer's
text and keeps what came out: the `Diagnostic`s, and the `NetPlan` when the spec compiles.
Hover, completion, definitions, formatting and inlay hints read that `Analysis`; where the
spec does not compile they answer from the text alone, or not at all, and never raise.
Positions here are 0-based (line, character), as the protocol counts them; netc's spans
count characters, which equal UTF-16 units everywhere outside the astral planes.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from typing import Any

from .errors import Diagnostic, NetcError, SpecError
from .source import Source, Span

Position = tuple[int, int]  # 0-based line, character
Range = tuple[Position, Position]

_TOKEN = re.compile(r'(?P<str>"[^"\n]*"?)|(?P<com>#[^\n]*)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)'
                    r"|(?P<op>=>|->|[=@(),:.\[\]*])|(?P<nl>\n)|[^\S\n]+|.")


@dataclass(frozen=True)
class Token:
    kind: str  # "id", "op", "nl", "str", "num"...
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class Symbol:
    """A name the document defines: a block (`body = ...`), a tensor (`=> h`, `input: src:`)
    or a weight label (`@E`), where it is defined and where it is used."""

    kind: str  # "block", "tensor" or "label"
    name: str
    definition: Token
    statement: tuple[int, int]  # offsets of the defining statement (a block's whole body)
    uses: list[Token] = field(default_factory=list)


@dataclass
class Analysis:
    """One version of a document, compiled once: its problems, its plan (None when it does
    not compile), its tokens and the symbols it defines."""

    source: Source
    diagnostics: list[Diagnostic]
    plan: Any = None
    tokens: list[Token] = field(default_factory=list)
    symbols: dict[tuple[str, str], Symbol] = field(default_factory=dict)

    def offset(self, pos: Position) -> int:
        starts = self.source._line_starts
        line = min(max(pos[0], 0), len(starts) - 1)
        end = starts[line + 1] - 1 if line + 1 < len(starts) else len(self.source.text)
        return min(starts[line] + max(pos[1], 0), end)

    def position(self, offset: int) -> Position:
        line, col = self.source.line_col(offset)
        return line - 1, col - 1

    def range_of(self, start: int, end: int) -> Range:
        return self.position(start), self.position(end)

    def token_at(self, pos: Position) -> Token | None:
        at = self.offset(pos)
        return next((t for t in self.tokens if t.start <= at <= t.end and t.kind == "id"), None)

    def symbol_at(self, pos: Position) -> Symbol | None:
        tok = self.token_at(pos)
        if tok is None:
            return None
        return next((s for s in self.symbols.values()
                     if s.definition == tok or tok in s.uses), None)


def analyse(text: str, path: str = "<string>") -> Analysis:
    """Compile `text` as `netc lint` does: every error or, when it compiles, every warning."""
    from .api import vocabulary
    from .compiler.lint import lint_source

    source = Source.from_text(text, path)
    result = Analysis(source, [], tokens=tokenize(source.text))
    result.symbols = symbols(result.tokens)
    try:
        result.plan, result.diagnostics = lint_source(source, vocabulary)
    except SpecError as e:
        result.diagnostics = list(e.diagnostics)
    except NetcError as e:  # a data file the spec names cannot be read: say so at the top
        result.diagnostics = [Diagnostic("data_error", str(e))]
    except Exception as e:  # noqa: BLE001 - a bug in netc must not take the editor down
        result.diagnostics = [Diagnostic("internal_error", f"netc failed: {e!r}",
                                         hint="please report this spec as a bug")]
    return result


def tokenize(text: str) -> list[Token]:
    """Identifiers, punctuation, strings and newlines; whitespace and comments dropped.
    A lexer of its own: it must work on text the grammar refuses, mid-edit."""
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind and kind != "com":
            out.append(Token(kind, m.group(), m.start()))
    return out


def symbols(tokens: list[Token]) -> dict[tuple[str, str], Symbol]:
    """Every block, tensor and label defined, with its uses (first definition wins)."""
    found: dict[tuple[str, str], Symbol] = {}
    for i, tok in enumerate(tokens):
        kind = _defines(tokens, i)
        if kind and (kind, tok.text) not in found:
            found[(kind, tok.text)] = Symbol(kind, tok.text, tok, _statement(tokens, i))
    for i, tok in enumerate(tokens):
        if tok.kind != "id" or _defines(tokens, i):
            continue
        before = tokens[i - 1].text if i else ""
        after = tokens[i + 1].text if i + 1 < len(tokens) else ""
        if before == "." or after == "=":  # `h.last`'s attribute, a keyword's name
            continue
        tied = i >= 2 and before == "=" and tokens[i - 2].text == "tied"
        for kind in (("label",) if tied else ("block", "tensor")):
            if (kind, tok.text) in found:
                found[(kind, tok.text)].uses.append(tok)
    return found


def _defines(tokens: list[Token], i: int) -> str | None:
    """What token `i` defines, if anything: `name =`/`name(...) =` at a line's start,
    `=> name`, `@name`, or `input: name: ...`."""
    tok = tokens[i]
    if tok.kind != "id":
        return None
    before = tokens[i - 1].text if i else "\n"
    if before == "=>":
        return "tensor"
    if before == "@":
        return "label"
    if before == "\n" or i == 0:
        j = _skip_group(tokens, i + 1)
        if j < len(tokens) and tokens[j].text == "=":
            return "block"
    if before in (":", ",") and tokens[i + 1:i + 2] and tokens[i + 1].text == ":":
        line = [t for t in tokens[:i] if t.kind == "nl"]
        first = tokens[tokens.index(line[-1]) + 1] if line else tokens[0]
        return "tensor" if first.text == "input" else None
    return None


def _skip_group(tokens: list[Token], j: int) -> int:
    """The index after `( ... )` starting at `j` (`j` itself when there is none)."""
    if j >= len(tokens) or tokens[j].text != "(":
        return j
    depth = 0
    for k in range(j, len(tokens)):
        depth += (tokens[k].text == "(") - (tokens[k].text == ")")
        if depth == 0:
            return k + 1
    return len(tokens)


def _statement(tokens: list[Token], i: int) -> tuple[int, int]:
    """Offsets of the statement holding token `i`: its line and the `->` lines after it."""
    start = i
    while start and not (tokens[start - 1].kind == "nl" and tokens[start].text != "->"):
        start -= 1
    end = i
    while end + 1 < len(tokens) and not (tokens[end].kind == "nl"
                                         and tokens[end + 1].text != "->"):
        end += 1
    return tokens[start].start, tokens[end].start


# --- answers -------------------------------------------------------------------------------


def span_range(a: Analysis, span: Span | None) -> Range:
    """A diagnostic's range: its span, or the document's first character."""
    if span is None:
        return (0, 0), (0, 0)
    return (span.line - 1, span.column - 1), (span.end_line - 1, span.end_column - 1)


def message(d: Diagnostic) -> str:
    """The text an editor shows: the message, its notes and the hint, as `netc check` does."""
    lines = [d.message, *(f"note: {n}" for n in d.notes)]
    return "\n".join(lines + ([f"hint: {d.hint}"] if d.hint else []))


def definition(a: Analysis, pos: Position) -> Range | None:
    """Where the block, tensor or label under the cursor is defined."""
    sym = a.symbol_at(pos)
    return a.range_of(sym.definition.start, sym.definition.end) if sym else None


def references(a: Analysis, pos: Position, *, declaration: bool = True) -> list[Range]:
    """Every use of the name under the cursor (and its definition, with `declaration`)."""
    sym = a.symbol_at(pos)
    if sym is None:
        return []
    toks = ([sym.definition] if declaration else []) + sym.uses
    return [a.range_of(t.start, t.end) for t in toks]


def formatted(text: str, path: str = "<string>") -> str | None:
    """The text `netc fmt` would write, or None when it does not parse (or is unchanged)."""
    from .dsl.printer import format_source

    try:
        new = format_source(Source.from_text(text, path))
    except Exception:  # noqa: BLE001 - a spec that does not parse is not formatted
        return None
    return None if new == Source.from_text(text).text else new


def type_name(annotation: Any) -> str:
    """`int`, `float | None`, `'he' | 'xavier'`: a field's type as a user writes values."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(x) for x in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if args and origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        inner = [type_name(x) for x in args if x is not type(None)]
        return " | ".join(inner) + (" | None" if type(None) in args else "")
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))
