"""Values the Python API must refuse, each with a netc message naming the argument (issue 11).

Hyper-parameters, `fit`'s own arguments, targets outside their loss's range and non-finite
inputs to `predict`: one rule table (`netc/rules.py`) serves the spec, the CLI and the API,
so nothing non-finite or out of range reaches the generated code.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import netc
from netc import rules
from netc.runtime import optim
from netc.runtime.optim import OPTIMIZERS, Optimizer
from netc.runtime.timing import profile

SOFTMAX = "input: 2\naffine(3) -> softmax_ce"
SIGMOID = "input: 2\naffine(2) -> sigmoid_ce"


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((30, 2)), np.arange(30) % 3


def fit(x, t, spec: str = SOFTMAX, **options):  # type: ignore[no-untyped-def]
    return netc.compile(spec).fit(x, t, **{"epochs": 1, "batch_size": 10, **options})


# ---- hyper-parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "message"), [
    ({"lr": math.nan}, "sgd: lr must be a positive finite number, got nan"),
    ({"lr": math.inf}, "sgd: lr must be a positive finite number, got inf"),
    ({"lr": -0.1}, "sgd: lr must be a positive finite number, got -0.1"),
    ({"optimizer": "adam", "lr": math.nan}, "adam: lr must be a positive finite number, got nan"),
    ({"optimizer": "adam", "beta1": 1}, "adam: beta1 must be a number strictly between 0 and 1, "
                                        "got 1"),
    ({"optimizer": "adam", "beta2": 0.0}, "adam: beta2 must be a number strictly between 0 and 1"),
    ({"optimizer": "momentum", "momentum": 5}, "momentum: momentum must be a number strictly "
                                               "between 0 and 1, got 5"),
    ({"wd": -1}, "sgd: wd must be a non-negative finite number, got -1"),
    ({"weight_decay": math.nan}, "sgd: wd must be a non-negative finite number, got nan"),
    ({"optimizer": "rmsprop", "eps": 0}, "rmsprop: eps must be a positive finite number, got 0"),
    ({"optimizer": "rmsprop", "decay": 1.5}, "rmsprop: decay must be a number strictly between"),
])
def test_fit_refuses_hyper_parameters_out_of_range(data, options, message) -> None:
    # Before: all accepted; nan reached the generated update (a NameError for adam),
    # beta1=1 divided by zero in the bias correction.
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        fit(*data, **options)


@pytest.mark.parametrize(("options", "message"), [
    ({"lr": "0.1"}, "sgd: lr must be a number, got '0.1' (str)"),
    ({"lr": True}, "sgd: lr must be a number, got True (bool)"),
    ({"optimizer": "adam", "eps": None}, "adam: eps must be a number, got None (NoneType)"),
])
def test_fit_refuses_hyper_parameters_of_the_wrong_type(data, options, message) -> None:
    with pytest.raises(TypeError) as e:
        fit(*data, **options)
    assert str(e.value) == message



def test_fit_suggests_through_the_alias_table(data) -> None:
    # The names the book and Keras use: the same table as the spec's "did you mean".
    with pytest.raises(ValueError, match=r"has no hyper-parameter 'learning_rate'.*did you "
                                         r"mean 'lr'\?"):
        fit(*data, learning_rate=0.1)
    with pytest.raises(ValueError, match=r"^unknown argument 'Epochs'; did you mean 'epochs'"):
        fit(*data, Epochs=1)

def test_fit_accepts_numpy_scalars_as_hyper_parameters(data) -> None:
    history = fit(*data, optimizer="adam", lr=np.float32(0.01), beta1=np.float64(0.8))
    assert len(history) == 1


def test_fit_suggests_its_own_argument_for_a_slip(data) -> None:
    with pytest.raises(ValueError) as e:
        netc.compile(SOFTMAX).fit(*data, epoch=1)
    assert str(e.value) == "unknown argument 'epoch'; did you mean 'epochs'?"
    with pytest.raises(ValueError, match=r"^unknown argument 'batchsize'; did you mean "
                                         r"'batch_size'\?$"):
        fit(*data, batchsize=5)


def test_fit_suggests_a_close_optimizer_name(data) -> None:
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamw'; did you mean 'adam'\? "
                                         r"valid optimizers: adagrad, adam"):
        fit(*data, optimizer="adamw")
    with pytest.raises(ValueError, match="unknown optimizer 3"):
        fit(*data, optimizer=3)


def test_optimizer_class_checks_with_the_same_rules() -> None:
    with pytest.raises(ValueError, match="^adam: lr must be a positive finite number, got nan$"):
        Optimizer("adam", lr=math.nan)
    with pytest.raises(ValueError, match="^adam: beta1 must be a number strictly between 0 and 1"):
        Optimizer("adam", beta1=1)
    with pytest.raises(ValueError, match="^momentum: momentum must be"):
        Optimizer("momentum", momentum=5)
    with pytest.raises(ValueError, match="^sgd: wd must be a non-negative finite number"):
        Optimizer("sgd", wd=-1)
    with pytest.raises(ValueError, match=r"adam has no hyper-parameter 'beta3'.*"
                                         r"did you mean 'beta[12]'"):
        Optimizer("adam", beta3=0.5)


def test_hyper_values_and_netc_time_refuse_a_non_finite_lr() -> None:
    with pytest.raises(ValueError, match="adam: lr must be a positive finite number, got nan"):
        optim.hyper_values(OPTIMIZERS["adam"], math.nan, {})
    plan = netc.plan(SOFTMAX)
    with pytest.raises(ValueError, match="adam: lr must be a positive finite number, got nan"):
        profile(plan, batch=4, steps=1, optimizer="adam", lr=math.nan)


def test_runtime_defaults_and_spec_schema_come_from_one_table() -> None:
    from netc.compiler.registry import OPTIMIZERS as SCHEMAS

    for name, table in rules.OPTIMIZERS.items():
        assert [k for k, _ in OPTIMIZERS[name].hyper] == [r.name for r in table]
        schema = SCHEMAS[name].schema
        for r in table:
            field = schema.model_fields[r.name]
            assert field.default == r.default and field.description == r.description


# ---- fit's own arguments ---------------------------------------------------------------------


@pytest.mark.parametrize(("options", "kind", "message"), [
    ({"epochs": 2.5}, TypeError, "fit: epochs must be a whole number, got 2.5 (float)"),
    ({"epochs": "3"}, TypeError, "fit: epochs must be a whole number, got '3' (str)"),
    ({"epochs": True}, TypeError, "fit: epochs must be a whole number, got True (bool)"),
    ({"epochs": 0}, ValueError, "fit: epochs must be a whole number from 1 to 1,000,000, got 0"),
    ({"batch_size": 0}, ValueError, "fit: batch_size must be a whole number from 1 to "
                                    "10,000,000, got 0"),
    ({"batch_size": None}, TypeError, "fit: batch_size must be a whole number, got None "
                                      "(NoneType)"),
    ({"seed": -1}, ValueError, "fit: seed must be a whole number from 0 to "
                               "9,223,372,036,854,775,807, got -1"),
    ({"seed": 1.0}, TypeError, "fit: seed must be a whole number, got 1.0 (float)"),
])
def test_fit_checks_its_own_arguments(data, options, kind, message) -> None:
    # Before: 2.5 and True were used as is, "3" and None failed inside Python's comparison.
    with pytest.raises(kind) as e:
        fit(*data, **options)
    assert str(e.value) == message


def test_fit_accepts_numpy_integers(data) -> None:
    assert len(fit(*data, epochs=np.int64(2), batch_size=np.int32(7))) == 2


def test_fit_refuses_empty_data_by_name(data) -> None:
    x, t = data
    with pytest.raises(netc.DataError, match=r"^fit: x has no samples"):
        fit(np.empty((0, 2)), t[:0])
    with pytest.raises(netc.DataError, match=r"^fit: x has no samples"):
        fit([], [])
    with pytest.raises(netc.DataError, match=r"^mine.npz: the training data has no samples$"):
        fit(np.empty((0, 2)), t[:0], data_name="mine.npz")
    with pytest.raises(netc.DataError, match=r"^validation_data: no samples"):
        fit(x, t, validation_data=(np.empty((0, 2)), t[:0]))
    with pytest.raises(TypeError, match=r"^fit: validation_data must be a pair \(x, t\)"):
        fit(x, t, validation_data=x)


def test_compile_and_load_check_the_seed() -> None:
    with pytest.raises(TypeError, match=r"^compile: seed must be a whole number, got 2.5"):
        netc.compile(SOFTMAX, seed=2.5)
    with pytest.raises(ValueError, match=r"^compile: seed must be a whole number from 0"):
        netc.compile(SOFTMAX, seed=-1)


# ---- targets -----------------------------------------------------------------------------


def test_one_hot_rows_must_sum_to_one(data) -> None:
    x, t = data
    rows = np.eye(3)[t]
    rows[4] = [1, 1, 0]
    with pytest.raises(netc.DataError, match=r"^the target row of sample 4 sums to 2, not 1: "
                                             r"softmax_ce at <string>:2:\d+ expects one-hot"):
        fit(x, rows)
    rows[4] = [1.5, -0.5, 0]
    with pytest.raises(netc.DataError, match=r"^the target row of sample 4 holds -0.5"):
        fit(x, rows)


def test_probability_rows_within_rounding_are_accepted(data) -> None:
    x, t = data
    smooth = np.full((30, 3), 0.1 / 3) + 0.9 * np.eye(3)[t]  # label smoothing
    assert len(fit(x, smooth.astype(np.float32))) == 1
    assert len(fit(x, smooth)) == 1


def test_sigmoid_targets_must_lie_in_zero_one(data) -> None:
    x, _ = data
    t = (x > 0).astype(float)
    assert len(fit(x, t, SIGMOID)) == 1
    t[6, 1] = 2.0
    with pytest.raises(netc.DataError, match=r"^target 2 of sample 6 is outside \[0, 1\]: "
                                             r"sigmoid_ce at <string>:2:\d+ expects "
                                             r"probabilities"):
        fit(x, t, SIGMOID)
    t[6, 1] = -1
    with pytest.raises(netc.DataError, match=r"^target -1 of sample 6 is outside"):
        netc.compile(SIGMOID).loss(x, t)


def test_non_finite_targets_are_refused_before_training(data) -> None:
    x, t = data
    rows = np.eye(3)[t]
    rows[9, 0] = np.nan
    with pytest.raises(netc.DataError, match=r"^targets contain NaN or infinite values "
                                             r"\(sample 9\)"):
        fit(x, rows)


def test_uint64_label_is_reported_with_its_value(data) -> None:
    x, t = data
    labels = t.astype(np.uint64)
    labels[3] = 2**64 - 1
    with pytest.raises(netc.DataError, match="label 18446744073709551615 is out of range"):
        fit(x, labels)


def test_ragged_targets_are_a_data_error(data) -> None:
    x, _ = data
    with pytest.raises(netc.DataError, match="targets are not a numeric array"):
        fit(x[:2], [[1, 0, 0], [1]])


# ---- predict -------------------------------------------------------------------------------


def test_predict_refuses_non_finite_inputs_naming_the_sample(data) -> None:
    x, _ = data
    net = netc.compile(SOFTMAX)
    x = x.copy()
    x[7, 1] = np.inf
    # Before: the NaN/inf row came back as NaN probabilities, silently.
    with pytest.raises(netc.DataError, match=r"^inputs contain NaN or infinite values "
                                             r"\(sample 7\)$"):
        net.predict(x)


def test_predict_of_no_samples_is_empty() -> None:
    net = netc.compile(SOFTMAX)
    assert net.predict(np.empty((0, 2))).shape == (0, 3)
    assert net.predict([]).shape == (0, 3)


def test_values_inputs_too_large_for_float32_are_named_not_cast_to_inf() -> None:
    net = netc.compile("input: 2\naffine(3) -> softmax_ce")
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, -1e300]])
    t = np.array([0, 1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the cast's RuntimeWarning must not happen either
        for call in (lambda: net.fit(x, t, epochs=1), lambda: net.predict(x),
                     lambda: net.fit(x[:2], t[:2], epochs=1, validation_data=(x, t))):
            with pytest.raises(netc.DataError, match=r"value -1e\+300 of sample 2 does not fit "
                                                r"float32"):
                call()
        x[2, 1] = np.inf  # an infinity keeps its own message
        with pytest.raises(netc.DataError,
                           match=r"inputs contain NaN or infinite values \(sample 2"):
            net.predict(x)
    assert netc.compile("input: 2\naffine(3) -> softmax_ce", dtype="float64").predict(
        np.array([[1e300, 0.0]])).shape == (1, 3)
