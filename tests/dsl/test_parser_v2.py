"""Stage 1, parse: the version-2 forms (LANGUAGE-V2.md): pipelines as arguments, `=> name`,
tensor references, weight labels, block parameters, image shapes and named inputs; each
round-trips through `netc fmt`, and each new slip is a located syntax error."""

from __future__ import annotations

import dataclasses

import pytest

from netc.dsl import parse
from netc.dsl.nodes import Arg, Call, Dims, Param, Pipeline, Repeat, Span, TensorRef
from netc.dsl.printer import format_source
from netc.errors import SpecSyntaxError


def _one(text: str) -> Pipeline:
    (pipeline,) = parse(text).pipelines
    return pipeline


def _arg(text: str, k: int = 0) -> object:
    return _one(text).stages[0].args[k].value


def _error(text: str) -> SpecSyntaxError:
    with pytest.raises(SpecSyntaxError) as info:
        parse(text)
    return info.value


def _shape(node: object) -> object:
    """The AST without spans and source (tests/ may recurse: the inputs are small)."""
    if isinstance(node, Span):
        return None
    if dataclasses.is_dataclass(node):
        return (type(node).__name__, *[_shape(getattr(node, f.name))
                                       for f in dataclasses.fields(node) if f.name != "source"])
    if isinstance(node, tuple):
        return tuple(_shape(x) for x in node)
    return node


# ---- pipelines as arguments ------------------------------------------------------------


def test_parse_v2_pipeline_argument() -> None:
    value = _arg("residual(affine(256) -> batchnorm -> relu)")
    assert isinstance(value, Pipeline) and value.bind is None
    assert [s.name for s in value.stages] == ["affine", "batchnorm", "relu"]
    assert (value.span.column, value.span.end_column) == (10, 42)


def test_parse_v2_single_stage_argument_stays_a_call() -> None:
    (f, skip) = _one("residual(f, skip=affine(10))").stages[0].args
    assert isinstance(f.value, Call) and f.value.name == "f" and not f.value.has_parens
    assert skip.name == "skip" and isinstance(skip.value, Call) and skip.value.args[0].value == 10


def test_parse_v2_existing_spec_gives_the_same_ast_shape() -> None:
    call = _one("affine(784, 50, init=he) -> relu").stages[0]
    assert call.label is None and call.label_span is None and call.depth == 0
    assert all(not a.colon for a in call.args)


def test_parse_v2_repeat_and_group_arguments() -> None:
    rep = _arg("residual(f * 2)")
    assert isinstance(rep, Repeat) and rep.count == 2 and rep.body.name == "f"
    group = _arg("residual((affine(3) -> relu) * 2, g)")
    assert isinstance(group, Repeat) and isinstance(group.body, Pipeline)


def test_parse_v2_branches_of_add_and_concat() -> None:
    a, b = _one("add(a -> relu, b)").stages[0].args
    assert isinstance(a.value, Pipeline) and isinstance(b.value, Call)
    first, last = _one("concat(tgt[:-1] -> embed(16), h.last)").stages[0].args
    assert isinstance(first.value.stages[0], TensorRef)
    assert last.value == TensorRef("h", "last", None, None, False, last.value.span,
                                   last.value.name_span)


def test_parse_v2_multiline_argument_pipeline() -> None:
    value = _arg("residual(\n  affine(256)  # a note\n  -> relu\n) -> x")
    assert [s.name for s in value.stages] == ["affine", "relu"]
    assert value.stages[1].span.line == 3


def test_parse_v2_depth_counts_nesting_in_arguments() -> None:
    assert _one("residual(relu)").depth == 0
    assert _one("residual(residual(relu))").depth == 1
    assert _one("residual(a -> b)").depth == 1
    assert _one("(residual((a -> b)))").depth == 3


def test_parse_v2_deep_argument_nesting_has_no_recursion_error() -> None:
    n = 3000
    pipeline = _one("residual(" * n + "relu" + ")" * n)
    assert pipeline.depth == n - 1  # the compiler's MAX_DEPTH check reads this
    assert format_source("input: 2\n" + "residual(" * n + "relu" + ")" * n).count("(") == n


# ---- binding and references ------------------------------------------------------------


