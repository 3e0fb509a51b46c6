"""Stage 3, validate: arguments bound and checked, every problem located and raised together."""

from __future__ import annotations

import pytest

import netc.api
from netc.compiler import spec as s
from netc.errors import SpecError, SpecValidationError


def _error(text: str) -> SpecValidationError:
    with pytest.raises(SpecValidationError) as info:
        netc.api.validate(text)
    return info.value


def _where(err: SpecError) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in err.diagnostics]


# ---- valid specs -----------------------------------------------------------------------


def test_validate_returns_typed_layers() -> None:
    spec = netc.api.validate("affine(784, 50) -> relu -> dropout(0.2) -> affine(10) -> softmax_ce")
    assert [type(layer) for layer in spec.layers] == [
        s.AffineSpec, s.ReluSpec, s.DropoutSpec, s.AffineSpec, s.SoftmaxCESpec]
    assert (spec.layers[0].n_in, spec.layers[0].n_out) == (784, 50)
    assert (spec.layers[3].n_in, spec.layers[3].n_out) == (None, 10)
    assert spec.layers[2].p == 0.2


def test_validate_positional_and_keyword_forms_agree() -> None:
    a = netc.api.validate("affine(4, 3, init=he, std=0.5) -> mse").layers[0]
    b = netc.api.validate("affine(n_out=3, n_in=4, init='he', std=.5) -> mse").layers[0]
    assert a == b


def test_validate_defaults_of_optional_arguments() -> None:
    layers = netc.api.validate("affine(2, 2) -> leaky_relu -> dropout -> batchnorm -> mse").layers
    assert layers[1].alpha == 0.01 and layers[2].p == 0.5
    assert (layers[3].momentum, layers[3].eps) == (0.9, 1e-5)


def test_validate_run_defaults() -> None:
    run = netc.api.validate("affine(2, 2) -> mse").run
    assert run.input is None and run.data.source == "spiral"
    assert (run.optimizer.name, run.optimizer.lr, run.optimizer.wd) == ("sgd", 0.01, 0.0)
    assert (run.train.epochs, run.train.batch_size, run.train.seed, run.train.dtype) == (
        10, 100, 0, "float32")
    assert (run.init.scheme, run.init.std) == ("auto", None)


def test_validate_declarations() -> None:
    run = netc.api.validate(
        'input: 784\ndata: "digits.npz"\noptimizer: adam(lr=0.001)\n'
        "train: epochs=3,\n       batch_size=10, dtype=float64\ninit: normal, std=0.1\n"
        "affine(10) -> softmax_ce").run
    assert run.input.width == 784 and run.data.source == "digits.npz"
    assert isinstance(run.optimizer, s.AdamSpec) and run.optimizer.lr == 0.001
    assert (run.train.epochs, run.train.batch_size, run.train.dtype) == (3, 10, "float64")
    assert (run.init.scheme, run.init.std) == ("normal", 0.1)


@pytest.mark.parametrize("line", [
    "optimizer: momentum(lr=0.1, momentum=0.5)",
    "optimizer: momentum, lr=0.1, momentum=0.5",
    "optimizer: momentum(0.1), momentum=0.5",
    "optimizer: name=momentum, lr=0.1, momentum=0.5",
])
def test_validate_optimizer_forms(line: str) -> None:
    opt = netc.api.validate(f"{line}\naffine(2, 2) -> mse").run.optimizer
    assert isinstance(opt, s.MomentumSpec) and (opt.lr, opt.momentum) == (0.1, 0.5)


def test_validate_optimizer_positional_lr_twice_is_duplicate() -> None:
    err = _error("optimizer: adam(0.1, lr=0.2)\naffine(2, 2) -> mse")
    assert _where(err) == [("duplicate_arg", 1, 22)]


def test_validate_optimizer_takes_one_positional_argument() -> None:
    err = _error("optimizer: adam(0.1, 0.2)\naffine(2, 2) -> mse")
    assert _where(err) == [("too_many_args", 1, 22)]


