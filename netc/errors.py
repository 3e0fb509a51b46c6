"""Shared error types and their rendering: `path:line:col: error: message`, the line, a caret.

`NetcError` is everything a user can fix (the CLI prints it and exits 1, never a traceback).
`SpecError` and its subclasses are faults in spec text and carry located `Diagnostic`s.
`InternalError` is a broken invariant in netc itself and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .source import Source, Span


@dataclass(frozen=True)
class Diagnostic:
    """One problem: a stable `code`, a message, where it is, and what to do about it."""

    code: str
    message: str
    span: Span | None = None
    loc: tuple[Any, ...] = ()
    hint: str | None = None
    notes: tuple[str, ...] = ()
    # "warning": legal but almost surely wrong (`netc lint`, compiler/lint.py); never raised.
    severity: str = "error"

    def to_json(self) -> dict[str, Any]:
        """Plain data for `netc check --json` (editors and scripts)."""
        s = self.span
        return {
            "code": self.code,
            "message": self.message,
            "path": s.path if s else None,
            "line": s.line if s else None,
            "column": s.column if s else None,
            "end_line": s.end_line if s else None,
            "end_column": s.end_column if s else None,
            "loc": [str(p) for p in self.loc],
            "hint": self.hint,
            "notes": list(self.notes),
            "severity": self.severity,
        }


class NetcError(Exception):
    """Root of every error a user can fix."""


class DataError(NetcError, ValueError):
    """Data, files or checkpoints that cannot be used as asked; the message names the file."""


class TrainingError(NetcError):
    """Training stopped for a reason the user can act on (a diverged loss)."""


class MissingDependencyError(NetcError):
    """An optional extra (`pip install 'netc[onnx]'`) or a program a command needs is missing."""


class NetcWarning(UserWarning):
    """Something the user should know that does not stop the command (a loss that keeps
    growing); the CLI prints it as one `warning:` line, the Python API as a Python warning."""


class InternalError(RuntimeError):
    """A broken invariant inside netc: a bug, reported with its traceback."""


class SpecError(NetcError, ValueError):
    """Something wrong in spec text; holds one or more located diagnostics."""

    def __init__(self, diagnostics: Sequence[Diagnostic], source: Source | None = None) -> None:
        unique = {(d.code, d.message, d.span): d for d in reversed(list(diagnostics))}
        # Why: a faulty block used three times is one fault; report it once.
        self.diagnostics = tuple(sorted(unique.values(), key=_position))
        self.source = source
        first = self.diagnostics[0] if self.diagnostics else None
        span = first.span if first else None
        self.path = span.path if span else (source.path if source else None)
        self.line = span.line if span else None
        self.column = span.column if span else None
        self.code = first.code if first else None
        super().__init__(render(self.diagnostics, source))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.diagnostics, self.source))


class SpecSyntaxError(SpecError):
    """The text does not follow the grammar."""


class SpecValidationError(SpecError):
    """A call's arguments are wrong: unknown op or keyword, a missing or out-of-range value."""


class SpecStructureError(SpecError):
    """The pipeline is ill-formed: loss count or place, undefined or recursive names, repeats."""


class SpecShapeError(SpecError):
    """Neighbouring layers disagree on a width, or a width cannot be inferred."""


class SpecLimitError(SpecError):
    """The network would be larger than netc allows; raised before anything is allocated."""


def _position(d: Diagnostic) -> tuple[int, int, int]:
    return (0, d.span.start, d.span.end) if d.span else (1, 0, 0)


_WINDOW = 100  # Why: a 5 MB one-line spec must not print 5 MB under its error
_MAX_TEXT = 300  # longest message, hint or note shown (a huge name is cut in the middle)
MAX_SHOWN = 20  # diagnostics rendered; `--json` still lists them all
MAX_NOTES = 8  # notes rendered per diagnostic: the first few and the last few


_PICTURES = {c: 0x2400 + c for c in range(32)} | {0x7F: 0x2421}
# C1 controls (0x9B is a one-byte escape sequence) and bidirectional overrides have no
# picture: each shows as one U+FFFD, which keeps the caret in its column.
_PICTURES |= dict.fromkeys([*range(0x80, 0xA0), 0x200E, 0x200F, *range(0x202A, 0x202F),
                            *range(0x2066, 0x206A)], 0xFFFD)


def _clip(text: str, limit: int = _MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return text[:half] + "…" + text[-half:]


def _excerpt(text: str, column: int, width: int) -> tuple[str, int, int]:
    """At most `_WINDOW` characters of `text` around `column` (1-based), with "…" where cut.

    Returns the shown text, the 0-based offset of the caret in it, and the underline width.
    """
    # Why: tabs become one space and other control characters (a NUL byte, an escape
    # sequence) their one-column picture (U+2400...), so the caret stays aligned and
    # nothing from the file can drive the terminal.
    text = text.expandtabs(1).translate(_PICTURES)
    if len(text) <= _WINDOW:
        return text, column - 1, width
    start = max(0, min(column - 1 - _WINDOW // 3, len(text) - _WINDOW))
    end = min(len(text), start + _WINDOW)
    shown = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return shown, column - 1 - start + (1 if start else 0), min(width, end - column + 1)


def render_one(d: Diagnostic, source: Source | None = None) -> str:
    """`path:line:col: error: message`, the source line, a caret under the span, hint, notes."""
    s = d.span
    message = _clip(d.message)
    if s is None:
        where = (source.path + ": ") if source else ""
        loc = _clip(" -> ".join(str(p) for p in d.loc))
        head = f"{where}{d.severity}: {message}" + (f" (at {loc})" if loc else "")
        lines = [head]
    else:
        lines = [f"{s.path}:{s.line}:{s.column}: {d.severity}: {message}"]
        text = source.line_text(s.line) if source is not None else ""
        if text:
            width = (s.end_column - s.column) if s.end_line == s.line else len(text) - s.column + 1
            shown, caret, width = _excerpt(text, s.column, width)
            lines.append(f"  {shown}")
            lines.append("  " + " " * caret + "^" + "~" * max(0, width - 1))
    lines.extend(f"  note: {_clip(n)}" for n in _capped(d.notes))
    if d.hint:
        lines.append(f"  hint: {_clip(d.hint)}")
    return "\n".join(lines)


def _capped(notes: Sequence[str]) -> Sequence[str]:
    """At most `MAX_NOTES` notes: both ends, and how many were left out between them."""
    if len(notes) <= MAX_NOTES:
        return notes
    head, tail = MAX_NOTES // 2, MAX_NOTES // 2 - 1
    hidden = len(notes) - head - tail
    return [*notes[:head], f"… {hidden:,} more notes …", *notes[-tail:]]


def render(diagnostics: Iterable[Diagnostic], source: Source | None = None) -> str:
    """The diagnostics in source order, separated by blank lines (at most `MAX_SHOWN`)."""
    ds = list(diagnostics)
    text = "\n\n".join(render_one(d, source) for d in ds[:MAX_SHOWN])
    if len(ds) > MAX_SHOWN:
        more = len(ds) - MAX_SHOWN
        text += f"\n\n… and {more:,} more error{'s' if more != 1 else ''} (fix these first)"
    return text
