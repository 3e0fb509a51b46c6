"""docs/language.md stays true: every ```net example plans, and every error code is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import netc.api
from netc.compiler.plan import NetPlan
from netc.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
LANGUAGE = ROOT / "docs" / "language.md"
_FENCE = re.compile(r"^```net\n(.*?)^```", re.S | re.M)


def _examples() -> list[str]:
    return _FENCE.findall(LANGUAGE.read_text(encoding="utf-8"))


def test_docs_language_has_net_examples() -> None:
    assert len(_examples()) >= 15


@pytest.mark.parametrize("index", range(len(_examples())))
def test_docs_language_example_plans(index: int) -> None:
    text = _examples()[index]
    assert isinstance(netc.api.plan(text, path=f"docs/language.md#{index}"), NetPlan)


def test_docs_language_lists_every_layer_setting_and_optimizer() -> None:
    from netc.compiler.registry import OPS, OPTIMIZERS, SETTINGS

    text = LANGUAGE.read_text(encoding="utf-8")
    for name in OPS:
        assert f"| `{name}`" in text, name
    for name in SETTINGS:
        assert f"`{name}:`" in text, name
    for name in OPTIMIZERS:
        assert f"| `{name}`" in text, name


def test_docs_language_lists_every_error_code_in_the_corpus() -> None:
    text = LANGUAGE.read_text(encoding="utf-8")
    codes = set()
    for path in (ROOT / "specs" / "invalid").glob("*.net"):
        with pytest.raises(SpecError) as info:
            netc.api.plan(netc.api.read(path))
        codes.update(d.code for d in info.value.diagnostics)
    assert len(codes) >= 15
    assert not [c for c in codes if f"`{c}`" not in text]
