"""Several named inputs (`input: a: 6, b: 1x2x2`): pipelines start from them by name, each
data row holds them side by side, and the Python API takes them as a dict."""

from __future__ import annotations

import numpy as np
import pytest

import netc
from netc.errors import DataError, SpecError
from netc.runtime.gradcheck import random_batch

TWO = ("input: a: 6, b: 1x2x2\na -> affine(4) -> tanh => ha\nb -> flatten -> affine(4) => hb\n"
       "concat(ha, hb, a, b -> flatten) -> affine(3) -> softmax_ce")
SEQ = ("input: a: 5x3, b: 4\na -> affine(4) => ha\nb -> affine(3) => hb\n"
       "concat(ha -> flatten, hb, hb) -> affine(2) -> mse")


def test_inputs_are_values_by_name() -> None:
    plan = netc.plan(TWO)
    assert plan.input_parts == (("a", (6,)), ("b", (1, 2, 2)))
    assert plan.input_width == 10 and plan.input_shape == (10,)
    assert [lp.inputs for lp in plan.layers][:6] == [(-1,), (0,), (-2,), (2,), (-2,),
                                                     (1, 3, -1, 4)]
    assert "input a" in plan.summary() and "(batch, 1, 2, 2)" in plan.summary()


@pytest.mark.parametrize("text", [TWO, SEQ])
def test_named_input_networks_gradcheck(text: str) -> None:
    net = netc.compile(text, seed=1, dtype="float64")
    x, t = random_batch(net, 5, 0)
    assert not [(r.name, r.error) for r in netc.gradcheck(net, x, t) if not r.ok(1e-6)]


def test_a_dict_of_inputs_is_the_rows_side_by_side() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 6)), rng.normal(size=(20, 1, 2, 2))
    t = rng.integers(0, 3, 20)
    one, two = netc.compile(TWO, seed=0), netc.compile(TWO, seed=0)
    one.fit({"b": b, "a": a}, t, epochs=2, batch_size=5, verbose=False)
    two.fit(np.concatenate([a, b.reshape(20, -1)], axis=1), t, epochs=2, batch_size=5,
            verbose=False)
    for key in one.params:
        np.testing.assert_array_equal(one.params[key], two.params[key])
    np.testing.assert_array_equal(one.predict({"a": a, "b": b}),
                                  two.predict(np.concatenate([a, b.reshape(20, -1)], axis=1)))


@pytest.mark.parametrize(("data", "message"), [
    ({"a": np.zeros((3, 6))}, "the network's inputs are a, b, but the data names a"),
    ({"a": np.zeros((3, 6)), "b": np.zeros((3, 5))}, "input 'b' has shape (3, 5)"),
    ({"a": np.zeros((3, 6)), "b": np.zeros((2, 4))}, "input 'b' has shape (2, 4)"),
])
def test_bad_dicts_of_inputs_are_data_errors(data, message) -> None:
    net = netc.compile(TWO)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        net.predict(data)


def test_one_input_network_refuses_a_dict() -> None:
    with pytest.raises(DataError, match="the network has one input"):
        netc.compile("input: 4\naffine(2) -> softmax_ce").predict({"x": np.zeros((1, 4))})


def test_named_inputs_export_to_onnx(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    net = netc.compile(TWO, seed=0)
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 6)).astype("float32")
    b = rng.normal(size=(4, 1, 2, 2)).astype("float32")
    net.export_onnx(tmp_path / "two.onnx")
    got = ort.InferenceSession(str(tmp_path / "two.onnx")).run(None, {"a": a, "b": b})[0]
    np.testing.assert_allclose(got, net.predict({"a": a, "b": b}), atol=1e-5)


ERRORS = [
    ("input: a: 4, b: 4\naffine(3) -> mse", "which_input", 2, 1,
     "affine reads nothing: with several inputs, a pipeline starts from one of them"),
    ("input: a: 4, b: 4\na -> affine(3) -> mse", "unused_name", 1, 14,
     "input 'b' is never used"),
    ("input: a: 4, a: 4\na -> affine(3) -> mse", "duplicate_name", 1, 14,
     "input 'a' is declared twice"),
    ("input: a: 4, relu: 4\na -> affine(3) -> mse", "bad_name", 1, 14,
     "input 'relu' has the name of a layer or block"),
    ("input: a: 4, b: 4\na -> affine(3) => b\nb -> mse", "duplicate_name", 2, 19,
     "'b' is bound twice"),
    ("input: a: tokens, b: 4\na -> affine(3) -> mse", "not_supported_yet", 1, 8,
     "a named input of 'tokens' ('a: ...') is not supported yet"),
]


@pytest.mark.parametrize(("text", "code", "line", "col", "message"), ERRORS,
                         ids=[e[1] + str(i) for i, e in enumerate(ERRORS)])
def test_named_input_errors_are_located(text, code, line, col, message) -> None:
    with pytest.raises(SpecError) as info:
        netc.plan(text)
    d = info.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.column, d.message) == (code, line, col, message)
