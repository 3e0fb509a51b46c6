"""Property tests: any text either plans or raises `SpecError`; nothing else ever escapes, and
`netc check` never prints a raw control character from the spec."""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netc.api
from netc.cli import main
from netc.compiler.plan import NetPlan
from netc.errors import SpecError

# NETC_FUZZ_EXAMPLES=20000 runs a long fuzz session (README, "Fuzzing").
_EXAMPLES = int(os.environ.get("NETC_FUZZ_EXAMPLES", "0"))
_SETTINGS = settings(max_examples=_EXAMPLES or 300, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_SEEDS = [
    "input: 784\nh = affine(100) -> relu\nh * 5 -> affine(10) -> softmax_ce",
    "affine(784, 100) -> relu -> (affine(100) -> relu) * 4 -> affine(10) -> softmax_ce",
    "# spiral\ninput: 2\noptimizer: adam(lr=1e-3)\ntrain: epochs=3,\n  batch_size=10\n"
    "affine(2, 10) ->\n  tanh -> dropout(p=.5) -> affine(3) -> softmax_ce\n",
    'data: "x.csv"\ninit: normal, std=0.1\naffine(4, 8, init=he) -> leaky_relu(0.1)\n'
    "  -> batchnorm -> affine(1) -> sigmoid_ce",
    "affine(2, 4) -> repeat(3) -> sum(3) -> matmul(2) -> mse",
]

# ---- a small generator mirroring the grammar -------------------------------------------

_names = st.sampled_from(["affine", "relu", "tanh", "sigmoid", "dropout", "batchnorm", "mse",
                          "softmax_ce", "leaky_relu", "matmul", "repeat", "sum", "blk", "x"])
_numbers = st.one_of(
    st.integers(-3, 300).map(str),
    st.sampled_from(["1e-3", ".5", "-2", "0.9", "1e400", "2.", "9" * 30]),
)
_strings = st.sampled_from(['"he"', "'xavier'", '"a\\"b"', '"é"', "'\\q'"])
_idents = st.sampled_from(["he", "xavier", "true", "false", "normal", "auto", "float64"])
_values = st.one_of(_numbers, _strings, _idents)
_args = st.lists(
    st.one_of(_values, st.tuples(st.sampled_from(["n_out", "n_in", "p", "alpha", "init", "lr",
                                                  "std", "bogus"]), _values)
              .map(lambda kv: f"{kv[0]}={kv[1]}")),
    max_size=3,
)
_calls = st.builds(
    lambda name, args, parens, comma: name + (f"({', '.join(args)}{',' if comma and args else ''})"
                                              if parens or args else ""),
    _names, _args, st.booleans(), st.booleans())
_stages = st.recursive(
    _calls,
    lambda inner: st.one_of(
        st.builds(lambda s, n: f"({s}) * {n}", inner,
                  st.sampled_from(["1", "2", "3", "2", "3", "0", "2.5"])),
        st.lists(inner, min_size=1, max_size=3).map(lambda ss: "(" + " -> ".join(ss) + ")"),
    ),
    max_leaves=6,
)
_arrows = st.sampled_from([" -> ", "\n  -> ", " ->\n  ", " -> # note\n  ", "\t->\t"])


_widths = st.sampled_from(["2", "3", "10"])
_good_stages = st.one_of(
    _widths.map(lambda w: f"affine({w})"), _widths.map(lambda w: f"matmul(n_out={w})"),
    st.sampled_from(["relu", "tanh", "sigmoid", "dropout(0.2)", "batchnorm", "leaky_relu",
                     "(affine(4) -> relu) * 2", "blk", "blk * 2"]),
)


@st.composite
def _good_specs(draw: st.DrawFn) -> str:
    """Mostly valid specs: an input, a block, a few layers, a loss."""
    head = draw(st.sampled_from(["input: 3\n", "", ""]))
    first = "affine(4)" if head else "affine(3, 4)"
    body = draw(st.lists(_good_stages, max_size=6))
    loss = draw(st.sampled_from(["affine(3) -> softmax_ce", "affine(1) -> sigmoid_ce", "mse"]))
    sep = draw(_arrows)
    settings_ = draw(st.sampled_from(["", "optimizer: adam(lr=0.01)\n", "train: epochs=2,\n"
                                      "  seed=3\n", "init: xavier\n# c\n"]))
    return head + settings_ + "blk = tanh -> dropout\n" + sep.join([first, *body, loss])


@st.composite
def _specs(draw: st.DrawFn) -> str:
    lines = []
    if draw(st.booleans()):
        lines.append(f"input: {draw(st.sampled_from(['2', '3', '784', '0']))}")
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from([
            "optimizer: adam(lr=0.001)", "optimizer: sgd, lr=0.1", "optimizer: adamm",
            "train: epochs=3,\n  batch_size=10", "init: he", "data: spiral"])))
    if draw(st.booleans()):
        lines.append(f"blk = {draw(_stages)}")
    stages = draw(st.lists(_stages, min_size=1, max_size=6))
    body = stages[0]
    for s in stages[1:]:
        body += draw(_arrows) + s
    lines.append(body + draw(st.sampled_from(["", " -> mse", " -> softmax_ce"])))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "# a comment")
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return draw(st.sampled_from(["", "\ufeff"])) + newline.join(lines)


