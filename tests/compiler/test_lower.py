"""Stage 5, lower: widths inferred and checked, parameters named, limits enforced, run settings."""

from __future__ import annotations

import time

import pytest

import netc.api
from netc.compiler.lower import MAX_PARAMS
from netc.compiler.plan import NetPlan
from netc.errors import SpecError, SpecLimitError, SpecShapeError

DLFS_MULTILAYER = (
    "affine(784, 100) -> relu -> (affine(100) -> relu) * 4 -> affine(10) -> softmax_ce")


def _error(cls: type[SpecError], text: str) -> SpecError:
    with pytest.raises(cls) as info:
        netc.api.plan(text)
    return info.value


def _where(err: SpecError) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in err.diagnostics]


def _widths(plan: NetPlan) -> list[tuple[str, int, int]]:
    return [(lp.op, lp.n_in, lp.n_out) for lp in plan.layers]


# ---- widths and parameters -------------------------------------------------------------


def test_lower_dlfs_multilayer_net_widths() -> None:
    plan = netc.api.plan(DLFS_MULTILAYER)
    affines = [(lp.n_in, lp.n_out) for lp in plan.layers if lp.op == "affine"]
    assert affines == [(784, 100)] + [(100, 100)] * 4 + [(100, 10)]
    assert len(plan.layers) == 12 and plan.input_width == 784 and plan.n_outputs == 10
    assert plan.loss.op == "softmax_ce"


def test_lower_dlfs_multilayer_net_parameter_names_and_shapes() -> None:
    plan = netc.api.plan(DLFS_MULTILAYER)
    params = [(p.key, p.shape) for lp in plan.layers for p in lp.params]
    assert params[:4] == [("0.affine.W", (784, 100)), ("0.affine.b", (100,)),
                          ("2.affine.W", (100, 100)), ("2.affine.b", (100,))]
    assert params[-2:] == [("10.affine.W", (100, 10)), ("10.affine.b", (10,))]
    assert [k for k, _ in params][::2] == [f"{i}.affine.W" for i in (0, 2, 4, 6, 8, 10)]
    assert plan.param_count == 784 * 100 + 100 + 4 * (100 * 100 + 100) + 100 * 10 + 10


def test_lower_shape_inference_from_input() -> None:
    plan = netc.api.plan("input: 784\naffine(50) -> relu -> affine(10) -> softmax_ce")
    assert _widths(plan) == [("affine", 784, 50), ("relu", 50, 50), ("affine", 50, 10),
                             ("softmax_ce", 10, 10)]


def test_lower_input_width_from_first_explicit_n_in_after_width_keeping_layers() -> None:
    plan = netc.api.plan("dropout(0.1) -> affine(4, 3) -> mse")
    assert plan.input_width == 4
    assert _widths(plan)[0] == ("dropout", 4, 4)


def test_lower_matching_explicit_n_in_is_accepted() -> None:
    plan = netc.api.plan("input: 4\naffine(4, 3) -> affine(3, 2) -> mse")
    assert _widths(plan)[1] == ("affine", 3, 2)


def test_lower_matmul_has_no_bias() -> None:
    plan = netc.api.plan("matmul(3, 2) -> mse")
    assert [p.key for p in plan.layers[0].params] == ["0.matmul.W"]


def test_lower_batchnorm_parameters_and_buffers() -> None:
    layer = netc.api.plan("affine(3, 4) -> batchnorm -> mse").layers[1]
    assert [(p.key, p.shape, p.init) for p in layer.params] == [
        ("1.batchnorm.gamma", (4,), "ones"), ("1.batchnorm.beta", (4,), "zeros")]
    assert [p.key for p in layer.buffers] == ["1.batchnorm.running_mean",
                                              "1.batchnorm.running_var"]


def test_lower_repeat_and_sum_nodes_change_width() -> None:
    plan = netc.api.plan("affine(2, 4) -> repeat(3) -> sum(n=2) -> mse")
    assert _widths(plan)[1:] == [("repeat", 4, 12), ("sum", 12, 6), ("mse", 6, 6)]


def test_lower_layer_attributes_are_kept() -> None:
    plan = netc.api.plan("affine(2, 4) -> leaky_relu(0.2) -> dropout(p=0.3) -> mse")
    assert plan.layers[1].attr("alpha") == 0.2 and plan.layers[2].attr("p") == 0.3


def test_lower_layer_spans_point_at_calls() -> None:
    plan = netc.api.plan("input: 2\nh = affine(3) -> relu\nh -> mse")
    assert [lp.where for lp in plan.layers] == ["2:5", "2:18", "3:6"]


# ---- initialisation --------------------------------------------------------------------


