"""Lint rules (compiler/lint.py) and how `netc lint` / `netc check` report them: warnings for
specs that are legal but almost surely wrong; exit 0 unless `--strict`. The exact messages
are goldens in tests/bad_inputs/lint/ (tests/test_bad_inputs_lint.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netc.cli import main
from netc.compiler.lint import RULES, lint_source
from netc.errors import Diagnostic, SpecError, render_one
from netc.source import Source

ROOT = Path(__file__).resolve().parents[2]
DOUBLE = "data: spiral\ninput: 2\naffine(10) -> relu -> affine(3) -> softmax -> softmax_ce\n"


def codes(text: str) -> list[str]:
    _, warnings = lint_source(Source.from_text(text, "x.net"))
    assert all(d.severity == "warning" and d.hint and d.span for d in warnings)
    return [d.code for d in warnings]


@pytest.mark.parametrize("spec", sorted((ROOT / "specs").glob("*.net")), ids=lambda p: p.stem)
def test_the_shipped_specs_have_no_warnings(spec: Path) -> None:
    from netc.api import vocabulary  # what `netc lint` reads the data's vocabulary with

    _, warnings = lint_source(Source.from_text(spec.read_text(), "x.net"), vocabulary)
    assert [d.code for d in warnings] == []


def test_every_rule_has_a_docstring_example() -> None:
    for rule in RULES:
        assert rule.__doc__ and "`" in rule.__doc__, rule.__name__


@pytest.mark.parametrize("text, want", [
    (DOUBLE, ["double_activation"]),
    ("input: 4\naffine(1) -> sigmoid -> sigmoid_ce\n", ["double_activation"]),
    ("input: 4\naffine(3) -> softmax -> relu -> softmax_ce\n", []),  # not right before it
    ("input: 4\naffine(3) -> softmax -> mse\n", []),  # mse applies nothing: fine
    ("input: 4\naffine(3) -> sigmoid -> softmax_ce\n", []),
])
def test_double_activation(text: str, want: list[str]) -> None:
    assert codes(text) == want


@pytest.mark.parametrize("text, want", [
    ("data: spiral\ninput: 2\naffine(1) -> mse\n", ["class_labels"]),
    ("data: mnist\ninput: 784\naffine(10) -> sigmoid_ce\n", ["class_labels"]),
    ("data: mnist\ninput: 784\naffine(10) -> softmax_ce\n", []),
    ('data: "t.npz"\ninput: 2\naffine(1) -> mse\n', []),  # a file's labels are not read
    ("input: 2\naffine(1) -> mse\n", []),  # no data named: fit's own data
])
def test_class_labels(text: str, want: list[str]) -> None:
    assert codes(text) == want


@pytest.mark.parametrize("text, want", [
    ("data: mnist\ninput: 784\naffine(100) -> softmax_ce\n", ["output_width"]),
    ("data: spiral\ninput: 2\naffine(2) -> softmax_ce\n", ["output_width"]),
    ("data: spiral\ninput: 2\naffine(3) -> softmax_ce\n", []),
    ('data: "t.csv"\ninput: 2\naffine(7) -> softmax_ce\n', []),
    ("input: 2\naffine(7) -> softmax_ce\n", []),  # spiral is only the default: not linted
])
def test_output_width(text: str, want: list[str]) -> None:
    assert codes(text) == want


def test_output_width_points_at_the_layer_that_set_it() -> None:
    _, (d,) = lint_source(Source.from_text(
        "data: mnist\ninput: 784\naffine(12) -> relu -> dropout(0.5) -> softmax_ce\n", "x.net"))
    assert (d.span.line, d.span.column) == (3, 1)


@pytest.mark.parametrize("optimizer, flagged", [
    ("sgd(lr=10)", False), ("sgd(lr=11)", True), ("sgd(lr=1e-6)", False), ("sgd(1e-7)", True),
    ("adam(lr=0.1)", False), ("adam(lr=0.2)", True), ("momentum(lr=0.5)", False),
    ("rmsprop(lr=1)", True), ("adagrad(lr=1)", False), ("adam", False),
])
def test_learning_rate_range(optimizer: str, flagged: bool) -> None:
    text = f"input: 2\noptimizer: {optimizer}\naffine(3) -> softmax_ce\n"
    assert codes(text) == (["unusual_lr"] if flagged else [])


def test_lint_keeps_the_errors_of_check() -> None:
    with pytest.raises(SpecError):
        lint_source(Source.from_text("input: 2\naffine(3) -> softmax\n", "x.net"))


def test_an_error_still_renders_as_error() -> None:
    assert render_one(Diagnostic("c", "m")) == "error: m"
    assert Diagnostic("c", "m").to_json()["severity"] == "error"


def _spec(tmp_path: Path, text: str) -> str:
    path = tmp_path / "x.net"
    path.write_text(text)
    return str(path)


def test_lint_cli_prints_warnings_and_exits_0(tmp_path, capsys) -> None:
    assert main(["lint", _spec(tmp_path, DOUBLE)]) == 0
    out, err = capsys.readouterr()
    assert "x.net:3:36: warning: 'softmax' right before 'softmax_ce'" in out
    assert out.rstrip().endswith("1 warning") and err == ""


def test_lint_cli_strict_exits_1(tmp_path, capsys) -> None:
    assert main(["lint", _spec(tmp_path, DOUBLE), "--strict"]) == 1
    assert "(--strict makes warnings errors)" in capsys.readouterr().out


def test_lint_cli_without_warnings_says_so(capsys) -> None:
    spec = str(ROOT / "specs" / "spiral.net")
    assert main(["lint", spec, "--strict"]) == 0
    assert capsys.readouterr().out == f"{spec}: no warnings\n"


def test_lint_cli_json(tmp_path, capsys) -> None:
    assert main(["lint", _spec(tmp_path, DOUBLE), "--json", "--strict"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert [(d["code"], d["severity"], d["line"]) for d in data["diagnostics"]] == \
        [("double_activation", "warning", 3)]


def test_check_prints_the_table_then_the_warnings_on_stderr(tmp_path, capsys) -> None:
    assert main(["check", _spec(tmp_path, DOUBLE)]) == 0
    out, err = capsys.readouterr()
    assert "softmax_ce" in out and "warning" not in out
    assert err.startswith(f"{tmp_path / 'x.net'}:3:36: warning: ")
    assert main(["check", _spec(tmp_path, DOUBLE), "--strict"]) == 1


def test_check_json_lists_warnings(tmp_path, capsys) -> None:
    assert main(["check", _spec(tmp_path, DOUBLE), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["layers"][-1]["op"] == "softmax_ce"
    assert [d["severity"] for d in data["diagnostics"]] == ["warning"]
    assert main(["check", _spec(tmp_path, DOUBLE), "--json", "--strict"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_summary_and_clean_check_print_no_warnings(capsys) -> None:
    spec = str(ROOT / "specs" / "mnist_deep.net")
    assert main(["summary", spec]) == 0 and main(["check", spec, "--strict"]) == 0
    assert capsys.readouterr().err == ""


def test_double_softmax_floor_is_what_the_message_says() -> None:
    # The best a softmax of probabilities can do is the softmax of a one-hot row.
    import numpy as np

    row = np.exp(np.eye(3)[0])
    floor = -np.log(row[0] / row.sum())
    _, (d,) = lint_source(Source.from_text(DOUBLE, "x.net"))
    assert f"cannot fall below {floor:.2f} for 3 outputs" in d.message
