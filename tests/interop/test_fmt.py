"""`netc fmt` and `dsl/printer.py`: the canonical layout, comments kept, idempotence, meaning
unchanged (AST, plan hash and run settings), and the `--check` / write behaviour."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import netc
from netc.dsl.printer import format_source
from netc.errors import SpecError, SpecSyntaxError
from netc.source import Source

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted((ROOT / "specs").glob("*.net")) + sorted((ROOT / "specs" / "invalid").glob("*.net"))

MESSY = """# header
# second line

hidden = affine(100)->batchnorm   ->relu->dropout( 0.2, ) # trailing
optimizer:adam( lr = 0.001 )  # opt
data: 'my data.csv'

# about the pipeline
hidden*4->affine(10)
  # inner comment
  -> softmax_ce
input : 784
"""

CANONICAL = """# header
# second line

optimizer: adam(lr=0.001)  # opt
data: "my data.csv"
input: 784

hidden = affine(100) -> batchnorm -> relu -> dropout(0.2)  # trailing

# about the pipeline
hidden * 4
    -> affine(10)  # inner comment
    -> softmax_ce
"""


def _shape(node: Any) -> Any:
    """An AST as plain tuples without spans or source, to compare meanings."""
    if dataclasses.is_dataclass(node):
        return (type(node).__name__, *(
            _shape(getattr(node, f.name)) for f in dataclasses.fields(node)
            if "span" not in f.name and f.name != "source"))
    if isinstance(node, tuple):
        return tuple(_shape(n) for n in node)
    return node


def _parses(path: Path) -> bool:
    try:
        netc.parse(netc.read(path))
    except SpecSyntaxError:
        return False
    return True


def _same_meaning(before: str, after: str) -> None:
    assert _shape(netc.parse(after)) == _shape(netc.parse(before))
    try:
        old = netc.plan(before)
    except SpecError as e:
        with pytest.raises(type(e)):
            netc.plan(after)
        return
    new = netc.plan(after)
    assert (new.spec_hash, new.run) == (old.spec_hash, old.run)


def test_fmt_canonical_layout_keeps_comments() -> None:
    assert format_source(MESSY) == CANONICAL
    _same_meaning(MESSY, CANONICAL)


def test_fmt_long_pipeline_breaks_one_stage_per_line() -> None:
    text = "input: 4\n" + " -> ".join(["affine(40, init=normal(std=0.01))", "relu"] * 3) + \
        " -> affine(3) -> softmax_ce\n"
    out = format_source(text)
    lines = out.splitlines()
    assert lines[2] == "affine(40, init=normal(std=0.01))" and lines[3] == "    -> relu"
    assert all(len(line) <= 88 for line in lines) and format_source(out) == out
    _same_meaning(text, out)


@pytest.mark.parametrize("path", [p for p in CORPUS if _parses(p)], ids=lambda p: p.name)
def test_fmt_corpus_is_idempotent_and_keeps_meaning(path: Path) -> None:
    source = netc.read(path)
    once = format_source(source)
    assert format_source(Source.from_text(once, str(path))) == once
    _same_meaning(source.text, once)
    for line in source.text.splitlines():
        if line.lstrip().startswith("#"):
            assert line.strip() in once


STAGES = ["affine(5)", "relu", "tanh", "blk * 2", "(sigmoid -> affine(4))", "dropout(p=0.1)",
          "leaky_relu(0.2,)", "batchnorm(eps=1e-3)", "affine( 3 , init = he )"]
SETTINGS = ["input: 4", "optimizer: adam(lr=0.01)", "train: epochs=2,batch_size=10",
            "data: 'x y.csv'", "init: normal(std=.5)"]
ARROWS = [" -> ", "->", "  ->\n   ", "\n-> ", " -> # note\n", "\n# own line\n  -> "]
GAPS = ["\n", "\n\n", "  # after\n", "\n# between\n", "\n\n# lead\n"]


@st.composite
def specs(draw: st.DrawFn) -> str:
    stages = draw(st.lists(st.sampled_from(STAGES), min_size=1, max_size=8))
    pipeline = stages[0]
    for stage in stages[1:]:
        pipeline += draw(st.sampled_from(ARROWS)) + stage
    statements = draw(st.lists(st.sampled_from(SETTINGS), unique=True, max_size=4))
    statements += ["blk = affine(4) -> relu", pipeline + " -> softmax_ce"]
    statements = draw(st.permutations(statements))
    text = draw(st.sampled_from(["", "# top\n", "# top\n\n"]))
    for s in statements:
        text += s + draw(st.sampled_from(GAPS))
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_fmt_generated_specs_idempotent_and_same_meaning(text: str) -> None:
    try:
        netc.parse(text)
    except SpecSyntaxError:
        assume(False)
    once = format_source(text)
    assert format_source(once) == once
    _same_meaning(text, once)
    assert text.count("#") == once.count("#")


def test_fmt_check_names_changed_file_and_writes_nothing(netc_run, tmp_path: Path) -> None:
    (tmp_path / "messy.net").write_text(MESSY)
    (tmp_path / "clean.net").write_text(CANONICAL)
    done = netc_run("fmt", "--check", "messy.net", "clean.net")
    assert done.returncode == 1
    assert "messy.net" in done.stdout and "clean.net" not in done.stdout
    assert (tmp_path / "messy.net").read_text() == MESSY
    assert netc_run("fmt", "--check", "clean.net").returncode == 0


def test_fmt_rewrites_the_file_in_place(netc_run, tmp_path: Path) -> None:
    (tmp_path / "messy.net").write_text(MESSY)
    done = netc_run("fmt", "messy.net")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "messy.net").read_text() == CANONICAL
    assert not list(tmp_path.glob("*.tmp"))
    assert netc_run("fmt", "--check", "messy.net").returncode == 0


def test_fmt_refuses_a_syntax_error_untouched(netc_run, tmp_path: Path) -> None:
    bad = "input: 2\naffine(10) -> -> softmax_ce\n"
    (tmp_path / "bad.net").write_text(bad)
    done = netc_run("fmt", "bad.net")
    assert done.returncode == 1 and "bad.net:2:" in done.stderr
    assert (tmp_path / "bad.net").read_text() == bad
