"""The runtime's data stage: `.csv` tables of numbers, read line by line with a width limit.

`load_csv` returns a `Dataset` of features in the network's dtype with int64 class indices
(the last column). `csv_records` and `parse_number` are shared with `netc predict`. Numbers
are plain ASCII decimals (`float` alone would take `1_0` and Arabic-Indic digits); every
problem is a `DataError` naming `file:line`, with the offending cell escaped.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...reading import open_regular
from ...terminal import printable
from .dataset import Dataset
from .files import check_readable

MAX_LINE_CHARS = 1_000_000
"""Longest line read. Why: a 40 MB one-line file would otherwise be split into millions of
cells before anything could object; a real table of 100,000 features still fits."""
MAX_LABEL = 2**31 - 1
"""Largest class index: no layer is wider than 2**31 units (the compiler's width limit)."""

_NUMBER = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)",
    re.IGNORECASE,
)
_INTEGER = re.compile(r"\+?[0-9]+")
_BLANKS = " \t"


def parse_number(cell: str) -> float | None:
    """The number in `cell` (ASCII decimal, `inf`/`nan` included), or None if it is none."""
    text = cell.strip(_BLANKS)
    return float(text) if _NUMBER.fullmatch(text) else None


def csv_records(p: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each record of `p`; a line over `MAX_LINE_CHARS` is refused."""
    try:
        with open_regular(p, "data file") as raw, \
                io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(_lines(p, f))
            line = 0
            try:
                for cells in reader:
                    line = reader.line_num
                    yield line, cells
            except UnicodeDecodeError:
                raise DataError(f"{p}:{line + 1}: not UTF-8 text; is this really a CSV "
                                f"file?") from None
            except csv.Error as e:
                raise DataError(f"{p}:{line + 1}: malformed CSV ({e})") from None
    except OSError as e:
        raise DataError(f"{p}: cannot read the file ({e.strerror or e})") from None


def _lines(p: Path, f: io.TextIOBase) -> Iterator[str]:
    line = 0
    while text := f.readline(MAX_LINE_CHARS + 1):
        line += 1
        if len(text) > MAX_LINE_CHARS and text[-1] not in "\r\n":
            raise DataError(f"{p}:{line}: line longer than {MAX_LINE_CHARS:,} characters; is "
                            f"this really a CSV file?")
        yield text


def load_csv(path: str | os.PathLike[str], *, dtype: str = "float64") -> Dataset:
    """Numeric rows, features then an integer class label last; header and `#` lines skipped."""
    p = Path(path)
    check_readable(p)
    rows, labels = _read_csv(p, dtype)
    x = np.asarray(rows, dtype=dtype)
    t = np.asarray(labels, dtype=np.int64)
    return Dataset(str(path), x, t, None, None, str(path), int(t.max()) + 1)


def _read_csv(p: Path, dtype: str) -> tuple[list[list[float]], list[int]]:
    rows: list[list[float]] = []
    labels: list[int] = []
    width: int | None = None
    for line, cells in csv_records(p):
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if width is None:
            width = _first_width(p, line, cells)
            if _is_header(cells):
                continue
        if len(cells) != width:
            raise DataError(f"{p}:{line}: expected {width} columns, found {len(cells)}")
        values = _numbers(p, line, cells, dtype)
        labels.append(_label(p, line, cells[-1], values.pop()))
        rows.append(values)
    if not rows:
        raise DataError(f"{p}: no data rows (only a header, comments or blank lines)")
    return rows, labels


def _first_width(p: Path, line: int, cells: list[str]) -> int:
    if len(cells) < 2:
        raise DataError(
            f"{p}:{line}: expected at least 2 columns (features, then a label), found {len(cells)}"
        )
    return len(cells)


def _is_header(cells: list[str]) -> bool:
    # A header is a first row with no numbers at all; a mostly-numeric row with a typo is data.
    return not any(parse_number(c) is not None for c in cells)


def _numbers(p: Path, line: int, cells: list[str], dtype: str) -> list[float]:
    largest = float(np.finfo(dtype).max)
    values = []
    for col, cell in enumerate(cells, start=1):
        v = parse_number(cell)
        shown = printable(cell.strip())
        if v is None:
            raise DataError(f"{p}:{line}: column {col}: '{shown}' is not a number")
        if not math.isfinite(v):
            raise DataError(f"{p}:{line}: column {col}: '{shown}' is not a finite number")
        if abs(v) > largest and col < len(cells):
            raise DataError(f"{p}:{line}: column {col}: '{shown}' does not fit {dtype} (at "
                            f"most {largest:.4g} in size); rescale the data, or train with "
                            f"--dtype float64")
        values.append(v)
    return values


def _label(p: Path, line: int, cell: str, value: float) -> int:
    text = cell.strip(_BLANKS)
    if value < 0 or value != int(value):
        raise DataError(
            f"{p}:{line}: label '{printable(text)}' in the last column is not a non-negative "
            f"integer class index"
        )
    # Why the text, not the float: 9223372036854775807 as a float rounds up past int64.
    label = int(text) if _INTEGER.fullmatch(text) else int(value)
    if label > MAX_LABEL:
        raise DataError(
            f"{p}:{line}: label '{printable(text)}' in the last column is too large for a "
            f"class index (at most {MAX_LABEL:,})"
        )
    return label
