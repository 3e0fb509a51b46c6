"""Seq2seq pairs (DLFS-2 ch. 7-8): the addition and date generators checked against independent
readings (sums recomputed, dates parsed back by `strptime`), the book's vocabulary order and
reversal, determinism, `encode`/`decode`, and `read_pairs` against the generators and every
refusal naming the file and line."""

from __future__ import annotations

import datetime
import gzip
import time
from pathlib import Path

import numpy as np
import pytest

from netc.errors import DataError
from netc.runtime.data import dates as date_module
from netc.runtime.data.pairs import (
    MAX_GENERATED,
    Pairs,
    addition_pairs,
    date_pairs,
    read_pairs,
)

# One strptime format per generated format (C-locale English names, matched case-blind).
STRPTIME = ("%B %d, %Y", "%b %d, %Y", "%A, %B %d, %Y", "%a, %b %d, %Y", "%A %d %B %Y",
            "%d %B %Y", "%d %b %Y", "%d-%b-%y", "%m/%d/%y", "%m/%d/%Y", "%d.%m.%y", "%d.%m.%Y",
            "%Y %m %d")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _timed(make, label: str) -> Pairs:
    start = time.perf_counter()
    p = make()
    seconds = time.perf_counter() - start
    print(f"\n{label}: {len(p.questions)} pairs in {seconds:.3f} s")
    assert seconds < 2.0
    return p


@pytest.fixture(scope="module")
def addition() -> Pairs:
    return _timed(addition_pairs, "addition_pairs()")


@pytest.fixture(scope="module")
def dates() -> Pairs:
    return _timed(date_pairs, "date_pairs()")


def _padded(p: Pairs, row: np.ndarray) -> str:
    """A row as its characters, padding kept (decode strips it)."""
    return "".join(p.chars[i] for i in row.tolist())


def _first_seen(p: Pairs) -> tuple[str, ...]:
    """The book's `_update_vocab` over each row's (un-reversed) question, then its answer."""
    seen: dict[str, None] = {}
    for q, a in zip(p.questions.tolist(), p.answers.tolist(), strict=True):
        for i in (q[::-1] if p.reverse else q) + a:
            seen.setdefault(p.chars[i], None)
    return tuple(seen)


# ---- addition --------------------------------------------------------------------------------


def test_addition_shapes_widths_and_split(addition: Pairs) -> None:
    p = addition
    assert p.name == "addition" and p.test == 5_000 and not p.reverse
    assert p.questions.shape == (50_000, 7) and p.answers.shape == (50_000, 5)
    assert p.questions.dtype == np.int32 and p.answers.dtype == np.int32
    assert not p.questions.flags.writeable and not p.answers.flags.writeable
    assert (p.answers[:, 0] == p.chars.index("_")).all()
    assert len(set(p.chars)) == p.vocab_size == 13  # 0-9, "+", "_" and the padding " "
    x_train, t_train, x_test, t_test = p.split()
    assert len(x_train) == len(t_train) == 45_000 and len(x_test) == len(t_test) == 5_000
    assert np.array_equal(x_test, p.questions[-5_000:])


def test_addition_answers_are_the_sums_without_duplicates(addition: Pairs) -> None:
    keys = set()
    lengths = set()
    for i in range(len(addition.questions)):
        question = addition.question_text(i)
        a, b = (int(s) for s in question.split("+"))
        assert question == f"{a}+{b}" and 0 <= a < 1000 and 0 <= b < 1000
        assert addition.decode(addition.answers[i]) == f"_{a + b}"
        keys.add((min(a, b), max(a, b)))
        lengths.update((len(str(a)), len(str(b))))
    assert len(keys) == 50_000
    assert lengths == {1, 2, 3}


