"""Highlighting: the Pygments lexer (netc/highlight.py) and the TextMate grammar (editors/).

Both must lex every shipped spec and every ```net block of the docs, and both take their op
names from the registry (the lexer reads it; the grammar is checked against it here).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netc.compiler import expectations
from netc.compiler.registry import OPS, OPTIMIZERS, SETTINGS
from netc.compiler.unroll import COMBINATORS

pygments = pytest.importorskip(
    "pygments", reason="the Pygments lexer needs the extra: pip install 'netc[highlight]'")

from pygments.lexers import get_lexer_by_name, get_lexer_for_filename  # noqa: E402
from pygments.token import Comment, Error, Keyword, Name, Number, Operator  # noqa: E402

from netc.highlight import NetLexer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.net"))
_FENCE = re.compile(r"^```net\n(.*?)^```", re.S | re.M)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [(f"{path.name}#{i}", text) for path in DOCS
          for i, text in enumerate(_FENCE.findall(path.read_text(encoding="utf-8")))]
GRAMMAR = ROOT / "editors" / "vscode" / "syntaxes" / "net.tmLanguage.json"
SAMPLES = {path.name: path.read_text(encoding="utf-8") for path in SPECS} | dict(BLOCKS)


def _tokens(text: str) -> list[tuple[object, str]]:
    return [(t, v) for t, v in NetLexer().get_tokens(text) if v.strip()]


def test_highlight_has_samples() -> None:
    assert len(SPECS) >= 10
    assert sum(name.startswith("README") for name, _ in BLOCKS) >= 5
    assert sum(name.startswith("language") for name, _ in BLOCKS) >= 15


@pytest.mark.parametrize("name", list(SAMPLES))
def test_highlight_lexes_without_errors(name: str) -> None:
    errors = [v for t, v in NetLexer().get_tokens(SAMPLES[name]) if t in Error]
    assert not errors, errors


def test_highlight_token_kinds() -> None:
    text = ("# a comment\noptimizer: adam(lr=0.001)\ninput: 1x28x28\n"
            "stage(n, p=1) = conv(n, 3, pad=p) -> relu\n"
            "embed(650)@E -> stage(8) * 2 -> affine(tied=E) -> softmax_ce(tgt[:-1])\n")
    tokens = _tokens(text)
    assert (Comment.Single, "# a comment") in tokens
    assert (Keyword, "optimizer") in tokens
    assert (Keyword.Type, "adam") in tokens
    assert (Name.Attribute, "lr") in tokens and (Number.Float, "0.001") in tokens
    assert [v for t, v in tokens if t is Name.Builtin] == ["conv", "relu", "embed", "affine",
                                                           "softmax_ce"]
    assert (Name.Function, "stage") in tokens
    assert (Operator, "x") in tokens and (Number.Integer, "28") in tokens
    assert tokens.count((Name.Label, "E")) == 2 and (Operator, "->") in tokens
    assert (Number.Integer, "-1") in tokens


@pytest.mark.parametrize("op", sorted(OPS))
def test_highlight_every_registry_op_is_a_builtin(op: str) -> None:
    assert (Name.Builtin, op) in _tokens(f"{op}(1) -> {op}\n")


def test_highlight_plugin_is_registered() -> None:
    assert isinstance(get_lexer_by_name("net"), NetLexer)
    assert isinstance(get_lexer_by_name("netc"), NetLexer)
    assert isinstance(get_lexer_for_filename("mnist.net"), NetLexer)


def test_highlight_pygmentize_renders_html() -> None:
    pygmentize = Path(sys.executable).with_name("pygmentize")
    if not pygmentize.exists():
        pytest.skip("no pygmentize script beside the interpreter")
    run = subprocess.run([str(pygmentize), "-l", "net", "-f", "html",
                          str(ROOT / "specs" / "spiral.net")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert '<span class="nb">affine</span>' in run.stdout and 'class="err"' not in run.stdout


# ---- the TextMate grammar ----------------------------------------------------------------

def _grammar() -> dict:
    return json.loads(GRAMMAR.read_text(encoding="utf-8"))


def _rules() -> list[dict]:
    """The top-level rules in order, includes resolved (the grammar is one level deep)."""
    grammar = _grammar()
    return [grammar["repository"][p["include"][1:]] for p in grammar["patterns"]]


def _scan(line: str) -> list[tuple[str, str]]:
    """(text, scope) pairs of one line, as a TextMate engine scans: at each position the rule
    matching earliest wins, the first listed on a tie."""
    rules = [(re.compile(r["match"]), r) for r in _rules()]
    out, pos = [], 0
    while pos < len(line):
        found = [(m.start(), i, m, r) for i, (rx, r) in enumerate(rules)
                 if (m := rx.search(line, pos))]
        if not found:
            break
        _, _, m, rule = min(found, key=lambda f: f[:2])
        if "name" in rule:
            out.append((m.group(), rule["name"]))
        else:
            out += [(m.group(int(g)), c["name"]) for g, c in rule.get("captures", {}).items()
                    if m.group(int(g)) is not None and "name" in c]
        pos = max(m.end(), pos + 1)
    return out


def test_grammar_loads_and_every_regex_compiles() -> None:
    grammar = _grammar()
    assert grammar["scopeName"] == "source.netc" and grammar["fileTypes"] == ["net"]
    for rule in _rules():
        re.compile(rule["match"])
    assert len(_rules()) == len(grammar["repository"])


def _names(key: str) -> set[str]:
    match = re.fullmatch(r"\^?\\s\*\(([\w|]+)\).*|\\b\(([\w|]+)\)\\b",
                         _grammar()["repository"][key]["match"])
    assert match, key
    return set((match.group(1) or match.group(2)).split("|"))


def test_grammar_lists_exactly_the_registry_names() -> None:
    """A new op, optimizer or setting fails here until the grammar
    (editors/vscode/syntaxes/net.tmLanguage.json) lists it."""
    assert _names("ops") == set(OPS)
    # `expect(30, 12, 12)`, a shape assertion, reads as a builtin too
    assert _names("combinators") == {*COMBINATORS, expectations.NAME} - set(OPS)
    assert _names("optimizers") == set(OPTIMIZERS)
    assert _names("setting") == set(SETTINGS)


@pytest.mark.parametrize(("line", "expected"), [
    ("# 784 -> 10", [("# 784 -> 10", "comment.line.number-sign.netc")]),
    ("optimizer: adam(lr=0.001)  # Adam", [
        ("optimizer", "keyword.other.setting.netc"), (":", "punctuation.separator.key-value.netc"),
        ("adam", "support.class.optimizer.netc"), ("(", "punctuation.separator.netc"),
        ("lr", "variable.parameter.netc"), ("=", "keyword.operator.assignment.netc"),
        ("0.001", "constant.numeric.netc"), (")", "punctuation.separator.netc"),
        ("# Adam", "comment.line.number-sign.netc")]),
    ("input: 1x28x28", [
        ("input", "keyword.other.setting.netc"), (":", "punctuation.separator.key-value.netc"),
        ("1", "constant.numeric.integer.netc"), ("x", "keyword.operator.shape.netc"),
        ("28", "constant.numeric.integer.netc"), ("x", "keyword.operator.shape.netc"),
        ("28", "constant.numeric.integer.netc")]),
    ("hidden = affine(100) -> relu", [
        ("hidden", "entity.name.function.block.netc"), ("=", "keyword.operator.netc"),
        ("affine", "support.function.op.netc"), ("(", "punctuation.separator.netc"),
        ("100", "constant.numeric.netc"), (")", "punctuation.separator.netc"),
        ("->", "keyword.operator.arrow.netc"), ("relu", "support.function.op.netc")]),
    ("embed(650)@E -> hidden * 4 -> affine(tied=E)", [
        ("embed", "support.function.op.netc"), ("(", "punctuation.separator.netc"),
        ("650", "constant.numeric.netc"), (")", "punctuation.separator.netc"),
        ("@", "keyword.operator.label.netc"), ("E", "entity.name.label.netc"),
        ("->", "keyword.operator.arrow.netc"), ("*", "keyword.operator.repeat.netc"),
        ("4", "constant.numeric.integer.netc"), ("->", "keyword.operator.arrow.netc"),
        ("affine", "support.function.op.netc"), ("(", "punctuation.separator.netc"),
        ("tied", "variable.parameter.netc"), ("=", "keyword.operator.assignment.netc"),
        ("E", "entity.name.label.netc"), (")", "punctuation.separator.netc")]),
    ("src -> lstm(128, init=h.last) => d", [
        ("->", "keyword.operator.arrow.netc"), ("lstm", "support.function.op.netc"),
        ("(", "punctuation.separator.netc"), ("128", "constant.numeric.netc"),
        (",", "punctuation.separator.netc"), ("init", "variable.parameter.netc"),
        ("=", "keyword.operator.assignment.netc"), ("h", "variable.other.tensor.netc"),
        (".", "punctuation.accessor.netc"), ("last", "variable.other.property.netc"),
        (")", "punctuation.separator.netc"), ("=>", "keyword.operator.bind.netc"),
        ("d", "variable.other.tensor.netc")]),
    ('data: corpus("ptb.train.txt")', [
        ("data", "keyword.other.setting.netc"), (":", "punctuation.separator.key-value.netc"),
        ("(", "punctuation.separator.netc"), ('"ptb.train.txt"', "string.quoted.netc"),
        (")", "punctuation.separator.netc")]),
    ("softmax_ce(tgt[:-1])", [
        ("softmax_ce", "support.function.op.netc"), ("(", "punctuation.separator.netc"),
        ("[", "punctuation.section.brackets.begin.netc"),
        (":", "punctuation.separator.slice.netc"), ("-1", "constant.numeric.integer.netc"),
        ("]", "punctuation.section.brackets.end.netc"), (")", "punctuation.separator.netc")]),
    ("block = residual(affine(8)) -> relu", [
        ("block", "entity.name.function.block.netc"), ("=", "keyword.operator.netc"),
        ("residual", "support.function.combinator.netc"), ("(", "punctuation.separator.netc"),
        ("affine", "support.function.op.netc"), ("(", "punctuation.separator.netc"),
        ("8", "constant.numeric.netc"), (")", "punctuation.separator.netc"),
        (")", "punctuation.separator.netc"), ("->", "keyword.operator.arrow.netc"),
        ("relu", "support.function.op.netc")]),
])
def test_grammar_scopes_sample_lines(line: str, expected: list[tuple[str, str]]) -> None:
    assert _scan(line) == expected


@pytest.mark.parametrize("name", list(SAMPLES))
def test_grammar_scans_every_sample_to_its_end(name: str) -> None:
    """Every character of every sample is consumed by some rule (no stray characters)."""
    rules = [re.compile(r["match"]) for r in _rules()]
    for line in SAMPLES[name].splitlines():
        pos = len(line) - len(line.lstrip())
        while pos < len(line):
            if line[pos] in " \t":
                pos += 1
                continue
            starts = [m for rx in rules if (m := rx.match(line, pos)) and m.end() > pos]
            assert starts, f"{name}: nothing matches {line[pos:]!r} in {line!r}"
            pos = max(m.end() for m in starts[:1])


def test_vscode_manifest_points_at_the_grammar() -> None:
    manifest = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text("utf-8"))
    [language] = manifest["contributes"]["languages"]
    assert language["id"] == "netc" and language["extensions"] == [".net"]
    [grammar] = manifest["contributes"]["grammars"]
    assert grammar["language"] == "netc" and grammar["scopeName"] == "source.netc"
    assert (ROOT / "editors" / "vscode" / grammar["path"]).resolve() == GRAMMAR
    assert (ROOT / "editors" / "vscode" / language["configuration"]).is_file()
