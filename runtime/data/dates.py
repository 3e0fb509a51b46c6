"""The runtime's data stage: dates written by people, for DLFS-2's date conversion (ch. 7-8).

`draw_dates` draws days between 1970-01-01 and 2029-12-31 and writes each in one of `FORMATS`
("september 27, 1994", "2/10/93", "TUESDAY, SEPTEMBER 25, 1984", "27.09.94", ...), in lower,
Title or UPPER case; the answer is the ISO date. Every question names exactly one day: slashes
always put the month first, dots the day first, spaces between numbers the year first, and a
two-digit year is 19xx from 70 and 20xx below (the drawn years are 1970-2029).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CASES", "DAYS", "FORMATS", "WIDTH", "draw_dates"]

FIRST = np.datetime64("1970-01-01", "D")
DAYS = int((np.datetime64("2030-01-01", "D") - FIRST).astype(np.int64))
"""Days from 1970-01-01 through 2029-12-31, each drawn with the same probability."""
WIDTH = 29
"""Question width of the book's date.txt: "wednesday, september 30, 2000" fills it exactly."""

# Why spelled here and not by strftime: strftime's names follow the user's locale.
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

FORMATS = (
    "{month} {d}, {y}",  # september 27, 1994
    "{mon} {d}, {y}",  # jun 17, 2013
    "{weekday}, {month} {d}, {y}",  # tuesday, september 25, 1984
    "{wd}, {mon} {d}, {y}",  # tue, sep 25, 1984
    "{weekday} {d} {month} {y}",  # tuesday 25 september 1984
    "{d} {month} {y}",  # 27 september 1994
    "{d} {mon} {y}",  # 27 sep 1994
    "{d:02d}-{mon}-{yy:02d}",  # 27-sep-94
    "{m}/{d}/{yy:02d}",  # 2/10/93
    "{m:02d}/{d:02d}/{y}",  # 09/27/1994
    "{d:02d}.{m:02d}.{yy:02d}",  # 27.09.94
    "{d}.{m}.{y}",  # 27.9.1994
    "{y} {m:02d} {d:02d}",  # 1994 09 27
)
"""str.format templates over month, mon, weekday, wd (names) and d, m, y, yy (numbers)."""
CASES = (str.lower, str.title, str.upper)
"""How a question's letters are written; the case drawn is moot for all-digit formats."""


def draw_dates(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    """`n` distinct questions (unpadded) and their ISO answers ("1994-09-27").

    Each draw takes a uniform day, format and case; a question already drawn is skipped, so
    the result is the first `n` distinct questions of the stream (a pure function of the
    generator's state and `n`).
    """
    found: dict[str, str] = {}
    while len(found) < n:
        missing = n - len(found)
        for question, answer in zip(*_draw(rng, missing + missing // 8 + 16), strict=True):
            found.setdefault(question, answer)
            if len(found) == n:
                break
    return list(found), list(found.values())


def _draw(rng: np.random.Generator, m: int) -> tuple[list[str], list[str]]:
    """`m` questions and answers, duplicates possible."""
    day = rng.integers(0, DAYS, m)
    form = rng.integers(0, len(FORMATS), m).tolist()
    case = rng.integers(0, len(CASES), m).tolist()
    date = FIRST + day
    month_start = date.astype("M8[M]")
    years = (date.astype("M8[Y]").astype(np.int64) + 1970).tolist()
    months = (month_start.astype(np.int64) % 12).tolist()  # 0 = january
    days = (date - month_start.astype("M8[D]")).astype(np.int64) + 1
    weekdays = ((day + 3) % 7).tolist()  # 1970-01-01 was a Thursday (Monday = 0)
    questions = [
        CASES[c](FORMATS[f].format(month=MONTHS[mo], mon=MONTHS[mo][:3], weekday=WEEKDAYS[w],
                                   wd=WEEKDAYS[w][:3], d=d, m=mo + 1, y=y, yy=y % 100))
        for f, c, mo, w, d, y in zip(form, case, months, weekdays, days.tolist(), years,
                                     strict=True)
    ]
    return questions, np.datetime_as_string(date, unit="D").tolist()