def test_addition_is_deterministic_and_seeded() -> None:
    a, b = addition_pairs(seed=4, n=3_000, test=300), addition_pairs(seed=4, n=3_000, test=300)
    assert a.questions.tobytes() == b.questions.tobytes() and a.chars == b.chars
    assert a.answers.tobytes() == b.answers.tobytes()
    c = addition_pairs(seed=5, n=3_000, test=300)
    assert not np.array_equal(a.questions, c.questions)


def test_addition_ignores_global_random_state() -> None:
    np.random.seed(1)
    a = addition_pairs(n=500, test=50)
    np.random.seed(2)
    assert np.array_equal(a.questions, addition_pairs(n=500, test=50).questions)


# ---- dates -----------------------------------------------------------------------------------


def _parse(question: str) -> tuple[set[datetime.date], list[int]]:
    """Every date `question` reads as under `STRPTIME`, and which formats read it."""
    found, which = set(), []
    for k, fmt in enumerate(STRPTIME):
        try:
            found.add(datetime.datetime.strptime(question, fmt).date())
        except ValueError:
            continue
        which.append(k)
    return found, which


def test_dates_shapes_and_no_duplicate_questions(dates: Pairs) -> None:
    assert dates.name == "dates" and dates.test == 5_000
    assert dates.questions.shape == (50_000, 29) and dates.answers.shape == (50_000, 11)
    assert len({dates.questions[i].tobytes() for i in range(50_000)}) == 50_000
    assert (dates.answers[:, 0] == dates.chars.index("_")).all()


def test_every_date_question_parses_back_to_its_answer(dates: Pairs) -> None:
    formats_seen: set[int] = set()
    cases_seen: set[str] = set()
    for i in range(4_000):
        question = dates.question_text(i)
        found, which = _parse(question)
        assert len(found) == 1, (question, found)  # read by some format, and one day only
        day = found.pop()
        assert dates.decode(dates.answers[i]) == f"_{day.isoformat()}"
        assert datetime.date(1970, 1, 1) <= day <= datetime.date(2029, 12, 31)
        words = question.replace(",", " ").lower().split()
        for word in words:
            if word.isalpha() and word[:3] in {d[:3] for d in WEEKDAYS}:
                assert word in (WEEKDAYS[day.weekday()], WEEKDAYS[day.weekday()][:3]), question
        formats_seen.update(which)
        if any(ch.isalpha() for ch in question):
            case = [name for name in ("lower", "title", "upper")
                    if question == getattr(question, name)()]
            assert case, question
            cases_seen.update(case)
    assert len(STRPTIME) == len(date_module.FORMATS)
    assert formats_seen == set(range(len(STRPTIME)))
    assert cases_seen == {"lower", "title", "upper"}


def test_weekday_check_would_catch_a_wrong_day() -> None:
    # 1994-09-27 was a Tuesday: the parse accepts any weekday name, so the test's own check
    # is what catches a wrong one.
    found, _ = _parse("monday, september 27, 1994")
    assert found == {datetime.date(1994, 9, 27)} and found.pop().weekday() == 1


def test_dates_are_deterministic_and_seeded() -> None:
    a, b = date_pairs(seed=2, n=2_000, test=10), date_pairs(seed=2, n=2_000, test=10)
    assert a.questions.tobytes() == b.questions.tobytes() and a.chars == b.chars
    assert a.answers.tobytes() == b.answers.tobytes()
    assert not np.array_equal(a.questions, date_pairs(seed=3, n=2_000, test=10).questions)


# ---- vocabulary and reversal -----------------------------------------------------------------


@pytest.mark.parametrize("make", [addition_pairs, date_pairs])
@pytest.mark.parametrize("reverse", [False, True])
def test_vocabulary_is_in_order_of_first_appearance(make, reverse: bool) -> None:
    p = make(reverse=reverse, n=3_000, test=300)
    assert p.chars == _first_seen(p)


