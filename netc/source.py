"""Stage 0, read: bytes or text -> `Source` (normalised text plus its path), and `Span`s into it.

Every later stage points at the user's text through a `Span`; this module is the one place that
knows how offsets map to 1-based lines and character columns.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

STRING_PATH = "<string>"


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
        from .errors import DataError

        p = Path(path)
        try:
            raw = p.read_bytes()
        except IsADirectoryError:
            raise DataError(f"{p}: is a directory, not a spec file") from None
        except FileNotFoundError:
            raise DataError(f"{p}: no such file") from None
        except OSError as e:
            raise DataError(f"{p}: cannot read: {e.strerror or e}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            raise DataError(
                f"{p}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})"
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