def test_parse_v2_bind_a_pipeline_to_a_name() -> None:
    p = _one("src -> embed(16) -> lstm(128) => h")
    assert p.bind == "h" and (p.bind_span.column, p.bind_span.end_column) == (34, 35)
    assert [s.name for s in p.stages] == ["src", "embed", "lstm"]
    assert (p.span.column, p.span.end_column) == (1, 35)


def test_parse_v2_bind_after_a_newline() -> None:
    p = _one("src -> lstm(8)\n  => h")
    assert p.bind == "h" and p.bind_span.line == 2


@pytest.mark.parametrize(("text", "attr", "start", "stop", "sliced"), [
    ("h.last", "last", None, None, False), ("tgt[:-1]", None, None, -1, True),
    ("tgt[1:]", None, 1, None, True), ("tgt[2:5]", None, 2, 5, True),
    ("tgt[-3:-1]", None, -3, -1, True), ("tgt[:]", None, None, None, True),
    ("tgt[ 1 : 2 ]", None, 1, 2, True), ("h.last[1:]", "last", 1, None, True),
])
def test_parse_v2_tensor_references(text: str, attr: str | None, start: int | None,
                                    stop: int | None, sliced: bool) -> None:
    ref = _one(f"{text} -> affine(3)").stages[0]
    assert isinstance(ref, TensorRef)
    assert (ref.attr, ref.start, ref.stop, ref.sliced) == (attr, start, stop, sliced)
    name = text.split(".")[0].split("[")[0]
    assert ref.name == name and ref.name_span.end_column == 1 + len(name)
    assert ref.span.end_column == 1 + len(text)


def test_parse_v2_references_as_argument_values() -> None:
    call = _one("lstm(128, init=h.last) -> softmax_ce(tgt[1:])").stages
    assert isinstance(call[0].args[1].value, TensorRef) and call[0].args[1].name == "init"
    assert call[1].args[0].value.start == 1


# ---- labels, parameters, shapes, named inputs -------------------------------------------


def test_parse_v2_weight_labels() -> None:
    embed, relu, tied = _one("embed(650)@E -> relu@R -> affine(tied=E)").stages
    assert embed.label == "E" and (embed.label_span.column, embed.span.end_column) == (12, 13)
    assert relu.label == "R" and not relu.has_parens
    assert tied.label is None and tied.args[0].value.name == "E"


def test_parse_v2_block_parameters() -> None:
    program = parse("cbr(n, p=1) = conv(n, 3, pad=p) -> relu\ncbr(16) -> cbr(32, p=2)")
    (d,) = program.definitions
    assert d.name == "cbr" and (d.name_span.column, d.name_span.end_column) == (1, 4)
    assert [(p.name, p.default) for p in d.params] == [("n", None), ("p", 1)]
    assert isinstance(d.params[0], Param) and d.params[1].span.column == 8
    assert [s.name for s in d.body.stages] == ["conv", "relu"]
    assert parse("b = relu\nb").definitions[0].params == ()


def test_parse_v2_image_shape() -> None:
    (arg,) = parse("input: 1x28x28").declarations[0].args
    assert arg.value == Dims((1, 28, 28), "1x28x28")
    assert [a.value for a in parse("input: 1, 28, 28").declarations[0].args] == [1, 28, 28]
    assert parse("input: 784").declarations[0].args[0].value == 784


def test_parse_v2_named_inputs() -> None:
    src, tgt = parse("input: src: tokens, tgt: tokens(10000)").declarations[0].args
    assert (src.name, src.colon, src.value.name) == ("src", True, "tokens")
    assert (tgt.name, tgt.colon, tgt.value.args[0].value) == ("tgt", True, 10000)
    assert (src.span.column, src.value_span.column) == (8, 13)
    (kw,) = parse("train: epochs=3").declarations[0].args
    assert isinstance(kw, Arg) and not kw.colon


# ---- fmt round trip ----------------------------------------------------------------------

