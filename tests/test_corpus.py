"""Golden corpus: every `specs/*.net` plans; every `specs/invalid/*.net` renders exactly its `.err`.

Set NETC_UPDATE_GOLDEN=1 to rewrite the `.err` files from the current output (then review the diff).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import netc.api
from netc.compiler.plan import NetPlan
from netc.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
VALID = sorted(p.name for p in (ROOT / "specs").glob("*.net"))
INVALID = sorted(p.stem for p in (ROOT / "specs" / "invalid").glob("*.net"))
UPDATE = os.environ.get("NETC_UPDATE_GOLDEN") == "1"


def test_corpus_invalid_cases_exist_with_golden_files() -> None:
    assert len(INVALID) >= 15
    missing = [c for c in INVALID if not (ROOT / "specs" / "invalid" / f"{c}.err").exists()]
    assert UPDATE or not missing, f"no .err for {missing}; run with NETC_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name", VALID)
def test_corpus_valid_spec_plans(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    plan = netc.api.plan(netc.api.read(f"specs/{name}"))
    assert isinstance(plan, NetPlan) and plan.path == f"specs/{name}"


@pytest.mark.parametrize("case", INVALID)
def test_corpus_invalid_spec_renders_golden_error(case: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(SpecError) as info:
        netc.api.plan(netc.api.read(f"specs/invalid/{case}.net"))
    got = str(info.value) + "\n"
    golden = ROOT / "specs" / "invalid" / f"{case}.err"
    if UPDATE:
        golden.write_text(got, encoding="utf-8", newline="\n")
    assert got == golden.read_text(encoding="utf-8")
