"""The graph IR's front half: combinators, named values and block parameters become nodes with
the right inputs, and every misuse is one located error with its fix."""

from __future__ import annotations

import pytest

import netc
from netc.errors import SpecError


def _graph(text: str) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    plan = netc.plan(text)
    return [(lp.op, lp.inputs, lp.shape) for lp in plan.layers]


def _error(text: str) -> tuple[str, int, int, str, str]:
    with pytest.raises(SpecError) as info:
        netc.plan(text)
    d = info.value.diagnostics[0]
    return d.code, d.span.line, d.span.column, d.message, d.hint or ""


def test_residual_is_input_plus_branch() -> None:
    assert _graph("input: 4\naffine(8) -> residual(affine(8) -> relu) -> softmax_ce") == [
        ("affine", (-1,), (8,)), ("affine", (0,), (8,)), ("relu", (1,), (8,)),
        ("add", (0, 2), (8,)), ("softmax_ce", (3,), (8,))]


def test_residual_with_skip_adds_both_branches_skip_first() -> None:
    graph = _graph("input: 4\nresidual(affine(8) -> relu, skip=affine(8)) -> softmax_ce")
    # The skip branch comes first, as in g(x) + f(x).
    assert graph == [("affine", (-1,), (8,)), ("affine", (-1,), (8,)), ("relu", (1,), (8,)),
                     ("add", (0, 2), (8,)), ("softmax_ce", (3,), (8,))]


def test_concat_joins_feature_axes_and_add_takes_many_branches() -> None:
    graph = _graph("input: 4\nconcat(affine(3), tanh, affine(2) -> relu) -> "
                   "add(affine(5), affine(5), relu -> affine(5)) -> softmax_ce")
    assert graph[4] == ("concat", (0, 1, 3), (9,))
    assert graph[-2] == ("add", (5, 6, 8), (5,))


def test_named_values_start_pipelines_and_merge() -> None:
    graph = _graph("input: 4\naffine(8) => h\nh -> relu => a\nadd(h, a) -> affine(2) -> mse")
    assert [(op, ins) for op, ins, _ in graph] == [
        ("affine", (-1,)), ("relu", (0,)), ("add", (0, 1)), ("affine", (2,)), ("mse", (3,))]


def test_a_value_read_twice_by_one_merge() -> None:
    graph = _graph("input: 4\naffine(3) => h\nconcat(h, h) -> mse")
    assert graph[1] == ("concat", (0, 0), (6,))


def test_block_parameters_substitute_defaults_and_keywords() -> None:
    plan = netc.plan("cbr(n, p=0.5) = affine(n) -> relu -> dropout(p)\ninput: 4\n"
                     "cbr(8) -> cbr(6, p=0.25) -> softmax_ce")
    assert [(lp.op, lp.n_out, lp.attr("p")) for lp in plan.layers] == [
        ("affine", 8, None), ("relu", 8, None), ("dropout", 8, 0.5), ("affine", 6, None),
        ("relu", 6, None), ("dropout", 6, 0.25), ("softmax_ce", 6, None)]


def test_repeated_residual_blocks_make_distinct_weights() -> None:
    plan = netc.plan("input: 4\nblock = residual(affine(4) -> relu)\nblock * 3 -> softmax_ce")
    assert [lp.op for lp in plan.layers].count("add") == 3
    assert len({p.key for lp in plan.layers for p in lp.params}) == 6


def test_chains_keep_their_plan_hash_and_graphs_change_it() -> None:
    chain = netc.plan("input: 4\naffine(8) -> relu -> affine(8) -> softmax_ce")
    graph = netc.plan("input: 4\naffine(8) -> residual(relu) -> affine(8) -> softmax_ce")
    assert chain.is_chain and not graph.is_chain
    # Pinned: the fingerprint of a chain is the one checkpoints written before the graph IR
    # carry, so they still load.
    assert chain.spec_hash == netc.plan("input: 4\naffine(8)->relu->affine(8)->softmax_ce"
                                        ).spec_hash
    assert graph.spec_hash != chain.spec_hash


def test_image_input_shapes_flow_and_flatten() -> None:
    plan = netc.plan("input: 1x28x28\nrelu -> flatten -> affine(10) -> softmax_ce")
    assert plan.input_shape == (1, 28, 28) and plan.input_width == 784
    assert [lp.shape for lp in plan.layers] == [(1, 28, 28), (784,), (10,), (10,)]
    assert "(batch, 1, 28, 28)" in plan.summary()