@pytest.mark.parametrize("make", [addition_pairs, date_pairs])
def test_reverse_is_the_exact_row_reversal(make) -> None:
    forward = make(seed=6, n=2_000, test=100)
    backward = make(reverse=True, seed=6, n=2_000, test=100)
    assert backward.reverse and backward.chars == forward.chars
    assert np.array_equal(backward.questions, forward.questions[:, ::-1])
    assert np.array_equal(backward.answers, forward.answers)
    assert [backward.question_text(i) for i in range(50)] == \
        [forward.question_text(i) for i in range(50)]
    assert _padded(backward, backward.questions[0]).startswith(" ")  # the padding comes first


# ---- encode and decode -----------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
def test_encode_decode_round_trip(reverse: bool) -> None:
    for p in (addition_pairs(reverse=reverse, n=1_000, test=100),
              date_pairs(reverse=reverse, n=1_000, test=100)):
        for i in range(200):
            text = p.question_text(i)
            assert np.array_equal(p.encode(text), p.questions[i])
            assert p.encode(text).dtype == np.int32
            assert p.decode(p.encode(text)[::-1] if reverse else p.encode(text)) == text
            assert p.decode(p.answers[i]) == _padded(p, p.answers[i]).rstrip(" ")


def test_encode_refuses_unknown_characters_and_long_questions() -> None:
    p = addition_pairs(n=1_000, test=100)
    with pytest.raises(DataError) as e:
        p.encode("12*3")
    assert str(e.value).startswith("addition: ") and "'12*3'" in str(e.value)
    assert "'*'" in str(e.value) and "' +0123456789'" in str(e.value)
    with pytest.raises(DataError, match=r"'_'"):
        p.encode("1_2")  # "_" is in the vocabulary, but only answers use it
    with pytest.raises(DataError) as e:
        p.encode("1000+1000")
    assert "'1000+1000'" in str(e.value) and "9 characters" in str(e.value)
    assert "7 every question" in str(e.value) and "' +0123456789'" in str(e.value)
    with pytest.raises(DataError, match="as text"):
        p.encode(12)  # type: ignore[arg-type]
    assert p.encode("999+999").shape == (7,)


def test_encode_refuses_padding_a_set_whose_questions_have_none(tmp_path: Path) -> None:
    path = tmp_path / "full.txt"
    path.write_text("12+34_46 \n56+78_134\n", encoding="utf-8")
    p = read_pairs(path)
    assert " " in p.chars  # from the answers' padding
    with pytest.raises(DataError, match="padding ' '"):
        p.encode("1+2")
    assert p.question_text(0) in ("12+34", "56+78")


def test_decode_refuses_ids_outside_the_vocabulary() -> None:
    p = addition_pairs(n=200, test=20)
    with pytest.raises(DataError, match="id 13 is not in the vocabulary of 13"):
        p.decode(np.array([0, 13]))
    with pytest.raises(DataError, match="1-D"):
        p.decode(p.answers[:2])
    assert p.decode([]) == ""


@pytest.mark.parametrize("kwargs, words", [
    ({"n": 0}, "n must be"), ({"n": MAX_GENERATED + 1}, "n must be"), ({"n": True}, "n must"),
    ({"n": 10, "test": 10}, "test must"), ({"test": -1}, "test must"),
    ({"seed": -1}, "seed"), ({"reverse": "yes"}, "reverse"),
])
def test_generators_refuse_bad_arguments(kwargs: dict, words: str) -> None:
    for make, name in ((addition_pairs, "addition"), (date_pairs, "dates")):
        with pytest.raises(DataError, match=words) as e:
            make(**kwargs)
        assert str(e.value).startswith(f"{name}: ")


# ---- files -----------------------------------------------------------------------------------