def test_validate_optimizer_without_name_is_sgd() -> None:
    opt = netc.api.validate("optimizer: lr=0.5\naffine(2, 2) -> mse").run.optimizer
    assert isinstance(opt, s.SGDSpec) and opt.lr == 0.5


def test_validate_strings_and_names_are_interchangeable() -> None:
    a = netc.api.validate("data: mnist\naffine(2, 2) -> mse").run.data.source
    b = netc.api.validate('data: "mnist"\naffine(2, 2) -> mse').run.data.source
    assert a == b == "mnist"


# ---- call errors -----------------------------------------------------------------------


def test_validate_unknown_op_suggests_nearest() -> None:
    err = _error("affine(2, 3) -> relu -> sofmax_ce")
    assert _where(err) == [("unknown_op", 1, 25)]
    assert err.diagnostics[0].hint == "did you mean 'softmax_ce'?"


def test_validate_unknown_op_without_close_match_lists_how_to_find_layers() -> None:
    err = _error("affine(2, 3) -> zzzz -> mse")
    assert _where(err) == [("unknown_op", 1, 17)]
    assert err.diagnostics[0].hint == "run `netc layers` to list them"


def test_validate_unknown_arg_points_at_keyword_and_suggests() -> None:
    err = _error("affine(2, 3, nout=4) -> mse")
    assert _where(err) == [("unknown_arg", 1, 14)]
    assert err.diagnostics[0].hint == "did you mean 'n_out'?"


def test_validate_unknown_arg_without_close_match_shows_usage() -> None:
    err = _error("affine(2, 3) -> dropout(rate=0.5) -> mse")
    assert _where(err) == [("unknown_arg", 1, 25)]
    assert err.diagnostics[0].hint == "usage: dropout(p); keywords: p"


def test_validate_missing_arg_points_at_call() -> None:
    err = _error("input: 2\naffine(2) -> relu -> affine() -> mse")
    assert _where(err) == [("missing_arg", 2, 22)]
    assert "affine needs 'n_out'" in str(err)
    assert err.diagnostics[0].hint == (
        "usage: affine(n_out) or affine(n_in, n_out); keywords: n_in, n_out, init, std")


def test_validate_missing_arg_for_bare_name() -> None:
    err = _error("input: 2\naffine -> mse")
    assert _where(err) == [("missing_arg", 2, 1)]


def test_validate_too_many_args_points_at_first_extra() -> None:
    err = _error("affine(2, 3, 4, 5) -> mse")
    assert _where(err) == [("too_many_args", 1, 14)]
    assert "affine takes two positional arguments, got 4" in str(err)


def test_validate_too_many_args_for_op_without_arguments() -> None:
    err = _error("affine(2, 3) -> relu(1) -> mse")
    assert _where(err) == [("too_many_args", 1, 22)]
    assert err.diagnostics[0].hint == "relu takes no arguments"


def test_validate_duplicate_arg_positional_and_keyword() -> None:
    err = _error("affine(2, 3, n_out=4) -> mse")
    assert _where(err) == [("duplicate_arg", 1, 14)]


def test_validate_duplicate_arg_keyword_twice() -> None:
    err = _error("affine(2, 3) -> dropout(p=0.1, p=0.2) -> mse")
    assert _where(err) == [("duplicate_arg", 1, 32)]


@pytest.mark.parametrize(("arg", "column", "got"), [
    ("2.5", 11, "got 2.5"), ('"ten"', 11, "got 'ten'"), ("ten", 11, "got 'ten'"),
    ("true", 11, "got true"), ("10.0", 11, "got 10.0"),
])
def test_validate_bad_type_for_a_width(arg: str, column: int, got: str) -> None:
    err = _error(f"affine(2, {arg}) -> mse")
    assert _where(err) == [("bad_type", 1, column)]
    assert f"'n_out' of affine must be a whole number, {got}" in str(err)


