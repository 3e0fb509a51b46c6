"""Shared weights (`@A` used twice) and tying (`tied=A`): one array, gradients summed over
every layer that reads it, each misuse a located error."""

from __future__ import annotations

import numpy as np
import pytest

import netc
from netc.errors import SpecError

SHARED = "input: 4\naffine(4)@A -> tanh -> affine(4)@A -> tanh -> affine(3) -> softmax_ce"
TIED = "input: 6\naffine(4)@E -> tanh -> affine(tied=E) -> mse"


def test_a_reused_label_shares_one_instance() -> None:
    plan = netc.plan(SHARED)
    first, again = plan.layers[0], plan.layers[2]
    assert [p.key for p in first.params] == ["0.affine.W", "0.affine.b"]
    assert again.params == () and [u.key for u in again.uses] == ["0.affine.W", "0.affine.b"]
    assert plan.param_count == 4 * 4 + 4 + 4 * 3 + 3  # the shared layer counted once
    assert "affine(4, 4)@A" in plan.summary()
    net = netc.compile(SHARED)
    assert sorted(net.params) == ["0.affine.W", "0.affine.b", "4.affine.W", "4.affine.b"]


def test_tying_reads_the_labelled_weight_transposed_and_owns_its_bias() -> None:
    plan = netc.plan(TIED)
    tied = plan.layers[2]
    assert (tied.n_in, tied.n_out) == (4, 6)
    assert [(u.key, u.shape, u.transposed) for u in tied.uses] == [("0.affine.W", (4, 6), True)]
    assert [p.key for p in tied.params] == ["2.affine.b"]


@pytest.mark.parametrize("text", [
    SHARED, TIED,
    "input: 6\naffine(4)@E -> tanh -> affine(4)@F -> tanh -> affine(tied=F) -> "
    "affine(tied=E)@G -> tanh -> affine(4)@E -> affine(tied=F) -> affine(tied=E)@G -> mse",
    "input: 4\nconcat(affine(3)@A, tanh -> affine(3)@A) -> affine(2) -> sigmoid_ce",
])
def test_gradients_of_shared_weights_add_up(text: str) -> None:
    net = netc.compile(text, seed=3, dtype="float64")
    from netc.runtime.gradcheck import random_batch

    x, t = random_batch(net, 5, 0)
    bad = [(r.name, r.error) for r in netc.gradcheck(net, x, t) if not r.ok(1e-6)]
    assert not bad


def test_a_shared_layer_is_the_same_function_as_one_applied_twice() -> None:
    shared = netc.compile(SHARED, seed=0, dtype="float64")
    x = np.random.default_rng(1).normal(size=(3, 4))
    w, b = shared.params["0.affine.W"], shared.params["0.affine.b"]
    h = np.tanh(np.tanh(x @ w + b) @ w + b)
    z = h @ shared.params["4.affine.W"] + shared.params["4.affine.b"]
    want = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(shared.predict(x), want / want.sum(1, keepdims=True), rtol=1e-12)


def test_training_keeps_shared_weights_one_array(tmp_path) -> None:
    net = netc.compile(TIED, seed=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype("float32")
    before = net.params["0.affine.W"].copy()
    net.fit(x, x, epochs=2, batch_size=10, verbose=False)
    assert not np.array_equal(before, net.params["0.affine.W"])
    net.save_checkpoint(tmp_path / "ck.npz")
    again = netc.compile(TIED, seed=5)
    again.load_checkpoint(tmp_path / "ck.npz")
    np.testing.assert_array_equal(again.predict(x), net.predict(x))


ERRORS = [
    ("input: 4\naffine(4)@A -> relu -> affine(3)@A -> softmax_ce", "label_mismatch", 2, 24,
     "label 'A' is on affine at 2:1 with W (4, 4), b (4,), but this affine needs W (4, 3), "
     "b (3,)"),
    ("input: 4\naffine(4)@A -> relu -> matmul(4)@A -> softmax_ce", "label_mismatch", 2, 24,
     "label 'A' is on affine at 2:1 with W (4, 4), b (4,), but this matmul needs W (4, 4)"),
    ("input: 4\nrelu@A -> softmax_ce", "bad_label", 2, 1, "relu@A: relu has no weights to share"),
    ("input: 4\nbatchnorm@A -> affine(2) -> softmax_ce", "bad_label", 2, 1,
     "batchnorm@A: batchnorm keeps running statistics, which one instance cannot share"),
    ("input: 4\naffine(3)@E -> affine(3, tied=F) -> softmax_ce", "unknown_label", 2, 31,
     "tied=F: no layer is labelled 'F'"),
    ("input: 4\naffine(tied=E) -> affine(3)@E -> softmax_ce", "unknown_label", 2, 13,
     "tied=E: the layer labelled so must come before the layer tied to it"),
    ("input: 4\naffine(3)@E -> affine(5, tied=E) -> softmax_ce", "shape_mismatch", 2, 16,
     "affine(tied=E) uses the weight of 2:1 transposed, (3, 4): it takes width 3 and gives 4, "
     "but is asked for 5 outputs"),
]


@pytest.mark.parametrize(("text", "code", "line", "col", "message"), ERRORS,
                         ids=[e[1] + str(i) for i, e in enumerate(ERRORS)])
def test_label_errors_are_located(text, code, line, col, message) -> None:
    with pytest.raises(SpecError) as info:
        netc.plan(text)
    d = info.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.column) == (code, line, col)
    assert d.message == message
