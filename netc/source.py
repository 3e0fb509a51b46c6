"""Stage 0, read: bytes or text -> `Source` (normalised text plus its path), and `Span`s into it.

Every later stage points at the user's text through a `Span`; this module is the one place that
knows how offsets map to 1-based lines and character columns.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

STRING_PATH = "<string>"
MAX_SPEC_BYTES = 8 * 1024 * 1024
"""Largest spec file read. Why 8 MiB: the parser's limit is 1,000,000 characters (at most
4 MB of UTF-8), and a larger file still gets the parser's located "too long" message; only
a file that is plainly no spec (500 MB, `/dev/zero`) is refused from its size, unread."""


@dataclass(frozen=True, slots=True)
class Span:
    """A region of spec text: 1-based line/column (characters), 0-based offsets [start, end)."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int
    end: int

    def through(self, last: Span) -> Span:
        """From the start of this span to the end of `last` (several arguments as one)."""
        return Span(self.path, self.line, self.column, last.end_line, last.end_column,
                    self.start, last.end)


@dataclass(frozen=True)
class Source:
    """Spec text after normalisation (BOM removed, CRLF/CR -> LF) and the path it came from."""

    text: str
    path: str = STRING_PATH
    _line_starts: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = [0] + [i + 1 for i, ch in enumerate(self.text) if ch == "\n"]
        object.__setattr__(self, "_line_starts", tuple(starts))

    @classmethod
    def from_text(cls, text: str, path: str = STRING_PATH) -> Source:
        """Normalise `text`: a leading BOM is dropped and every newline becomes LF."""
        text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        return cls(text, path)

    @classmethod
    def from_path(cls, path: str | Path) -> Source:
        """Read a spec file as UTF-8; any problem reading it is a `DataError` naming the file."""
        return cls.from_bytes(read_spec_bytes(path), path)

    @classmethod
    def from_bytes(cls, raw: bytes, path: str | Path) -> Source:
        """Decode a spec file's bytes as UTF-8; a `DataError` names the line of a bad byte."""
        from .errors import DataError

        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            raise DataError(
                f"{Path(path)}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
                f"{e.start})"
            ) from None
        return cls.from_text(text, str(path))

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a 0-based character offset."""
        offset = max(0, min(offset, len(self.text)))
        i = bisect.bisect_right(self._line_starts, offset) - 1
        return i + 1, offset - self._line_starts[i] + 1

    def span(self, start: int, end: int) -> Span:
        """The `Span` covering offsets [start, end)."""
        line, col = self.line_col(start)
        end_line, end_col = self.line_col(end)
        return Span(self.path, line, col, end_line, end_col, start, end)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        if not 1 <= line <= len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        stop = self.text.find("\n", start)
        return self.text[start:] if stop < 0 else self.text[start:stop]


def read_spec_bytes(path: str | Path) -> bytes:
    """The bytes of a spec file; a FIFO, a device or an oversized file is a `DataError`."""
    from .reading import read_bounded

    return read_bounded(Path(path), "spec file", MAX_SPEC_BYTES)