def _inits(text: str) -> list[str]:
    return [p.init for lp in netc.api.plan(text).layers for p in lp.params if p.name == "W"]


def test_lower_init_auto_is_he_before_relu_and_xavier_otherwise() -> None:
    inits = _inits("affine(2, 4) -> relu -> affine(4) -> tanh -> affine(4) -> leaky_relu"
                   " -> affine(4) -> sigmoid -> affine(3) -> softmax_ce")
    assert inits == ["he", "xavier", "he", "xavier", "xavier"]


def test_lower_init_auto_looks_through_dropout_and_batchnorm() -> None:
    assert _inits("affine(2, 4) -> batchnorm -> dropout -> relu -> affine(2) -> mse") == [
        "he", "xavier"]


def test_lower_init_explicit_and_declared() -> None:
    assert _inits("init: xavier\naffine(2, 4, init=he) -> relu -> affine(4) -> relu -> mse") == [
        "he", "xavier"]


def test_lower_init_normal_std() -> None:
    plan = netc.api.plan("init: normal, std=0.1\naffine(2, 4) -> affine(4, std=0.5) -> mse")
    w0, w1 = (lp.params[0] for lp in plan.layers[:2])
    assert (w0.init, w0.std, w0.fan_in) == ("normal", 0.1, 2)
    assert (w1.init, w1.std, w1.fan_in) == ("normal", 0.5, 4)


def test_lower_init_std_ignored_unless_normal() -> None:
    plan = netc.api.plan("affine(2, 4, std=0.5) -> relu -> mse")
    assert plan.layers[0].params[0].std is None


# ---- run settings, hash ----------------------------------------------------------------


