"""Tooling (outside the compile pipeline): a Pygments lexer for `.net` specs.

Registered as the Pygments plugin `net` (entry point `pygments.lexers`), so
`pygmentize -l net`, Sphinx and MkDocs highlight ```net blocks. Like the grammar
(dsl/grammar.lark), the lexer knows no op names: which names are ops, combinators,
settings and optimizers is read from the registry on first use, so a new op is highlighted
without editing this file. Pygments is the optional extra `netc[highlight]`.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from pygments.lexer import RegexLexer, bygroups
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    _TokenType,
)

__all__ = ["NetLexer", "name_kinds"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_WS = r"[ \t]*"


@cache
def name_kinds() -> dict[str, _TokenType]:
    """Registry name -> token type: ops and combinators, optimizers, settings.

    Imported on first use, not when Pygments loads the plugin: Pygments imports every
    plugin lexer to look one up, and the registry pulls in pydantic."""
    from netc.compiler import expectations
    from netc.compiler.registry import OPS, OPTIMIZERS, SETTINGS
    from netc.compiler.unroll import COMBINATORS

    kinds: dict[str, _TokenType] = {name: Keyword for name in SETTINGS}
    kinds.update({name: Keyword.Type for name in OPTIMIZERS})
    kinds.update({name: Name.Builtin for name in (*OPS, *COMBINATORS, expectations.NAME)})
    return kinds


def _name(lexer: RegexLexer, match) -> Iterator[tuple[int, _TokenType, str]]:
    """A bare name: an op (Name.Builtin), an optimizer (Keyword.Type), else a plain Name.
    A setting's name outside `key:` is a plain name (`data` may name a tensor)."""
    kind = name_kinds().get(match.group())
    yield match.start(), Name if kind in (None, Keyword) else kind, match.group()


def _setting(lexer: RegexLexer, match) -> Iterator[tuple[int, _TokenType, str]]:
    """`key:` at a line's start: a known setting is a Keyword; another name is a named
    input's (`src: tokens` continued on its own line), so a misspelt key stands out."""
    indent, key, gap, colon = match.group(1, 2, 3, 4)
    kind = Keyword if name_kinds().get(key) is Keyword else Name.Variable
    pos = match.start()
    for text, token in ((indent, Text.Whitespace), (key, kind), (gap, Text.Whitespace),
                        (colon, Punctuation)):
        if text:
            yield pos, token, text
        pos += len(text)


class NetLexer(RegexLexer):
    """Lexer for netc's `.net` network specs."""

    name = "netc"
    aliases = ["net", "netc"]
    filenames = ["*.net"]
    mimetypes = ["text/x-netc"]

    tokens = {
        "root": [
            (r"\n", Text.Whitespace),
            (r"[ \t\f]+", Text.Whitespace),
            (r"#[^\n]*", Comment.Single),
            # `optimizer: adam(lr=0.001)`; `tgt[:-1]` and `h.last` never start with `name:`.
            (rf"^({_WS})({_NAME})({_WS})(:)(?![ \t]*[-+0-9]*[ \t]*\])", _setting),
            # A block being defined: `hidden = ...`, `stage(n, p=1) = ...`, at column 0
            # (an indented `lr=0.1` continues a call's arguments).
            (rf"^{_NAME}(?=[ \t]*(\([^()\n]*\))?[ \t]*=(?![>=]))", Name.Function),
            # The tensor a pipeline is bound to: `... => h`.
            (rf"(=>)({_WS})({_NAME})", bygroups(Operator, Text.Whitespace, Name.Variable)),
            (r"->", Operator),
            (rf"(\*)({_WS})([0-9]+)", bygroups(Operator, Text.Whitespace, Number.Integer)),
            # Weight labels: `embed(650)@E` defines one, `affine(tied=E)` reads it.
            (rf"(@)({_WS})({_NAME})", bygroups(Operator, Text.Whitespace, Name.Label)),
            (rf"(tied)({_WS})(=)({_WS})({_NAME})",
             bygroups(Name.Attribute, Text.Whitespace, Operator, Text.Whitespace, Name.Label)),
            (rf"({_NAME})({_WS})(=)(?![>=])", bygroups(Name.Attribute, Text.Whitespace, Operator)),
            # `input: src: tokens`: a named input.
            (rf"({_NAME})({_WS})(:)", bygroups(Name.Variable, Text.Whitespace, Punctuation)),
            # `tgt[:-1]`, `tgt[1:]`: one slice, as dsl/grammar.lark's SLICE.
            (r"(\[)([ \t]*)([+-]?[0-9]+)?([ \t]*)(:)([ \t]*)([+-]?[0-9]+)?([ \t]*)(\])",
             bygroups(Punctuation, Text.Whitespace, Number.Integer, Text.Whitespace,
                      Punctuation, Text.Whitespace, Number.Integer, Text.Whitespace,
                      Punctuation)),
            # `h.last`: a tensor and its field.
            (rf"({_NAME})(\.)({_NAME})", bygroups(Name.Variable, Punctuation, Name.Attribute)),
            # `1x28x28`: the `x` between a shape's sizes (names never start with a digit).
            (r"(?<=[0-9])x(?=[0-9])", Operator),
            (r"[+-]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", Number.Float),
            (r"[+-]?[0-9]+[eE][+-]?[0-9]+", Number.Float),
            (r"[+-]?[0-9]+", Number.Integer),
            (r'"([^"\\\n]|\\.)*"', String.Double),
            (r"'([^'\\\n]|\\.)*'", String.Single),
            (_NAME, _name),
            (r"=", Operator),
            (r"[(),]", Punctuation),
        ],
    }