_V2 = [
    "residual(affine(256) -> batchnorm -> relu)",
    "residual(f, skip=affine(10)) -> add(a -> relu, b)",
    "input: src: tokens, tgt: tokens\nsrc -> embed(16) -> lstm(128) => h\n"
    "concat(tgt[:-1] -> embed(16), h.last) -> lstm(128, init=h.last) => d\n"
    "concat(d, h.last) -> affine -> softmax_ce(tgt[1:])",
    "cbr(n, p=1) = conv(n, 3, pad=p) -> relu\ninput: 1x28x28\ncbr(16) -> cbr(32, p=2)",
    "# header\nembed(650) @ E -> relu@R  # tied\n  -> affine(tied=E)\n",
    "input:src:tokens\nsrc->embed(4)\n=>h   # bound\nh . last" .replace(" . ", "."),
    "residual(\n  affine(256)  # inside\n  -> relu)\n  -> x\n  => h  # end",
    "tgt[ 1 : 2 ] -> residual((a -> b) * 2)",
]


@pytest.mark.parametrize("text", _V2)
def test_fmt_v2_round_trip_is_idempotent_and_keeps_comments(text: str) -> None:
    once = format_source(text)
    assert format_source(once) == once
    assert _shape(parse(once)) == _shape(parse(text))
    for comment in (line.split("#", 1)[1] for line in text.splitlines() if "#" in line):
        assert comment in once


def test_fmt_v2_canonical_layout() -> None:
    assert format_source("cbr(n,p=1)=conv(n)\nx=>h\ntgt[ :-1 ]->embed(3)@E") == (
        "cbr(n, p=1) = conv(n)\n\nx => h\ntgt[:-1] -> embed(3)@E\n")
    assert format_source("input: src : tokens , tgt:tokens") == "input: src: tokens, tgt: tokens\n"


# ---- syntax errors -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "code", "line", "col", "words"), [
    ("src -> lstm(8) =>", "unexpected_eof", 1, 18, "expected a name after '=>'"),
    ("src -> lstm(8) =>\nrelu", "unexpected_newline", 1, 18, "expected a name after '=>'"),
    ("embed(6)@ -> relu", "unexpected_token", 1, 11, "expected a name after '@'"),
    ("residual(a => h)", "unexpected_token", 1, 12, "'=>' names the value"),
    ("b = relu => h", "unexpected_token", 1, 10, "'=>' names the value"),
    ("(a -> b)@E", "unexpected_token", 1, 9, "weight label follows a call"),
    ("f(1)[1:]", "unexpected_token", 1, 5, "slice follows the name"),
    ("tgt[1:2:3] -> f", "unexpected_character", 1, 4, "`name[start:stop]`"),
    ("tgt[i:] -> f", "unexpected_character", 1, 4, "`name[start:stop]`"),
    ("affine[100] -> f", "unexpected_character", 1, 7, "use parentheses"),
    ("h. last -> f", "unexpected_character", 1, 2, "`name.last`"),
    ("input: 1 x 28", "unexpected_token", 1, 10, "without spaces"),
    ("cbr(3) = relu", "bad_parameter", 1, 5, "must be a name"),
    ("cbr(n, n) = relu", "bad_parameter", 1, 8, "given twice"),
    ("cbr(p=1, n) = relu", "bad_parameter", 1, 10, "no default"),
    ("cbr(n)@E = relu", "bad_parameter", 1, 8, "no weight label"),
    ("cbr(f(1)) = relu", "bad_parameter", 1, 5, "must be a name"),
    ("f(tgt[:" + "9" * 200 + "])", "bad_slice", 1, 6, "too large"),
    ("data: data.npz", "unexpected_character", 1, 11, 'data: "data.npz"'),
])
def test_parse_v2_errors_are_located(text: str, code: str, line: int, col: int,
                                     words: str) -> None:
    err = _error(text)
    assert (err.code, err.line, err.column) == (code, line, col)
    assert words in str(err)


def test_parse_v2_colon_argument_only_in_settings() -> None:
    err = _error("f(a: 1)")
    assert (err.code, err.column) == ("unexpected_token", 4)


def test_parse_v2_setting_takes_no_pipeline() -> None:
    err = _error("init: he -> relu")
    assert (err.code, err.column) == ("unexpected_token", 10)


def test_parse_v2_huge_shape_is_kept_as_too_large() -> None:
    (arg,) = parse("input: 1x" + "9" * 200).declarations[0].args
    assert type(arg.value).__name__ == "TooLarge"