def _plans_or_spec_error(text: str) -> None:
    try:
        result = netc.api.plan(text)
    except SpecError as e:
        assert e.diagnostics, "a SpecError must carry at least one diagnostic"
        assert str(e)
        return
    assert isinstance(result, NetPlan)
    assert result.layers and result.layers[-1].kind == "loss"


# ---- properties ------------------------------------------------------------------------


@_SETTINGS
@given(_specs())
def test_fuzz_generated_specs_plan_or_raise_spec_error(text: str) -> None:
    _plans_or_spec_error(text)


@settings(max_examples=_EXAMPLES or 100, deadline=None)
@given(_good_specs())
def test_fuzz_valid_specs_plan(text: str) -> None:
    plan = netc.api.plan(text)
    assert plan.layers[0].n_in == 3
    assert all(a.n_out == b.n_in for a, b in zip(plan.layers, plan.layers[1:], strict=False))


_chars = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(list("()->*=:,#\"'\n\r\t .0123456789eE+-_") + ["\0", "\ufeff", "é", "\u2028",
                                                                    "\x1b", "\x9b", "\u202e"]),
)


@st.composite
def _mutations(draw: st.DrawFn) -> str:
    text = draw(st.one_of(st.sampled_from(_SEEDS), _good_specs(), _specs()))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        if op == "insert":
            text = text[:i] + draw(st.text(_chars, min_size=1, max_size=3)) + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 5)):]
        elif op == "replace":
            text = text[:i] + draw(_chars) + text[i + 1:]
        else:
            j = draw(st.integers(i, min(len(text), i + 12)))
            text = text[:j] + text[i:j] + text[j:]
    return text


@_SETTINGS
@given(_mutations())
def test_fuzz_mutated_specs_plan_or_raise_spec_error(text: str) -> None:
    _plans_or_spec_error(text)


_SPEC_FILE = Path(tempfile.mkdtemp(prefix="netc-fuzz-")) / "fuzz.net"
atexit.register(shutil.rmtree, _SPEC_FILE.parent, True)
_RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]")


@_SETTINGS
@given(_mutations())
def test_fuzz_check_prints_no_raw_control_characters(text: str) -> None:
    # `netc check` end to end: exit 0 or 1, and whatever the spec holds (an escape sequence in
    # a string, a NUL, a right-to-left override) reaches the terminal escaped.
    _SPEC_FILE.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(_SPEC_FILE)])
    assert code in (0, 1)
    assert not _RAW_CONTROL.search(err.getvalue()), err.getvalue()


@_SETTINGS
@given(st.text(_chars, max_size=60))
def test_fuzz_random_text_raises_only_spec_error(text: str) -> None:
    _plans_or_spec_error(text)


@settings(max_examples=_EXAMPLES or 100, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=30))
def test_fuzz_random_unicode_raises_only_spec_error(text: str) -> None:
    _plans_or_spec_error(text)


def test_fuzz_seed_specs_all_plan() -> None:
    for text in _SEEDS:
        assert isinstance(netc.api.plan(text), NetPlan)


# ---- the parser alone, over the version-2 forms -----------------------------------------
# Why parse-only: these forms reach the compiler's new graph stage; here the DSL stage itself
# must be total (an AST or a SpecError) and `netc fmt` must be idempotent on what parses.

_V2_SEEDS = [
    "input: src: tokens, tgt: tokens\nsrc -> embed(16) -> lstm(128) => h\n"
    "concat(tgt[:-1] -> embed(16), h.last) -> lstm(128, init=h.last) => d\n"
    "concat(d, h.last) -> affine -> softmax_ce(tgt[1:])",
    "cbr(n, p=1) = conv(n, 3, pad=p) -> relu\ninput: 1x28x28\ncbr(16) -> cbr(32, p=2)",
    "block = residual(affine(256) -> batchnorm -> relu, skip=affine(4)) -> relu\n"
    "embed(650)@E -> block * 3 -> add(a -> relu, b) -> affine(tied=E) -> softmax_ce",
]
_v2_chars = st.one_of(_chars, st.sampled_from(list("[]@.x=>")))
_v2_bits = st.one_of(st.text(_v2_chars, max_size=3),
                     st.sampled_from(["=>", "[:-1]", ".last", "@E", "1x2", " -> ", "("]))


@_SETTINGS
@given(st.sampled_from(_V2_SEEDS), st.lists(st.tuples(st.integers(0, 400),
                                                       _v2_bits,
                                                       st.integers(0, 3)), max_size=4))
def test_fuzz_v2_parse_is_total_and_fmt_idempotent(seed: str, edits: list) -> None:
    from netc.dsl import parse
    from netc.dsl.printer import format_source

    text = seed
    for i, new, cut in edits:
        i = min(i, len(text))
        text = text[:i] + new + text[i + cut:]
    try:
        parse(text)
    except SpecError as e:
        assert e.diagnostics and e.diagnostics[0].span is not None
        return
    once = format_source(text)
    assert format_source(once) == once
