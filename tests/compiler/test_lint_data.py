"""`input: 784` without `data:`: `netc check` gives the hint the run's width error gives."""

from __future__ import annotations

import pytest

from netc.cli import main
from netc.compiler.lint import lint_source
from netc.errors import DataError
from netc.rules import missing_data_hint
from netc.source import Source

MNIST_LIKE = "input: 784\naffine(10) -> softmax_ce\n"


def _codes(text: str) -> list[str]:
    return [d.code for d in lint_source(Source.from_text(text))[1]]


def test_lint_784_inputs_without_data_warn_at_the_input():
    (warning,) = lint_source(Source.from_text(MNIST_LIKE))[1]
    assert warning.code == "data_mismatch" and warning.severity == "warning"
    assert (warning.span.line, warning.span.column) == (1, 8)
    assert "add `data: mnist`" in warning.hint


@pytest.mark.parametrize("text", ["data: mnist\n" + MNIST_LIKE,
                                  "input: 4\naffine(3) -> softmax_ce\n",
                                  "data: \"x.npz\"\n" + MNIST_LIKE])
def test_lint_data_line_or_other_width_does_not_warn(text):
    assert "data_mismatch" not in _codes(text)


def test_check_prints_the_hint_the_run_gives(tmp_path, capsys):
    spec = tmp_path / "m.net"
    spec.write_text(MNIST_LIKE)
    assert main(["check", str(spec)]) == 0
    err = capsys.readouterr()
    printed = err.out + err.err
    assert f"{spec}:1:8: warning: the input is 784 wide" in printed
    assert f"hint: {missing_data_hint(784)}" in printed
    import netc

    net = netc.load(spec)
    (x, t), _ = netc.datasets.load_spiral()
    with pytest.raises(DataError) as e:
        net.fit(x, t, verbose=0, data_name="spiral")
    assert f"hint: {missing_data_hint(784)}" in str(e.value)
