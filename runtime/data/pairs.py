"""The runtime's data stage: question/answer character pairs for seq2seq (DLFS-2 ch. 7-8).

A data set is lines `question_answer` in the book's format (`dataset/sequence.py`): the
question padded with spaces to one width, then "_" (the decoder's start symbol) and the answer
padded to one width, e.g. "16+75  _91  " (addition.txt) or
"september 27, 1994           _1994-09-27" (date.txt). `read_pairs` reads such a file;
`addition_pairs` and `date_pairs` draw the two sets the book uses from a seed. Characters get
ids in order of first appearance (each line's question, then its answer), one vocabulary for
both sides, and the last `test` rows are held out. Every problem a user can cause is a
`DataError` naming the file (and line) or the generator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ...errors import DataError
from ...reading import open_regular
from ...terminal import printable
from .corpus import decode_line
from .dates import WIDTH as DATE_WIDTH
from .dates import draw_dates

__all__ = ["MAX_GENERATED", "Pairs", "addition_pairs", "date_pairs", "read_pairs"]

DIGITS = 3
"""Addition operands have 1 to DIGITS digits (Keras's addition_rnn, which the book follows)."""
MAX_GENERATED = 200_000
"""Most problems a generator makes: beyond, finding unseen ones gets slow (addition has 500,500
distinct sums, and its 3-digit ones are rare draws)."""
EXAMPLE = "'16+75  _91  ' (addition.txt)"
KIND = "a question/answer file"  # what a file that is no text is said not to be


@dataclass(frozen=True, eq=False)
class Pairs:
    """Question/answer character sequences for seq2seq (DLFS-2 sequence.py)."""

    name: str  # "addition", "dates", or the file path
    questions: NDArray[np.int32]  # (N, Tq) char ids; already reversed along axis 1 when reverse
    answers: NDArray[np.int32]  # (N, Ta) char ids; answers[:, 0] is the start symbol "_"
    chars: tuple[str, ...]  # id -> character (one vocabulary for questions and answers)
    test: int  # the last `test` rows are the held-out split
    reverse: bool
    _ids: dict[str, int] | None = field(default=None, init=False, repr=False)
    _allowed: frozenset[str] | None = field(default=None, init=False, repr=False)

    @property
    def vocab_size(self) -> int:
        """Number of distinct characters (the width of an embedding or softmax over them)."""
        return len(self.chars)

    def ids(self) -> dict[str, int]:
        """character -> id, built once (the dataclass is frozen, hence `object.__setattr__`)."""
        if self._ids is None:
            object.__setattr__(self, "_ids", {c: i for i, c in enumerate(self.chars)})
        assert self._ids is not None
        return self._ids

    def split(self) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32],
                             NDArray[np.int32]]:
        """(x_train, t_train, x_test, t_test), as the book's `sequence.load_data` returns."""
        cut = len(self.questions) - self.test
        return (self.questions[:cut], self.answers[:cut], self.questions[cut:],
                self.answers[cut:])

    def encode(self, question: str) -> NDArray[np.int32]:
        """One question as a (Tq,) row like `questions`: padded with spaces, reversed if the
        set is; a `DataError` for a character the questions never use or a question too long."""
        if not isinstance(question, str):
            raise DataError(f"{self.name}: encode takes one question as text, not {question!r}")
        width = self.questions.shape[1]
        if self._allowed is None:
            used = np.unique(self.questions).tolist()
            object.__setattr__(self, "_allowed", frozenset(self.chars[i] for i in used))
        allowed = self._allowed
        assert allowed is not None
        shown = "".join(sorted(allowed))
        if len(question) > width:
            raise DataError(f"{self.name}: the question '{printable(question)}' is "
                            f"{len(question)} characters long, over the {width} every question "
                            f"of this set is padded to; the characters allowed are "
                            f"'{printable(shown, 200)}'")
        text = question.ljust(width)
        for ch in text:
            if ch not in allowed:
                what = "the padding ' '" if ch == " " and ch not in question else \
                    f"'{printable(ch)}'"
                raise DataError(f"{self.name}: the question '{printable(question)}' holds "
                                f"{what}, which no question of this set uses; the characters "
                                f"allowed are '{printable(shown, 200)}'")
        ids = self.ids()
        row = np.array([ids[ch] for ch in text], dtype=np.int32)
        return row[::-1].copy() if self.reverse else row

    def decode(self, ids: ArrayLike) -> str:
        """Ids (a row of `answers`, a model's output) as text, trailing spaces stripped; never
        reversed (answers never are: un-reverse a question row first, or use `question_text`)."""
        row = np.asarray(ids)
        if row.ndim != 1 or (row.dtype.kind not in "iu" and row.size):
            raise DataError(f"{self.name}: decode takes a 1-D row of integer ids, not an array "
                            f"of shape {row.shape} and type {row.dtype}")
        bad = (row < 0) | (row >= len(self.chars))
        if bad.any():
            raise DataError(f"{self.name}: id {int(row[bad][0])} is not in the vocabulary of "
                            f"{len(self.chars)} characters (ids 0 to {len(self.chars) - 1})")
        return "".join([self.chars[i] for i in row.tolist()]).rstrip(" ")

    def question_text(self, i: int) -> str:
        """Row `i`'s question as written: un-reversed, its padding stripped."""
        row = self.questions[i]
        return self.decode(row[::-1] if self.reverse else row)