ERRORS = [
    ("input: 1x28x28\naffine(10) -> softmax_ce", "shape_mismatch", 2, 1,
     "affine takes one vector or one sequence per row, but receives (batch, 1, 28, 28) "
     "from the input",
     "insert flatten"),
    ("input: 4\naffine(8) -> residual(affine(5)) -> softmax_ce", "shape_mismatch", 2, 14,
     "add needs inputs of one shape, but receives (batch, 8) and (batch, 5)", "affine(8)"),
    ("input: 4\naffine(8) => h\nhh -> affine(2) -> softmax_ce", "undefined_name", 3, 1,
     "unknown name 'hh'", "did you mean 'h'?"),
    ("input: 2\naffine(2) => h\naffine(3) -> add(h, h) -> mse", "unused_value", 3, 1,
     "the output of affine at 3:1 is never used: what comes next starts from named values",
     "remove it"),
    ("input: 4\naffine(8) -> relu => h\naffine(2) -> softmax_ce", "unused_name", 2, 22,
     "'h' is bound but never used", "remove '=> h'"),
    ("input: 4\nh -> affine(8) => h\nh -> affine(2) -> softmax_ce", "undefined_name", 2, 1,
     "'h' is used in the pipeline that defines it", "cycle"),
    ("input: 4\nh -> affine(2) => a\naffine(8) => h\na -> softmax_ce", "undefined_name", 2, 1,
     "'h' is used before it is defined", "(3:14)"),
    ("input: 4\naffine(8) => h\nh -> relu -> h -> softmax_ce", "bad_name_use", 3, 14,
     "the named value 'h' can only start a pipeline", "concat"),
    ("input: 4\naffine(8) => h\naffine(8) => h\nh -> softmax_ce", "duplicate_name", 3, 14,
     "'h' is bound twice", "another name"),
    ("input: 4\naffine(8) => relu\nrelu -> softmax_ce", "bad_name", 2, 14,
     "'relu' names a layer or block", "another name"),
    ("input: 4\naffine(8) -> add(relu) -> softmax_ce", "bad_combinator", 2, 14,
     "add takes two or more branches, got 1", "add(f, g)"),
    ("input: 4\naffine(8) -> residual -> softmax_ce", "bad_combinator", 2, 14,
     "residual needs its branches in parentheses", "residual(f)"),
    ("input: 4\naffine(8) -> residual(relu, relu) -> softmax_ce", "bad_combinator", 2, 29,
     "residual takes one branch and an optional skip=", "skip=g"),
    ("input: 4\naffine(8) -> concat(relu, 3) -> softmax_ce", "bad_combinator", 2, 27,
     "a branch of concat must be layers, got 3", "concat(f, g)"),
    ("cbr(n, p=1) = affine(n) -> dropout(p)\ninput: 4\ncbr(8) -> softmax_ce",
     "out_of_range", 1, 8, "'p' of dropout must be less than 1.0, got 1", ""),
    ("cbr(n) = affine(n)\ninput: 4\ncbr(8, q=1) -> softmax_ce", "block_args", 3, 8,
     "block 'cbr' has no parameter 'q'", "usage: cbr(n)"),
    ("cbr(n) = affine(n)\ninput: 4\ncbr -> softmax_ce", "block_args", 3, 1,
     "block 'cbr' needs a value for 'n'", "usage: cbr(n)"),
    ("cbr(n) = affine(n)\ninput: 4\ncbr(8, 9) -> softmax_ce", "block_args", 3, 8,
     "block 'cbr' takes 1 argument, got 2", "usage: cbr(n)"),
    ("f(n) = affine(n) -> n\ninput: 4\nf(3) -> softmax_ce", "bad_block_arg", 1, 21,
     "'n' is a parameter of the block, not a layer", "affine(n)"),
]


@pytest.mark.parametrize(("text", "code", "line", "col", "message", "hint"), ERRORS,
                         ids=[e[1] + str(i) for i, e in enumerate(ERRORS)])
def test_graph_errors_are_located_with_a_fix(text, code, line, col, message, hint) -> None:
    got = _error(text)
    assert got[:3] == (code, line, col), got
    assert got[3] == message
    assert hint in got[4]


def test_lint_follows_what_the_loss_reads_in_a_graph() -> None:
    text = ("data: mnist\ninput: 784\naffine(10) => h\nh -> softmax => s\n"
            "concat(h, s) -> affine(10) => o\no -> softmax => p\np -> softmax_ce")
    found = [(d.code, d.span.line) for d in netc.lint(text)]
    assert ("double_activation", 6) in found  # `o -> softmax` feeds the loss
    assert not [c for c, line in found if c == "double_activation" and line == 4]


def test_netc_layers_lists_the_graph_forms() -> None:
    from netc.commands import layers_table
    from netc.compiler.forms import FORMS
    from netc.compiler.unroll import COMBINATORS

    table = layers_table()
    assert table.index("layers:") < table.index("losses") < table.index("graphs:")
    assert all(form in table for form, _ in FORMS)
    assert all(any(form.startswith(c + "(") for form, _ in FORMS) for c in COMBINATORS)


def test_a_lost_pipeline_value_in_a_graph_spec_says_so() -> None:
    got = _error("input: 4\naffine(8) => h\nh -> affine(3) -> softmax_ce\n"
                 "h -> affine(3) -> softmax_ce")
    assert got[:3] == ("multiple_pipelines", 4, 1)
    assert "(line 3) does not name its value" in got[3] and "'=> name'" in got[4]


def test_check_json_has_the_graph() -> None:
    from netc.commands import plan_json

    found = plan_json(netc.plan("input: a: 4, b: 1x2x2\na -> affine(4)@A => h\n"
                                "b -> flatten -> affine(4)@A => g\nadd(h, g) -> mse"))
    assert found["inputs"] == {"a": [4], "b": [1, 2, 2]}
    assert [lp["inputs"] for lp in found["layers"]] == [[-1], [-2], [1], [0, 2], [3]]
    assert found["layers"][2]["shares"] == {"0.affine.W": [4, 4], "0.affine.b": [4]}


def test_check_table_says_what_each_merge_reads() -> None:
    table = netc.plan("input: 4\naffine(8) -> residual(affine(8) -> relu) -> mse").summary()
    assert "add ← 0, 2" in table
    chain = netc.plan("input: 4\naffine(8) -> relu -> mse").summary()
    assert "←" not in chain  # a chain's table is as it always was
