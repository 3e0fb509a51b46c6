"""Stage 2, expand: blocks inlined, repeats unrolled, and every limit enforced before unrolling."""

from __future__ import annotations

import time

import pytest

import netc.api
from netc.compiler.expand import MAX_DEPTH, MAX_LAYERS, expand
from netc.dsl import parse
from netc.errors import SpecError, SpecLimitError, SpecStructureError


def _expand(text: str) -> list[str]:
    return [e.call.name for e in expand(parse(text))]


def _error(cls: type[SpecError], text: str) -> SpecError:
    with pytest.raises(cls) as info:
        expand(parse(text))
    return info.value


def _where(err: SpecError) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in err.diagnostics]


# ---- expansion -------------------------------------------------------------------------


def test_expand_plain_pipeline_is_unchanged() -> None:
    assert _expand("affine(2, 3) -> relu -> mse") == ["affine", "relu", "mse"]


def test_expand_repeat_of_a_call() -> None:
    assert _expand("affine(2, 3) -> relu * 3 -> mse") == ["affine", "relu", "relu", "relu", "mse"]


def test_expand_repeat_of_a_group_keeps_order() -> None:
    assert _expand("(affine(3) -> relu) * 2 -> mse") == ["affine", "relu", "affine", "relu", "mse"]


def test_expand_block_is_inlined_with_a_note() -> None:
    calls = expand(parse("input: 3\nh = affine(3) -> relu\nh * 2 -> mse"))
    assert [e.call.name for e in calls] == ["affine", "relu", "affine", "relu", "mse"]
    assert calls[0].notes() == ("in block 'h' used at 3:1",)
    assert calls[-1].notes() == ()


def test_expand_nested_blocks_note_outermost_first() -> None:
    calls = expand(parse("a = relu\nb = tanh -> a\naffine(2, 2) -> b -> mse"))
    assert [e.call.name for e in calls] == ["affine", "tanh", "relu", "mse"]
    assert calls[2].notes() == ("in block 'b' used at 3:17", "in block 'a' used at 2:13")


def test_expand_block_defined_after_use() -> None:
    assert _expand("affine(2, 2) -> h -> mse\nh = tanh") == ["affine", "tanh", "mse"]


def test_expand_name_with_parentheses_is_not_a_block() -> None:
    # `h(...)` is a call; only a bare `h` refers to a block.
    assert _expand("h = tanh\naffine(2, 2) -> h() -> mse") == ["affine", "h", "mse"]


def test_expand_unused_block_is_fine() -> None:
    assert _expand("unused = relu\naffine(2, 2) -> mse") == ["affine", "mse"]


def test_expand_depth_at_the_limit_is_accepted() -> None:
    text = "(" * MAX_DEPTH + "relu" + ")" * MAX_DEPTH + " -> mse"
    assert _expand(text) == ["relu", "mse"]


def test_expand_layer_count_at_the_limit_is_accepted() -> None:
    assert len(_expand(f"relu * {MAX_LAYERS - 1} -> mse")) == MAX_LAYERS


# ---- structure errors ------------------------------------------------------------------


def test_expand_empty_network_without_pipeline() -> None:
    err = _error(SpecStructureError, "# a spec with settings only\ninput: 784\n")
    assert _where(err) == [("empty_network", 3, 1)]


def test_expand_empty_network_for_empty_text() -> None:
    err = _error(SpecStructureError, "")
    assert _where(err) == [("empty_network", 1, 1)]


def test_expand_multiple_pipelines_each_reported() -> None:
    err = _error(SpecStructureError, "affine(2, 3) -> relu\nmse\n\ntanh")
    assert _where(err) == [("multiple_pipelines", 2, 1), ("multiple_pipelines", 4, 1)]
    assert [d.hint for d in err.diagnostics] == ["missing '->' at the end of line 1?",
                                                 "missing '->' at the end of line 2?"]


def test_expand_shadows_op() -> None:
    err = _error(SpecStructureError, "input: 2\nrelu = tanh\naffine(2) -> mse")
    assert _where(err) == [("shadows_op", 2, 1)]
    assert "'relu' is a built-in layer" in str(err)


def test_expand_duplicate_definition() -> None:
    err = _error(SpecStructureError, "h = relu\nh = tanh\naffine(2, 2) -> h -> mse")
    assert _where(err) == [("duplicate_definition", 2, 1)]
    assert err.diagnostics[0].notes == ("first defined at 1:1",)


