"""The CLI's number types: command-line text -> a checked int or float, or a usage error.

Why not `int` and `float`: both accept more than a user means to type (`1_0` is 10, ` 5 ` is 5,
the Arabic-Indic `٣` is 3, `nan` and `inf` are floats), and a NaN learning rate would reach the
generated code. Each flag here takes ASCII digits only, then obeys the same rule
(`netc/rules.py`) as the spec setting it overrides, so `--epochs` and `train: epochs=` agree.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from .rules import OPTIMIZERS, TRAIN, Rule

_WHOLE = re.compile(r"[0-9]{1,30}")
_DECIMAL = re.compile(r"[+-]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][+-]?[0-9]{1,4})?")


def flag(rule: Rule) -> Callable[[str], float | int]:
    """An argparse `type` for `rule`; argparse prefixes its message with the flag's name."""

    def parse(text: str) -> float | int:
        if text.lstrip("+-").lower() in ("nan", "inf", "infinity"):
            raise argparse.ArgumentTypeError(f"must be {rule.expects()}, got {text}")
        if not (_WHOLE if rule.integer else _DECIMAL).fullmatch(text):
            example = "" if rule.integer else ", e.g. 0.01 or 1e-3"
            kind = "a whole number" if rule.integer else "a number"
            raise argparse.ArgumentTypeError(
                f"not {kind}: {text!r} (write it with the ASCII digits 0-9{example})")
        value = int(text) if rule.integer else float(text)
        problem = _out_of_range(rule, value)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem}, got {text}")
        return value

    parse.__name__ = rule.name  # argparse names the type in some messages
    return parse


def _out_of_range(rule: Rule, value: float | int) -> str | None:
    try:
        rule.check(value, rule.name)
    except ValueError:
        if not rule.integer:
            return f"must be {rule.expects()}"
        if rule.ge is not None and value < rule.ge:
            return f"must be at least {rule.ge}"
        return f"must be at most {rule.le}"
    return None


# A count of steps or samples, for the flags no spec setting governs.
COUNT = Rule("count", 1, "a count", ge=1, le=10**7, integer=True)
positive_int = flag(COUNT)
positive_float = flag(Rule("value", 1.0, "a positive number", gt=0))
epochs = flag(TRAIN["epochs"])
batch_size = flag(TRAIN["batch_size"])
seed = flag(TRAIN["seed"])
# Every optimizer's learning rate obeys the same rule (> 0, finite).
learning_rate = flag(OPTIMIZERS["sgd"][0])