def test_validate_bad_type_for_a_number() -> None:
    err = _error("affine(2, 2) -> dropout(p=false) -> mse")
    assert _where(err) == [("bad_type", 1, 27)]
    assert "'p' of dropout must be a number, got false" in str(err)


def test_validate_bad_type_for_a_string() -> None:
    err = _error("data: 3\naffine(2, 2) -> mse")
    assert _where(err) == [("bad_type", 1, 7)]


@pytest.mark.parametrize(("call", "column", "wording"), [
    ("affine(0, 3)", 8, "'n_in' of affine must be at least 1, got 0"),
    ("affine(2, 3) -> dropout(1.5)", 25, "'p' of dropout must be less than 1.0, got 1.5"),
    ("affine(2, 3) -> dropout(-0.5)", 25, "'p' of dropout must be greater than 0.0, got -0.5"),
    ("affine(2, 3, std=0)", 18, "'std' of affine must be greater than 0.0, got 0"),
    ("affine(2, 3) -> dropout(p=1e400)", 27, "'p' of dropout must be a finite number, got inf"),
    ("affine(2, 3) -> leaky_relu(1)", 28, "'alpha' of leaky_relu must be less than 1.0, got 1"),
    ("affine(2, 2147483649)", 11, "must be at most 2147483648"),
])
def test_validate_out_of_range(call: str, column: int, wording: str) -> None:
    err = _error(f"{call} -> mse")
    assert _where(err) == [("out_of_range", 1, column)]
    assert wording in str(err)


def test_validate_bad_choice_suggests_nearest() -> None:
    err = _error("affine(2, 3, init=hee) -> mse")
    assert _where(err) == [("bad_choice", 1, 19)]
    assert "must be one of 'auto', 'normal', 'xavier' or 'he', got 'hee'" in str(err)
    assert err.diagnostics[0].hint == "did you mean 'he'?"


def test_validate_bad_value_call_as_argument() -> None:
    err = _error("affine(2, 3) -> dropout(p=half(1)) -> mse")
    assert _where(err) == [("bad_value", 1, 27)]
    assert "'half(...)' is not a value here" in str(err)


def test_validate_number_with_five_thousand_digits_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as info:
        netc.api.plan("affine(2, 1" + "0" * 5000 + ") -> mse")
    assert (info.value.line, info.value.column) == (1, 11)


def test_validate_float_with_five_thousand_digits_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as info:
        netc.api.plan("affine(2, 2) -> dropout(0." + "5" * 5000 + "1e999) -> mse")
    assert info.value.code == "out_of_range"


def test_validate_errors_in_a_block_carry_a_note() -> None:
    err = _error("input: 2\nh = affine(2) -> dropout(2)\naffine(2) -> h -> mse")
    assert _where(err) == [("out_of_range", 2, 26)]
    assert err.diagnostics[0].notes == ("in block 'h' used at 3:14",)
    assert "  note: in block 'h' used at 3:14" in str(err)


def test_validate_error_in_a_repeated_block_is_reported_once() -> None:
    err = _error("input: 2\nh = affine(2) -> dropout(2)\nh * 3 -> mse")
    assert len(err.diagnostics) == 1


# ---- settings errors -------------------------------------------------------------------


def test_validate_unknown_setting_suggests_nearest() -> None:
    err = _error("inptu: 2\naffine(2, 3) -> mse")
    assert _where(err) == [("unknown_setting", 1, 1)]
    assert err.diagnostics[0].hint == "did you mean 'input'?"


def test_validate_unknown_setting_lists_settings() -> None:
    err = _error("zzz: 2\naffine(2, 3) -> mse")
    assert err.diagnostics[0].hint == "settings are: input, data, optimizer, train, init, generate"


def test_validate_duplicate_setting() -> None:
    err = _error("input: 2\n# later\ninput: 3\naffine(3) -> mse")
    assert _where(err) == [("duplicate_setting", 3, 1)]
    assert err.diagnostics[0].notes == ("first set at 1:1",)


