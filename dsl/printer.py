"""Stage 1's inverse for people: spec text -> the same spec in one canonical layout (`netc fmt`).

Token based, so comments survive: the source is lexed with the grammar's own terminals
(comments and newlines kept), split into statements with the parser's line-joining rule, and
printed again. The layout:

- a leading comment block stays on top; then settings (source order), blocks (source
  order), the pipeline; one blank line between these groups, and single blank lines
  inside a group kept where the source had them;
- ` -> ` between stages, ` * ` before a repeat count, ` => ` before a bound name, ` = `
  after a block's head, `key: args`, `name(a, b, k=v)`, `input: src: tokens`,
  `embed(650)@E`, `tgt[:-1]`; numbers as written; strings in double quotes;
- a pipeline on one line if it fits in 88 columns and has no comment inside, else one
  stage per line with a leading `->` indented by 4;
- each comment stays after the stage it followed (or above the statement it preceded).

Only text that parses is formatted (`format_source` parses first), so the tokens are a valid
program and reordering whole statements cannot change its meaning.
"""

from __future__ import annotations

import ast
import json
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

from lark import Lark, Token

from ..source import Source
from .parser import _JOIN_AFTER, _JOIN_BEFORE, parse

WIDTH = 88
INDENT = "    "
_SPACED = frozenset({"ARROW", "STAR", "BIND"})  # a space on both sides
_NO_SPACE_AFTER = frozenset({"LPAR"})
_NO_SPACE_BEFORE = frozenset({"RPAR", "COMMA", "LPAR", "COLON"})


@dataclass
class _Statement:
    tokens: list[Token]
    leading: list[tuple[bool, str]] = field(default_factory=list)  # (blank line before, text)
    blank_before: bool = False  # a blank line between the leading comments and the statement
    comments: dict[int, list[str]] = field(default_factory=dict)  # token index -> comments

    @property
    def group(self) -> int:
        """0 settings, 1 blocks, 2 pipelines: the order of groups in the output."""
        second = self.tokens[1].type if len(self.tokens) > 1 else ""
        return 0 if second == "COLON" else 1 if self.head > 0 else 2

    @property
    def head(self) -> int:
        """Index of the block's `=` (`cbr(n, p=1) = ...`: the only `=` outside parentheses
        of a statement that is not a setting), or 0 for a pipeline."""
        depth = 0
        for i, tok in enumerate(self.tokens):
            depth += (tok.type == "LPAR") - (tok.type == "RPAR")
            if tok.type == "EQ" and depth == 0:
                return i
            if tok.type in ("ARROW", "COLON", "BIND") and depth == 0:
                return 0
        return 0


@lru_cache(maxsize=1)
def _lexer() -> Lark:
    # Why a second Lark: the parser's post-lexer drops continuation newlines, and the
    # printer needs every newline and comment exactly where it was.
    return Lark.open("grammar.lark", rel_to=__file__, parser="lalr", lexer="basic")


def format_source(source: Source | str) -> str:
    """The canonical text of a spec; raises `SpecSyntaxError` if it does not parse."""
    if isinstance(source, str):
        source = Source.from_text(source)
    parse(source)
    tokens = [t for t in _lexer().lex(source.text, dont_ignore=True) if t.type != "WS"]
    header, statements, footer = _statements(tokens)
    return _emit(header, statements, footer)


def _statements(tokens: list[Token]) -> tuple[list[tuple[bool, str]], list[_Statement],
                                              list[tuple[bool, str]]]:
    """Group tokens into statements; attach each comment to a statement or the header/footer."""
    statements: list[_Statement] = []
    pending: list[tuple[bool, str]] = []  # own-line comments waiting for their statement
    current: _Statement | None = None
    depth, newlines, last_line = 0, 2, 0
    for i, tok in enumerate(tokens):
        if tok.type == "_NL":
            newlines += 1
            continue
        blank = newlines >= 2 and bool(statements or pending or current)
        if tok.type == "COMMENT":
            text = str(tok).rstrip()
            if current is not None and (tok.line == last_line or _continues(current, tokens, i,
                                                                               depth)):
                current.comments.setdefault(len(current.tokens) - 1, []).append(text)
            else:
                _close(statements, current)
                current = None
                pending.append((blank, text))
            newlines = 0
            continue
        if current is not None and newlines and depth == 0 \
                and current.tokens[-1].type not in _JOIN_AFTER and tok.type not in _JOIN_BEFORE:
            _close(statements, current)
            current = None
        if current is None:
            current = _Statement([], pending, blank)
            pending = []
        depth += (tok.type == "LPAR") - (tok.type == "RPAR" and depth > 0)
        current.tokens.append(tok)
        newlines, last_line = 0, tok.line
    _close(statements, current)
    header: list[tuple[bool, str]] = []
    if statements and statements[0].leading:
        header, statements[0].leading = statements[0].leading, []
    return header, statements, pending


