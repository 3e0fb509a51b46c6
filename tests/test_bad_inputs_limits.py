"""Bad-input catalogue, limits that count everything (issue 11).

Widths made by `repeat` obey the width limit of `affine`; every command that allocates
(`run`, `gradcheck`, `time`, building) checks one memory estimate (parameters, gradients,
optimizer state, activations and their gradients at the batch sizes used, the initialiser's
temporaries) against the machine before allocating, and names the estimate and the limit; the
notes of an error deep inside nested blocks are capped. The machine's memory is pinned with
`physical_memory` so that the messages do not depend on where the tests run. Each case's exact
message is in `tests/bad_inputs/limits/`; the API and scaling behaviour is tested in
`tests/runtime/test_memory.py` and `tests/compiler/test_scale.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from catalogue import (  # noqa: E402  (tests/ is not a package)
    DATA_SPEC,
    Catalogue,
    npz,
    spec_file,
    trained_checkpoint,
)

from netc.runtime import build as build_module  # noqa: E402

cat = Catalogue("limits")
GIB = 2**30
TWO_REPEATS = "input: 2\nrepeat(2147483648) -> repeat(2147483648) -> softmax_ce\n"
# 33.6 million parameters (134 MiB): fits any machine, but not a million rows of activations.
WIDE = "input: 64\naffine(4096) -> relu -> affine(4096) -> relu -> affine(10) -> softmax_ce\n"
NESTED = 30_000  # 60,000 printed 60,005 lines; fewer keep parsing well inside the guard


def machine(mp: pytest.MonkeyPatch, size: int = 16 * GIB) -> None:
    """Pretend this machine has `size` bytes of memory."""
    mp.setattr(build_module, "physical_memory", lambda: size)


# ---- widths --------------------------------------------------------------------------------


@cat.case
def repeat_overflow_check(tmp, mp):
    # 2 * 2**31 = 2**32 wide, then 2**63: passed `check` before, then crashed every command.
    return ["check", spec_file(tmp, TWO_REPEATS)]


@cat.case
def repeat_overflow_run(tmp, mp):
    return ["run", spec_file(tmp, TWO_REPEATS), "--quiet"]


@cat.case
def repeat_overflow_gradcheck(tmp, mp):
    return ["gradcheck", spec_file(tmp, TWO_REPEATS)]


@cat.case
def repeat_overflow_time(tmp, mp):
    return ["time", spec_file(tmp, TWO_REPEATS)]


@cat.case
def repeat_width_over_limit(tmp, mp):
    # 3 * 2**30 is over 2**31 although the count itself is allowed.
    return ["check", spec_file(tmp, "input: 3\nrepeat(1073741824) -> relu -> softmax_ce\n")]


@cat.case
def repeat_width_over_limit_in_a_block(tmp, mp):
    text = "input: 4\nwide = repeat(1073741824) -> sum(2)\nwide -> relu -> softmax_ce\n"
    return ["check", spec_file(tmp, text)]


# ---- memory --------------------------------------------------------------------------------


@cat.case
def time_batch_of_a_million(tmp, mp):
    machine(mp)
    return ["time", spec_file(tmp, WIDE), "--batch", "1000000"]


@cat.case
def gradcheck_batch_of_ten_million(tmp, mp):
    machine(mp)
    return ["gradcheck", spec_file(tmp, WIDE), "--batch", "10000000"]


@cat.case
def time_activations_of_a_wide_repeat(tmp, mp):
    # No parameters at all: only activations (and their gradients) can be counted here.
    machine(mp)
    text = "input: 2\nrepeat(1000000000) -> sum(1000000000) -> softmax_ce\n"
    return ["time", spec_file(tmp, text)]


@cat.case
def run_activations_over_memory(tmp, mp):
    # Builds (parameters are small) but training's batch and evaluation buffers do not fit.
    machine(mp, 4 * 2**20)
    text = "input: 2\naffine(1000) -> relu -> affine(3) -> softmax_ce\ntrain: batch_size=300\n"
    return ["run", spec_file(tmp, text), "--quiet"]


@cat.case
def run_optimizer_state_over_memory(tmp, mp):
    # Parameters and gradients fit (2 x 30.5 MiB) but adam's two state arrays do not.
    machine(mp, 100 * 2**20)
    text = ("input: 2\noptimizer: adam\naffine(2000) -> relu -> affine(4000) -> relu -> "
            "affine(3) -> softmax_ce\n")
    return ["run", spec_file(tmp, text), "--quiet", "--epochs", "1"]


@cat.case
def run_float64_build_over_memory(tmp, mp):
    machine(mp, 64 * 2**20)
    spec = spec_file(tmp, "input: 2000\naffine(4000) -> relu -> affine(3) -> softmax_ce\n")
    return ["run", spec, "--quiet", "--dtype", "float64"]


@cat.case
def predict_batch_over_memory(tmp, mp):
    # Building fits; the 2,048 rows predicted at a time do not (every bound batch is checked).
    ck = trained_checkpoint(tmp)
    rows = npz(tmp, "rows.npz", x=np.zeros((5000, 4)))
    machine(mp, 100 * 2**10)
    return ["predict", DATA_SPEC, rows, "--checkpoint", ck]


# ---- notes ---------------------------------------------------------------------------------


@cat.case
def width_error_in_30000_nested_blocks(tmp, mp):
    # Printed one note per block before (30,005 lines); now both ends of the chain and a count.
    lines = ["input: 2", "b1 = affine(5, 3)", *(f"b{i} = b{i - 1}" for i in range(2, NESTED + 1)),
             f"b{NESTED} -> softmax_ce"]
    return ["check", spec_file(tmp, "\n".join(lines) + "\n")]


test_limits_catalogue_is_complete, test_limits_case_is_reported_exactly = cat.tests()
