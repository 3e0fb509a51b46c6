"""Usage errors of the `netc` command with a "did you mean": `netc chek` -> check,
`netc run --learning-rate` -> --lr, `--optimizer Adam` -> adam.

argparse (3.11) names the bad word but never the likely one; the names people bring from the
book and Keras (`--learning-rate`, `--weight-decay`) go through the one alias table in
`compiler/registry.py`, as the spec's names do.
"""

from __future__ import annotations

import argparse
import re

_CHOICE = re.compile(r"invalid choice: '(?P<got>.*?)' \(choose from (?P<choices>.*)\)$")


def with_suggestion(message: str) -> str:
    """argparse's "invalid choice" message plus the closest choice, when one is close."""
    m = _CHOICE.search(message)
    if m is None:
        return message
    choices = re.findall(r"'((?:[^'\\]|\\.)*)'", m["choices"])
    found = _closest(m["got"], choices)
    return f"{message}; did you mean '{found}'?" if found else message


def unrecognized(extras: list[str], parser: argparse.ArgumentParser) -> str:
    """"unrecognized arguments: ..." naming, for each unknown flag, the closest real one."""
    flags = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
    hints = []
    for word in extras:
        flag = word.split("=", 1)[0]
        if not flag.startswith("--"):
            continue
        found = _closest(flag[2:], [f[2:] for f in flags])
        if found:
            hints.append((flag, f"--{found}"))
    text = "unrecognized arguments: " + " ".join(extras)
    if len(hints) == 1:
        return f"{text}; did you mean {hints[0][1]}?"
    return "; ".join([text, *(f"{flag}: did you mean {ok}?" for flag, ok in hints)])


def _closest(name: str, choices: list[str]) -> str | None:
    from .compiler.aliases import closest

    return closest(name, choices)