def test_validate_unknown_optimizer_suggests_nearest() -> None:
    err = _error("optimizer: adamm(lr=0.1)\naffine(2, 3) -> mse")
    assert _where(err) == [("unknown_optimizer", 1, 12)]
    assert err.diagnostics[0].hint == "did you mean 'adam'?"


def test_validate_unknown_optimizer_lists_choices() -> None:
    err = _error("optimizer: lbfgs\naffine(2, 3) -> mse")
    assert err.diagnostics[0].hint == (
        "choose one of sgd, momentum, nesterov, adagrad, rmsprop, adam")


def test_validate_optimizer_keyword_belongs_to_the_chosen_optimizer() -> None:
    err = _error("optimizer: sgd(lr=0.1, beta1=0.5)\naffine(2, 3) -> mse")
    assert _where(err) == [("unknown_arg", 1, 24)]
    assert err.diagnostics[0].hint == "usage: sgd(lr); keywords: lr, wd"


def test_validate_optimizer_usage_lists_its_own_keywords() -> None:
    err = _error("optimizer: adam(lr=0.1, bogus=1)\naffine(2, 3) -> mse")
    assert _where(err) == [("unknown_arg", 1, 25)]
    assert err.diagnostics[0].hint == "usage: adam(lr); keywords: lr, wd, beta1, beta2, eps"


def test_validate_setting_out_of_range_on_a_continued_line() -> None:
    err = _error("train: epochs=3,\n  batch_size=0\naffine(2, 3) -> mse")
    assert _where(err) == [("out_of_range", 2, 14)]
    assert "'batch_size' of train must be at least 1, got 0" in str(err)


def test_validate_setting_bad_choice() -> None:
    err = _error("train: dtype=float16\naffine(2, 3) -> mse")
    assert _where(err) == [("bad_choice", 1, 14)]
    assert err.diagnostics[0].hint == "did you mean 'float64'?"


def test_validate_setting_too_many_args() -> None:
    err = _error("data: mnist, spiral\naffine(3) -> mse")
    assert _where(err) == [("too_many_args", 1, 14)]


def test_validate_input_of_several_numbers_is_a_shape() -> None:
    for text in ("input: 2, 3\nrelu -> mse", "input: 2x3\nrelu -> mse"):
        spec = netc.api.validate(text)
        assert spec.run.input.dims == (2, 3) and spec.run.input.width == 6


def test_validate_input_shape_bad_dimension_is_one_located_error() -> None:
    err = _error("input: 3x0x2\nrelu -> mse")
    assert [(d.code, d.span.line, d.span.column) for d in err.diagnostics] == \
        [("out_of_range", 1, 8)]
    assert "'shape' of input" in str(err)


def test_validate_setting_unknown_keyword() -> None:
    err = _error("input: width=2, bogus=1\naffine(3) -> mse")
    assert _where(err) == [("unknown_arg", 1, 17)]


# ---- several problems at once ----------------------------------------------------------


def test_validate_reports_independent_errors_together_in_source_order() -> None:
    text = ("optimizer: adamm\n"
            "train: epochs=0\n"
            "affine(2, 3) -> zzz -> affine(4, nout=5) -> dropout(3) -> relu(1) -> mse\n"
            "inptu: 3\n")
    err = _error(text)
    assert _where(err) == [
        ("unknown_optimizer", 1, 12),
        ("out_of_range", 2, 15),
        ("unknown_op", 3, 17),
        ("unknown_arg", 3, 34),
        ("out_of_range", 3, 53),
        ("too_many_args", 3, 64),
        ("unknown_setting", 4, 1),
    ]
    assert (err.line, err.column, err.code) == (1, 12, "unknown_optimizer")
    assert str(err).count("error:") == 7
    assert "\n\n<string>:2:15: error:" in str(err)


def test_validate_several_errors_in_one_call() -> None:
    err = _error("affine(n_in=0, n_out=2.5, init=bad) -> mse")
    assert _where(err) == [("out_of_range", 1, 13), ("bad_type", 1, 22), ("bad_choice", 1, 32)]
