"""`netc time`: one row per layer (plus the gather and the update), shares of the step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import netc
from netc.cli import main
from netc.runtime.timing import profile

SPEC = Path(__file__).resolve().parents[2] / "specs" / "mnist_deep.net"


def test_time_prints_every_layer_with_its_share(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["time", str(SPEC), "--batch", "16", "--steps", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    plan = netc.plan_file(SPEC)
    labels = [line.split()[0] for line in out[1:-1]]
    assert labels == ["gather", *[lp.label for lp in plan.layers], "update"]
    shares = [float(m.group(1)) for line in out[1:-1] if (m := re.search(r"([\d.]+)%$", line))]
    assert len(shares) == len(labels) and sum(shares) == pytest.approx(100, abs=0.5)
    assert re.match(r"step: [\d.]+ ms for a batch of 16 \([\d,]+ samples/s, float32\)", out[-1])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_time_profiles_the_update_of_any_optimizer(optimizer: str) -> None:
    plan = netc.plan("input: 4\naffine(3) -> relu -> affine(2) -> softmax_ce")
    rows = profile(plan, batch=8, steps=2, optimizer=optimizer)
    assert rows[-1].label == f"update ({optimizer})" and rows[-1].backward > 0
    assert all(r.forward >= 0 and r.backward >= 0 for r in rows)


def test_time_uses_the_specs_optimizer_and_batch_size(capsys: pytest.CaptureFixture[str]) -> None:
    # mnist_deep.net trains with adam(lr=0.001) and batch_size 100: netc time times that.
    assert main(["time", str(SPEC), "--steps", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("update (adam)")
    assert "for a batch of 100 " in out[-1]
    assert main(["time", str(SPEC), "--steps", "2", "--optimizer", "momentum", "--batch", "7"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("update (momentum)") and "for a batch of 7 " in out[-1]


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--batch", "0", "argument --batch: must be at least 1, got 0"),
    ("--steps", "0", "argument --steps: must be at least 1, got 0"),
    ("--steps", "1_0", "argument --steps: not a whole number: '1_0'"),
    ("--lr", "nan", "argument --lr: must be a positive finite number, got nan"),
    ("--lr", "-0.1", "argument --lr: must be a positive finite number, got -0.1"),
])
def test_time_rejects_bad_flags_as_usage_errors(flag: str, value: str, message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # Before: `--lr nan` reached the generated update as `nan` (a NameError with adam),
    # `--steps 1_0` read as 10 and `--batch 0` was an exit-1 error after planning.
    with pytest.raises(SystemExit) as e:
        main(["time", str(SPEC), flag, value])
    assert e.value.code == 2 and message in capsys.readouterr().err
