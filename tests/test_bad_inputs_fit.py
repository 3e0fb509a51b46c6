"""Catalogue of refused training settings (issue 12, part "the same run from every entry
point"): the `train:` settings of DLFS ch. 6 (subset, validation_split, eval_train, wd_all)
out of range, and a validation_split that leaves one side empty.

Expected messages are in `tests/bad_inputs/fit/`. The Python API's refusals
(`fit(validation_split=..., validation_data=...)`, `log_every=0`) and the usage error of
`--log-every 0` are unit tests in
tests/runtime/test_fit_settings.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from catalogue import Catalogue, spec_file  # noqa: E402  (tests/ is not a package)

cat = Catalogue("fit")


def train(tmp: Path, setting: str, command: str = "check", *flags: str) -> list[object]:
    spec = spec_file(tmp, f"input: 2\ntrain: epochs=2, {setting}\naffine(3) -> softmax_ce\n")
    return [command, spec, *flags] + (["--quiet"] if command == "run" else [])


@cat.case
def validation_split_one(tmp, mp):
    return train(tmp, "validation_split=1")  # nothing left to train on


@cat.case
def validation_split_negative(tmp, mp):
    return train(tmp, "validation_split=-0.1")


@cat.case
def validation_split_holds_out_nothing(tmp, mp):
    return train(tmp, "validation_split=0.001", "run")  # 300 spiral samples: 0 held out


@cat.case
def subset_negative(tmp, mp):
    return train(tmp, "subset=-300")


@cat.case
def subset_fraction(tmp, mp):
    return train(tmp, "subset=0.5")


@cat.case
def eval_train_two(tmp, mp):
    return train(tmp, "eval_train=2")


@cat.case
def wd_all_word(tmp, mp):
    return train(tmp, "wd_all=yes")


test_fit_catalogue_is_complete, test_fit_case_is_reported_exactly = cat.tests()
