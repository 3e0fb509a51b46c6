"""Catalogue of refused callback settings (issue 12): the `train:` settings that add early
stopping and learning-rate schedules, out of range or misspelt, and a checkpoint whose saved
learning rate (written since schedules exist) is not a positive number.

Expected messages are in `tests/bad_inputs/callbacks/`. The Python API's refusals
(`EarlyStopping(patience=-1)`, an unknown monitor) are tested in tests/runtime/test_callbacks.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from catalogue import (  # noqa: E402  (tests/ is not a package)
    Catalogue,
    data_run,
    spec_file,
    trained_checkpoint,
)

cat = Catalogue("callbacks")


def train(tmp: Path, setting: str, command: str = "check") -> list[object]:
    spec = spec_file(tmp, f"input: 2\ntrain: epochs=3, {setting}\naffine(3) -> softmax_ce\n")
    return [command, spec] + (["--quiet"] if command == "run" else [])


@cat.case
def lr_decay_above_one(tmp, mp):
    return train(tmp, "lr_decay=2")  # a decay that would grow lr


@cat.case
def lr_decay_zero(tmp, mp):
    return train(tmp, "lr_decay=0", "run")  # refused before anything trains


@cat.case
def lr_plateau_negative(tmp, mp):
    return train(tmp, "lr_plateau=-0.25")


@cat.case
def lr_every_zero(tmp, mp):
    return train(tmp, "lr_decay=0.5, lr_every=0")


@cat.case
def early_stop_negative(tmp, mp):
    return train(tmp, "early_stop=-1")


@cat.case
def early_stop_fraction(tmp, mp):
    return train(tmp, "early_stop=2.5")


@cat.case
def lr_patience_text(tmp, mp):
    return train(tmp, "lr_plateau=0.5, lr_patience='2'")


@cat.case
def early_stopping_keras_name(tmp, mp):
    return train(tmp, "early_stopping=5")  # the Keras callback's name


@cat.case
def resume_saved_lr_negative(tmp, mp):
    ck = trained_checkpoint(tmp)
    with np.load(ck, allow_pickle=False) as f:
        members = {k: f[k] for k in f.files}
    members["meta"] = np.array(json.dumps({**json.loads(str(members["meta"])), "lr": -0.1}))
    with open(ck, "wb") as out:
        np.savez(out, **members)
    return data_run(tmp / "train.npz", "--resume", ck, "--epochs", 2)


test_callbacks_catalogue_is_complete, test_callbacks_case_is_reported_exactly = cat.tests()
