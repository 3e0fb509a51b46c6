"""`netc.lint` gives the warnings `netc check` prints; `netc.callbacks` is the runtime's
callbacks under a public name, imported only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import netc
from netc.linting import checked

DOUBLE = "input: 2\naffine(3) -> softmax -> softmax_ce\noptimizer: adam(lr=5)\n"


def test_lint_text_path_and_str_path_give_checks_warnings(tmp_path):
    spec = tmp_path / "d.net"
    spec.write_text(DOUBLE)
    _, expected, _ = checked(spec)
    assert [d.code for d in expected] == ["double_activation", "unusual_lr"]
    for given in (spec, str(spec)):
        assert netc.lint(given) == expected
    from_text = netc.lint(DOUBLE, path=str(spec))
    assert from_text == expected


def test_lint_clean_spec_is_empty_and_bad_spec_raises():
    assert netc.lint("input: 2\naffine(3) -> softmax_ce\n") == []
    with pytest.raises(netc.SpecError):
        netc.lint("input: 2\naffine(3) ->\n")


def test_callbacks_alias_is_the_runtime_module_and_lazy():
    from netc.runtime import callbacks

    assert netc.callbacks.EarlyStopping is callbacks.EarlyStopping
    assert netc.callbacks.BestCheckpoint is callbacks.BestCheckpoint
    assert {"lint", "callbacks"} <= set(netc.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        netc.nosuch  # noqa: B018
    code = ("import sys, netc; assert 'netc.runtime.callbacks' not in sys.modules; "
            "netc.callbacks.StepDecay(2, 0.5); from netc.callbacks import EarlyStopping; "
            "assert 'numpy' not in sys.modules")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parent.parent, timeout=60)
    assert run.returncode == 0, run.stderr