# ---- generators ------------------------------------------------------------------------------


def addition_pairs(reverse: bool = False, seed: int = 0, n: int = 50_000,
                   test: int = 5_000) -> Pairs:
    """`n` distinct sums "a+b" = "a + b" with 0 <= a, b < 1000 (the book's addition.txt).

    Each operand is drawn as Keras's addition_rnn draws it: a digit count uniform in 1..3, then
    uniform digits, read as an int. A pair already drawn (either way round) is skipped.
    """
    _check("addition", reverse, seed, n, test)
    drawn = _draw_operands(np.random.default_rng(seed), n).tolist()
    width = 2 * DIGITS + 1  # "999+999"
    lines = [f"{a}+{b}".ljust(width) + f"_{a + b}".ljust(DIGITS + 2) for a, b in drawn]
    return _pairs("addition", lines, width, test, reverse)


def date_pairs(reverse: bool = False, seed: int = 0, n: int = 50_000,
               test: int = 5_000) -> Pairs:
    """`n` distinct dates written by people -> "_YYYY-MM-DD" (the book's date.txt); the
    formats are `dates.FORMATS`, each day, format and case drawn uniformly."""
    _check("dates", reverse, seed, n, test)
    questions, answers = draw_dates(np.random.default_rng(seed), n)
    lines = [q.ljust(DATE_WIDTH) + "_" + a for q, a in zip(questions, answers, strict=True)]
    return _pairs("dates", lines, DATE_WIDTH, test, reverse)