def test_expand_definition_errors_reported_together() -> None:
    err = _error(SpecStructureError, "mse = relu\nh = relu\nh = tanh\naffine(2, 2) -> h -> mse")
    assert _where(err) == [("shadows_op", 1, 1), ("duplicate_definition", 3, 1)]


def test_expand_recursive_definition_direct() -> None:
    err = _error(SpecStructureError, "h = relu -> h\naffine(2, 2) -> h -> mse")
    assert _where(err) == [("recursive_definition", 1, 13)]
    assert "block 'h' uses itself (h -> h)" in str(err)


def test_expand_recursive_definition_through_other_blocks() -> None:
    err = _error(SpecStructureError, "a = b\nb = (relu -> c) * 2\nc = a\naffine(2, 2) -> a -> mse")
    assert _where(err) == [("recursive_definition", 3, 5)]
    assert "(a -> b -> c -> a)" in str(err)


def test_expand_recursive_definition_even_if_unused() -> None:
    err = _error(SpecStructureError, "loop = loop\naffine(2, 2) -> mse")
    assert err.code == "recursive_definition"


@pytest.mark.parametrize(("count", "column"), [("0", 8), ("-1", 8), ("2.5", 8), ("1e3", 8)])
def test_expand_bad_repeat(count: str, column: int) -> None:
    err = _error(SpecStructureError, f"relu * {count} -> mse")
    assert _where(err) == [("bad_repeat", 1, column)]


def test_expand_bad_repeats_reported_together_with_block() -> None:
    err = _error(SpecStructureError, "h = tanh * 0\nrelu * 2.5 -> h -> (relu) * -3 -> mse")
    assert _where(err) == [("bad_repeat", 1, 12), ("bad_repeat", 2, 8), ("bad_repeat", 2, 29)]


# ---- limits ----------------------------------------------------------------------------


def test_expand_too_deep() -> None:
    depth = MAX_DEPTH + 1
    err = _error(SpecLimitError, "input: 2\n" + "(" * depth + "relu" + ")" * depth + " -> mse")
    assert _where(err) == [("too_deep", 2, 1)]
    assert f"nest {depth} levels deep; the limit is {MAX_DEPTH}" in str(err)


def test_expand_too_deep_inside_a_block() -> None:
    depth = MAX_DEPTH + 5
    err = _error(SpecLimitError, "h = " + "(" * depth + "relu" + ")" * depth + "\nh -> mse")
    assert _where(err) == [("too_deep", 1, 5)]


def test_expand_three_thousand_nested_parentheses_is_a_limit_error() -> None:
    text = "(" * 3000 + "relu" + ")" * 3000 + " -> mse"
    with pytest.raises(SpecLimitError) as info:
        netc.api.plan(text)
    assert info.value.code == "too_deep"


def test_expand_too_many_layers() -> None:
    err = _error(SpecLimitError, f"affine(2, 2) -> relu * {MAX_LAYERS} -> mse")
    assert _where(err) == [("too_many_layers", 1, 1)]
    assert f"unrolls to {MAX_LAYERS + 2:,} layers; the limit is {MAX_LAYERS:,}" in str(err)


def test_expand_huge_repeat_count_is_a_limit_error_quickly() -> None:
    start = time.perf_counter()
    with pytest.raises(SpecLimitError) as info:
        netc.api.plan("affine(2, 2) -> relu * 99999999999 -> mse")
    assert info.value.code == "too_many_layers"
    assert time.perf_counter() - start < 3  # a hang guard, not a benchmark


def test_expand_exponential_blocks_are_a_limit_error() -> None:
    lines = ["b0 = relu"] + [f"b{i} = b{i - 1} -> b{i - 1}" for i in range(1, 80)]
    text = "\n".join(lines) + "\naffine(2, 2) -> b79 * 99999999999 -> mse"
    with pytest.raises(SpecLimitError) as info:
        netc.api.plan(text)
    assert info.value.code == "too_many_layers"
    assert "more than 1,000,000,000,000,000 layers" in str(info.value)


def test_expand_long_block_chain_needs_no_recursion() -> None:
    lines = ["b0 = relu"] + [f"b{i} = b{i - 1}" for i in range(1, 3000)]
    text = "\n".join(lines) + "\naffine(2, 2) -> b2999 -> mse"
    assert [lp.op for lp in netc.api.plan(text).layers] == ["affine", "relu", "mse"]


def test_expand_nested_repeats_multiply() -> None:
    assert len(_expand("((relu * 3) * 4) * 5 -> mse")) == 61