def test_lower_run_settings_reach_the_plan() -> None:
    plan = netc.api.plan(
        "data: mnist\noptimizer: adam(lr=0.002, wd=1e-4)\n"
        "train: epochs=3,\n       batch_size=10, seed=7, dtype=float64\n"
        "affine(2, 3) -> softmax_ce")
    run = plan.run
    assert (run.data, run.optimizer, run.epochs, run.batch_size, run.seed, run.dtype) == (
        "mnist", "adam", 3, 10, 7, "float64")
    assert run.hyper == (("lr", 0.002), ("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-7),
                         ("wd", 1e-4))


def test_lower_run_defaults() -> None:
    run = netc.api.plan("affine(2, 3) -> mse").run
    assert (run.data, run.optimizer, run.hyper, run.epochs, run.batch_size, run.seed,
            run.dtype) == ("spiral", "sgd", (("lr", 0.01), ("wd", 0.0)), 10, 100, 0, "float32")


def test_lower_plan_path_follows_source() -> None:
    assert netc.api.plan("affine(2, 3) -> mse", path="x/y.net").path == "x/y.net"
    assert netc.api.plan("affine(2, 3) -> mse").path == "<string>"


def test_lower_spec_hash_ignores_comments_whitespace_and_settings() -> None:
    a = netc.api.plan("affine(784, 100) -> relu -> affine(10) -> softmax_ce")
    b = netc.api.plan("# the same net\ninput: 784\ntrain: epochs=3\naffine(100)   ->\n"
                      "  relu  # hidden\n  -> affine(100, 10) -> softmax_ce\n")
    assert len(a.spec_hash) == 64 and a.spec_hash == b.spec_hash


@pytest.mark.parametrize("other", [
    "affine(784, 101) -> relu -> affine(10) -> softmax_ce",
    "affine(784, 100) -> tanh -> affine(10) -> softmax_ce",
    "affine(784, 100) -> relu -> affine(10) -> mse",
    "affine(784, 100) -> relu -> dropout -> affine(10) -> softmax_ce",
    "affine(784, 100) -> leaky_relu(0.2) -> affine(10) -> softmax_ce",
])
def test_lower_spec_hash_changes_with_architecture(other: str) -> None:
    base = netc.api.plan("affine(784, 100) -> relu -> affine(10) -> softmax_ce")
    assert netc.api.plan(other).spec_hash != base.spec_hash


def test_lower_summary_lists_layers_and_total() -> None:
    text = netc.api.plan("input: 784\nh = affine(100) -> relu\nh * 2 -> affine(10) -> softmax_ce"
                         ).summary()
    assert "affine(784, 100)" in text and "affine(100, 10)" in text
    assert text.splitlines()[-2] == "parameters: 89,610 (350.0 KiB as float32)"
    assert text.splitlines()[-1].startswith("memory: about 4.5 MiB for training at batch 100 ")


# ---- shape errors ----------------------------------------------------------------------


def test_lower_unknown_width_without_input() -> None:
    err = _error(SpecShapeError, "# no input width\naffine(10) -> softmax_ce")
    assert _where(err) == [("unknown_width", 2, 1)]
    assert "input: 784" in err.diagnostics[0].hint


def test_lower_unknown_width_for_node_first() -> None:
    err = _error(SpecShapeError, "repeat(2) -> affine(4, 2) -> mse")
    assert _where(err) == [("unknown_width", 1, 1)]


def test_lower_shape_mismatch_explains_chain_and_fix() -> None:
    err = _error(SpecShapeError,
                 "input: 784\naffine(100) -> relu -> dropout\n  -> affine(50, 10) -> softmax_ce")
    assert _where(err) == [("shape_mismatch", 3, 13)]
    d = err.diagnostics[0]
    assert d.message == "affine expects 50 inputs but receives 100 from affine at 2:1"
    assert d.hint == "write affine(100, 10) or affine(10)"
    assert d.notes == ("widths: affine 100 (2:1) -> relu 100 (2:16) -> dropout 100 (2:24)",)


def test_lower_shape_mismatch_against_declared_input() -> None:
    err = _error(SpecShapeError, "input: 784\naffine(748, 10) -> softmax_ce")
    assert _where(err) == [("shape_mismatch", 2, 8)]
    assert err.diagnostics[0].message == (
        "affine expects 748 inputs but receives 784 from the input")
    assert err.diagnostics[0].notes == ("widths: input 784",)


def test_lower_shape_mismatch_inside_block_has_notes() -> None:
    err = _error(SpecShapeError, "h = affine(5, 5) -> relu\naffine(2, 4) -> h -> mse")
    assert _where(err) == [("shape_mismatch", 1, 12)]
    assert err.diagnostics[0].notes[0] == "in block 'h' used at 2:17"


def test_lower_independent_shape_mismatches_reported_together() -> None:
    err = _error(SpecShapeError, "affine(2, 3) -> affine(4, 5) -> relu -> affine(6, 7) -> mse")
    assert _where(err) == [("shape_mismatch", 1, 24), ("shape_mismatch", 1, 48)]


def test_lower_sum_width_not_divisible() -> None:
    err = _error(SpecShapeError, "affine(2, 6) -> relu -> sum(4) -> mse")
    assert _where(err) == [("shape_mismatch", 1, 25)]
    d = err.diagnostics[0]
    assert "input width 6 is not divisible by 4" in d.message
    assert d.notes == ("widths: affine 6 (1:1) -> relu 6 (1:17)",)


def test_lower_too_few_classes() -> None:
    err = _error(SpecShapeError, "affine(4, 1) -> softmax_ce")
    assert _where(err) == [("too_few_classes", 1, 17)]
    assert err.diagnostics[0].hint == "use sigmoid_ce for a single output unit"


def test_lower_too_many_params_before_allocation() -> None:
    err = _error(SpecLimitError, "input: 100000\naffine(100000) -> relu -> affine(10) -> mse")
    assert _where(err) == [("too_many_params", 2, 1)]
    assert f"the limit is {MAX_PARAMS:,} (2**31)" in str(err)
    assert err.diagnostics[0].hint == "the largest layer is 0.affine with 10,000,100,000 parameters"


def test_lower_error_rendering_shows_the_source_line() -> None:
    err = _error(SpecShapeError, "affine(2, 3) -> affine(4, 5) -> mse")
    assert str(err).splitlines()[:3] == [
        "<string>:1:24: error: affine expects 4 inputs but receives 3 from affine at 1:1",
        "  affine(2, 3) -> affine(4, 5) -> mse",
        "                         ^",
    ]


def test_lower_repeat_width_obeys_the_width_limit() -> None:
    err = _error(SpecLimitError, "input: 3\nrepeat(1073741824) -> relu -> softmax_ce")
    assert _where(err) == [("too_wide", 2, 1)]
    assert "turns width 3 into 3,221,225,472; a width may be at most 2,147,483,648" in str(err)
    netc.api.plan("input: 2\nrepeat(1073741824) -> sum(1073741824) -> mse")  # 2**31 is allowed


# ---- scale -----------------------------------------------------------------------------


def test_lower_ten_thousand_layers_plan_quickly() -> None:
    text = "affine(10, 10) -> relu -> " * 5000 + "mse"
    start = time.perf_counter()
    plan = netc.api.plan(text)
    elapsed = time.perf_counter() - start
    assert len(plan.layers) == 10_001
    assert plan.layers[-3].params[0].key == "9998.affine.W"
    assert elapsed < 10  # a hang guard, not a benchmark (took 3.6 s on a busy CI machine)