def _check(name: str, reverse: bool, seed: int, n: int, test: int) -> None:
    if not isinstance(reverse, bool):
        raise DataError(f"{name}: reverse must be true or false, not {reverse!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"{name}: the seed must be a non-negative integer, not {seed!r}")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_GENERATED:
        raise DataError(f"{name}: n must be an integer from 1 to {MAX_GENERATED:,}, not {n!r}")
    if isinstance(test, bool) or not isinstance(test, int) or not 0 <= test < n:
        raise DataError(f"{name}: test must be an integer from 0 to n - 1 = {n - 1} (the "
                        f"held-out rows; the rest train), not {test!r}")


def _draw_operands(rng: np.random.Generator, n: int) -> NDArray[np.int64]:
    """(n, 2): the first `n` pairs of the stream whose unordered pair is new, in draw order.

    Drawn in vectorised chunks; np.unique's first indices, sorted, are the first occurrences.
    """
    drawn = np.empty((0, 2), dtype=np.int64)
    chunk = n + n // 4 + 64
    while True:
        count = rng.integers(1, DIGITS + 1, size=(chunk, 2, 1))
        digits = rng.integers(0, 10, size=(chunk, 2, DIGITS))
        power = count - 1 - np.arange(DIGITS)  # the place of each digit; < 0: not used
        value = (digits * np.where(power >= 0, 10 ** np.maximum(power, 0), 0)).sum(axis=2)
        drawn = np.concatenate([drawn, value])
        key = drawn.min(axis=1) * 10**DIGITS + drawn.max(axis=1)
        first = np.unique(key, return_index=True)[1]
        if len(first) >= n:
            return drawn[np.sort(first)[:n]]
        chunk = 2 * len(drawn)


def _pairs(name: str, lines: list[str], width: int, test: int, reverse: bool) -> Pairs:
    """Pairs from equal-length lines (question of `width` characters, then the answer)."""
    codes = np.frombuffer("".join(lines).encode("utf-32-le"), dtype=np.uint32)
    table = codes.reshape(len(lines), -1)
    # Ids in order of first appearance along the rows, each line's question then its answer.
    unique, first, inverse = np.unique(table, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    ids = rank[inverse.reshape(-1)].reshape(table.shape).astype(np.int32)
    questions = np.ascontiguousarray(ids[:, width - 1::-1] if reverse else ids[:, :width])
    answers = np.ascontiguousarray(ids[:, width:])
    for a in (questions, answers):
        a.flags.writeable = False  # Why: Pairs is frozen; an in-place op would corrupt it
    return Pairs(name=name, questions=questions, answers=answers,
                 chars=tuple(chr(c) for c in unique[order].tolist()), test=test, reverse=reverse)


# ---- files -----------------------------------------------------------------------------------


def read_pairs(path: str | os.PathLike[str], reverse: bool = False, seed: int = 0) -> Pairs:
    """The pairs in `path` (the book's format), rows shuffled by `seed`, the last tenth
    (rounded down) held out for testing, as DLFS-2's `sequence.load_data` does.

    The vocabulary follows the file's order, as the book's does, so it is the same whatever
    the seed: a model trained on one shuffle reads another with the same ids.
    """
    name = os.fspath(path)
    name = os.fsdecode(name) if isinstance(name, bytes) else name
    if not isinstance(reverse, bool):
        raise DataError(f"{name}: reverse must be true or false, not {reverse!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"{name}: the seed must be a non-negative integer, not {seed!r}")
    lines, width = _read_lines(Path(name))
    if len(lines) < 2:
        raise DataError(f"{name}: holds only one question/answer line; at least 2 are needed "
                        f"(a tenth, rounded down, is held out for testing)")
    whole = _pairs(name, lines, width, 0, reverse)
    order = np.random.default_rng(seed).permutation(len(lines))
    shuffled = []
    for a in (whole.questions[order], whole.answers[order]):
        a.flags.writeable = False
        shuffled.append(a)
    return Pairs(name=name, questions=shuffled[0], answers=shuffled[1], chars=whole.chars,
                 test=len(lines) // 10, reverse=reverse)


def _read_lines(p: Path) -> tuple[list[str], int]:
    """The file's lines, terminators removed and trailing blank lines dropped, after checking
    each is `question_answer` with the first line's widths; and the question width."""
    lines: list[str] = []
    numbers: list[int] = []
    offset = 0
    with open_regular(p, "question/answer file") as f:
        for number, raw in enumerate(f, 1):
            line = decode_line(p, raw, number, offset, KIND).rstrip("\n").removesuffix("\r")
            offset += len(raw)
            lines.append(line)
            numbers.append(number)
    while lines and not lines[-1].strip():
        lines.pop()
        numbers.pop()
    if not lines:
        raise DataError(f"{p}: is empty; expected lines 'question_answer' in the book's format, "
                        f"such as {EXAMPLE}")
    widths = [_widths(p, number, line) for number, line in zip(numbers, lines, strict=True)]
    for number, (q, a) in zip(numbers, widths, strict=True):
        if (q, a) != widths[0]:
            side, met, first = ("question", q, widths[0][0]) if q != widths[0][0] else \
                ("answer (from its '_')", a, widths[0][1])
            raise DataError(f"{p}:{number}: the {side} is {met} characters wide, but {first} on "
                            f"line {numbers[0]}; the book's format pads every line's question "
                            f"and answer with spaces to one width, such as {EXAMPLE}")
    return lines, widths[0][0]


def _widths(p: Path, number: int, line: str) -> tuple[int, int]:
    """(question width, answer width including "_") of one line, or why it is no pair."""
    if not line.strip():
        raise DataError(f"{p}:{number}: the line is blank; only blank lines at the end of the "
                        f"file are ignored")
    cut = line.find("_")
    if cut < 0:
        raise DataError(f"{p}:{number}: no '_' between the question and the answer; each line "
                        f"is 'question_answer', such as {EXAMPLE}")
    if cut == 0:
        raise DataError(f"{p}:{number}: the question before '_' is empty")
    return cut, len(line) - cut


