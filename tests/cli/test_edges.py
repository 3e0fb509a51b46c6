"""First-hour rough edges of the `netc` command (issue 12): `check` of several specs, `fmt
--diff`, `run --plot` naming the image it wrote, and the one alias table behind every
"did you mean". The exact error messages are in the catalogue (tests/test_bad_inputs_edges.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netc.cli import main
from netc.compiler.registry import ALIASES, OPS, OPTIMIZERS, SETTINGS, closest, suggest

GOOD = "input: 2\naffine(3) -> softmax_ce\n"
BAD = "input: 2\naffine(3) -> softmx_ce\n"
UGLY = "input:2\nhidden=affine(10)->relu\nhidden*2->affine(3)->softmax_ce"


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


def _write(name: str, text: str) -> str:
    Path(name).write_text(text, encoding="utf-8")
    return name


def test_check_of_several_specs_labels_each_table_and_passes_when_all_do(capsys):
    assert main(["check", _write("a.net", GOOD), _write("b.net", GOOD)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("a.net:\n") and "\nb.net:\n" in out
    assert out.count("softmax_ce") == 2  # both tables


def test_check_of_several_specs_goes_on_after_a_failure_and_exits_1(capsys):
    code = main(["check", _write("bad.net", BAD), "missing.net", _write("good.net", GOOD)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "bad.net:2:14: error: unknown layer 'softmx_ce'" in err
    assert "missing.net: no such file" in err
    assert "good.net:\n" in out and "softmax_ce" in out  # the last one was still checked


def test_check_json_of_several_specs_is_a_list_with_one_object_each(capsys):
    code = main(["check", "--json", _write("a.net", GOOD), _write("bad.net", BAD), "no.net"])
    got = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [(r["path"], r["ok"]) for r in got] == [("a.net", True), ("bad.net", False),
                                                  ("no.net", False)]
    assert got[0]["params"] == 9
    assert got[1]["diagnostics"][0]["code"] == "unknown_op"
    assert got[2]["error"] == "no.net: no such file"


def test_check_json_of_one_spec_keeps_its_object_form(capsys):
    assert main(["check", "--json", _write("a.net", GOOD)]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_fmt_diff_prints_a_unified_diff_writes_nothing_and_exits_1(capsys):
    _write("ugly.net", UGLY)
    _write("good.net", "input: 2\n\naffine(3) -> softmax_ce\n")
    assert main(["fmt", "--diff", "ugly.net", "good.net"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("--- ugly.net (before)\n+++ ugly.net (formatted)\n@@ ")
    assert "-input:2\n" in out and "+input: 2\n" in out
    assert "+hidden * 2 -> affine(3) -> softmax_ce\n" in out
    assert "good.net" not in out
    assert Path("ugly.net").read_text(encoding="utf-8") == UGLY


def test_fmt_diff_of_formatted_specs_prints_nothing_and_exits_0(capsys):
    _write("good.net", "input: 2\n\naffine(3) -> softmax_ce\n")
    assert main(["fmt", "--diff", "good.net"]) == 0
    assert capsys.readouterr().out == ""


def test_run_plot_prints_the_path_it_wrote(capsys):
    pytest.importorskip("matplotlib")
    spec = _write("s.net", "data: spiral\ninput: 2\naffine(3) -> softmax_ce\n"
                           "train: epochs=1, batch_size=50\n")
    assert main(["run", spec, "--plot", "curves.png", "--quiet"]) == 0
    assert "wrote the plot to curves.png" in capsys.readouterr().out
    assert Path("curves.png").stat().st_size > 0


@pytest.mark.parametrize(("name", "choices", "want"), [
    ("ReLU", OPS, "relu"), ("Relu", OPS, "relu"), ("SoftmaxWithLoss", OPS, "softmax_ce"),
    ("Affine", OPS, "affine"), ("Dense", OPS, "affine"), ("Linear", OPS, "affine"),
    ("Sigmoid", OPS, "sigmoid"), ("Tanh", OPS, "tanh"), ("BatchNormalization", OPS, "batchnorm"),
    ("BatchNorm", OPS, "batchnorm"), ("Dropout", OPS, "dropout"), ("SGD", OPTIMIZERS, "sgd"),
    ("Adam", OPTIMIZERS, "adam"), ("weight_decay", ("lr", "wd"), "wd"),
    ("learning_rate", ("lr", "wd"), "lr"), ("learning-rate", ("lr", "epochs"), "lr"),
    ("Input", SETTINGS, "input"), ("hiden", (*OPS, "hidden"), "hidden"),
])
def test_one_alias_table_gives_the_netc_name(name, choices, want):
    assert closest(name, choices) == want
    assert suggest(name, choices) == f"did you mean '{want}'?"


def test_attention_is_said_to_be_missing_not_guessed():
    for name in ("Attention", "TimeAttention"):
        assert "not available yet" in suggest(name, OPS)


@pytest.mark.parametrize(("name", "want"), [
    ("Conv2D", "conv"), ("MaxPooling2D", "pool"), ("Embedding", "embed"),
    ("TimeLSTM", "lstm"), ("TimeSoftmaxWithLoss", "softmax_ce"), ("GRU", "gru")])
def test_other_tools_layer_names_suggest_netc_ops(name, want):
    assert suggest(name, OPS) == f"did you mean '{want}'?"


def test_alias_targets_are_real_names():
    # Each alias points at a layer or a hyper-parameter/flag name netc has.
    hyper = {"wd", "lr", "batch_size"}
    assert set(ALIASES.values()) <= set(OPS) | hyper


def test_nothing_close_suggests_nothing():
    assert suggest("zzz", OPS) is None and closest("--", ("lr",)) is None


def test_the_alias_table_loads_without_pydantic():
    # Why: netc/rules.py (imported by the runtime) and the CLI's usage errors may use it.
    import subprocess
    import sys

    code = ("import sys, netc.compiler.aliases as a; assert a.closest('Dense', ['affine']) "
            "== 'affine'; assert 'pydantic' not in sys.modules and 'numpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