def _write(p: Pairs, path: Path, newline: str = "\n", tail: str = "\n") -> Path:
    """`p` (not reversed) in the book's format: padded question, "_", padded answer."""
    lines = [_padded(p, q) + _padded(p, a) for q, a in zip(p.questions, p.answers, strict=True)]
    path.write_text(newline.join(lines) + tail, encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize("make", [addition_pairs, date_pairs])
@pytest.mark.parametrize("reverse", [False, True])
def test_read_pairs_matches_the_generator(tmp_path: Path, make, reverse: bool) -> None:
    made = make(seed=8, n=1_001, test=0)
    path = _write(made, tmp_path / "pairs.txt")
    read = read_pairs(path, reverse=reverse, seed=3)
    order = np.random.default_rng(3).permutation(1_001)
    assert read.name == str(path) and read.test == 100 and read.reverse == reverse
    assert read.chars == made.chars  # the file's order, whatever the shuffle
    expected = made.questions[order]
    assert np.array_equal(read.questions, expected[:, ::-1] if reverse else expected)
    assert np.array_equal(read.answers, made.answers[order])
    assert not read.questions.flags.writeable and not read.answers.flags.writeable
    assert read_pairs(path, seed=4).chars == read.chars
    assert not np.array_equal(read_pairs(path, seed=4).questions, read_pairs(path).questions)


def test_read_pairs_takes_crlf_a_bom_and_trailing_blank_lines(tmp_path: Path) -> None:
    made = addition_pairs(n=50, test=0)
    plain = read_pairs(_write(made, tmp_path / "plain.txt"))
    crlf = _write(made, tmp_path / "crlf.txt", "\r\n", "\r\n\r\n  \n\n")
    crlf.write_bytes(b"\xef\xbb\xbf" + crlf.read_bytes())
    bare = _write(made, tmp_path / "bare.txt", tail="")
    for other in (read_pairs(crlf), read_pairs(bare)):
        assert other.chars == plain.chars
        assert np.array_equal(other.questions, plain.questions)
        assert np.array_equal(other.answers, plain.answers)


GOOD = "16+75  _91  \n"


@pytest.mark.parametrize("content, where, words", [
    (b"", "", "is empty"),
    (b"\n\n \n", "", "is empty"),
    (GOOD.encode(), "", "at least 2"),
    ((GOOD + "1+2    3    \n").encode(), ":2", "no '_'"),
    ((GOOD + "\n" + GOOD).encode(), ":2", "blank"),
    ((GOOD + GOOD + "_3     \n").encode(), ":3", "question before '_' is empty"),
    ((GOOD * 2 + "1+2   _3   \n").encode(), ":3", "question is 6 characters wide, but 7 on line 1"),
    ((GOOD + "1+2    _3  \n").encode(), ":2", "answer (from its '_') is 4 characters wide, but 5"),
    (GOOD.encode() * 2 + b"1+2    _\xe93   \n", ":3", "not UTF-8"),
    (GOOD.encode() + b"1+2\x00   _3   \n", ":2", "NUL byte"),
    (gzip.compress(GOOD.encode() * 2), "", "gzip"),
])
def test_read_pairs_refuses_with_file_and_line(tmp_path: Path, content: bytes, where: str,
                                               words: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError) as e:
        read_pairs(path)
    assert str(e.value).startswith(f"{path}{where}: "), str(e.value)
    assert words in str(e.value)


def test_read_pairs_width_error_names_the_book_format(tmp_path: Path) -> None:
    path = tmp_path / "ragged.txt"
    path.write_text(GOOD + "1+2_3\n", encoding="utf-8")
    with pytest.raises(DataError, match="pads every line's question and answer with spaces"):
        read_pairs(path)


def test_read_pairs_refuses_missing_files_folders_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"^{tmp_path / 'none.txt'}: no such file"):
        read_pairs(tmp_path / "none.txt")
    with pytest.raises(DataError, match="directory"):
        read_pairs(tmp_path)
    path = tmp_path / "ok.txt"
    path.write_text(GOOD * 2, encoding="utf-8")
    with pytest.raises(DataError, match="seed"):
        read_pairs(path, seed=-2)
    with pytest.raises(DataError, match="reverse"):
        read_pairs(path, reverse=1)  # type: ignore[arg-type]