def _continues(stmt: _Statement, tokens: list[Token], i: int, depth: int) -> bool:
    """Does the statement go on after the own-line comment at `tokens[i]`?"""
    nxt = next((t for t in tokens[i + 1:] if t.type not in ("_NL", "COMMENT")), None)
    return nxt is not None and (depth > 0 or stmt.tokens[-1].type in _JOIN_AFTER
                                or nxt.type in _JOIN_BEFORE)


def _close(statements: list[_Statement], stmt: _Statement | None) -> None:
    if stmt is not None and stmt.tokens:
        statements.append(stmt)


def _emit(header: list[tuple[bool, str]], statements: list[_Statement],
          footer: list[tuple[bool, str]]) -> str:
    lines = _comment_lines(header, start=False)
    after_header = statements[0].blank_before if statements else False
    previous = None
    for stmt in sorted(statements, key=lambda s: s.group):  # stable: source order kept
        if lines:
            if previous is None:
                gap = after_header
            else:
                own = stmt.leading[0][0] if stmt.leading else stmt.blank_before
                gap = stmt.group != previous or own
            lines += [""] if gap else []
        lines += _comment_lines(stmt.leading, start=False)
        lines += [""] if stmt.leading and stmt.blank_before else []
        lines += _statement_lines(stmt)
        previous = stmt.group
    lines += _comment_lines(footer, start=bool(lines))
    return "\n".join(lines) + "\n" if lines else ""


def _comment_lines(comments: list[tuple[bool, str]], *, start: bool) -> list[str]:
    """Own-line comments, keeping one blank line where the source had any (not at the top)."""
    out: list[str] = []
    for k, (blank, text) in enumerate(comments):
        if blank and (k or start):
            out.append("")
        out.append(text)
    return out


def _statement_lines(stmt: _Statement) -> list[str]:
    """One line, or the head line and one `    -> stage` line per further stage."""
    toks, head = stmt.tokens, 0
    if stmt.group in (0, 1):
        head = 2 if stmt.group == 0 else stmt.head + 1
    segments: list[tuple[int, int]] = []  # [start, end) token ranges of top-level stages
    depth, start = 0, head
    for i in range(head, len(toks)):
        depth += (toks[i].type == "LPAR") - (toks[i].type == "RPAR")
        if toks[i].type == "ARROW" and depth == 0:
            segments.append((start, i))
            start = i + 1
    segments.append((start, len(toks)))
    prefix = _prefix(toks, stmt.group, head)
    texts = [_join(toks[a:b]) for a, b in segments]
    notes = [_notes(stmt, 0 if k == 0 else a, b, last=k == len(segments) - 1)
             for k, (a, b) in enumerate(segments)]
    one_line = prefix + " -> ".join(texts)
    if len(one_line) <= WIDTH and not any(notes[:-1]) or len(segments) == 1:
        comment = " ".join(c for n in notes for c in n)
        return [one_line + (f"  {comment}" if comment else "")]
    out = [prefix + texts[0]] + [f"{INDENT}-> {t}" for t in texts[1:]]
    return [line + (f"  {' '.join(n)}" if n else "") for line, n in zip(out, notes, strict=True)]


def _prefix(toks: list[Token], group: int, head: int) -> str:
    if group == 0:
        return f"{toks[0]}: "
    return f"{_join(toks[:head - 1])} = " if group == 1 else ""


def _notes(stmt: _Statement, a: int, b: int, *, last: bool) -> list[str]:
    """Comments that followed a token of the stage `[a, b)` or its arrow (`b`); the first
    stage (`a` = 0) also takes those after the head (`name =`, `key:`)."""
    hi = b + 1 if not last else len(stmt.tokens)
    return [c for i in range(a, hi) for c in stmt.comments.get(i, ())]


def _join(toks: list[Token]) -> str:
    """Tokens with canonical spacing; a trailing comma before `)` is dropped."""
    out: list[str] = []
    for i, tok in enumerate(toks):
        nxt = toks[i + 1].type if i + 1 < len(toks) else None
        if tok.type == "COMMA" and nxt == "RPAR":
            continue
        text = _string(str(tok)) if tok.type == "STRING" else str(tok)
        if tok.type == "SLICE":  # `tgt[ : -1 ]` -> `tgt[:-1]`
            text = "".join(text.split())
        if out:
            prev = toks[i - 1]
            if tok.type in ("SLICE", "AT") or prev.type == "AT":
                pass
            elif tok.type in _SPACED or prev.type in _SPACED:
                out.append(" ")
            elif tok.type == "LPAR" and prev.type in ("NAME", "LPAR") or tok.type == "EQ" \
                    or prev.type == "EQ":
                pass
            elif tok.type not in _NO_SPACE_BEFORE and prev.type not in _NO_SPACE_AFTER:
                out.append(" ")
        out.append(text)
    return "".join(out)


def _string(text: str) -> str:
    """A single-quoted string as a double-quoted one with the same value (as the parser
    decodes it); anything that would not round-trip is left as written."""
    if text.startswith('"'):
        return text
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ast.literal_eval(text)
            new = json.dumps(value, ensure_ascii=False)
            if ast.literal_eval(new) == value and "\n" not in new:
                return new
    except (ValueError, SyntaxError, TypeError):
        pass
    return text
