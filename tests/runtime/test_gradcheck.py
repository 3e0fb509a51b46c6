"""`netc.gradcheck`: every op and loss, alone and in every adjacent pair, and that it can fail."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.compiler.registry import LOSSES as ALL_LOSSES
from netc.compiler.registry import OPS
from netc.runtime import generated
from netc.runtime.gradcheck import _compare, random_batch

ROOT = Path(__file__).resolve().parents[2]
SPIRAL = str(ROOT / "specs" / "spiral.net")
TOL = 1e-6
WIDTH = 4  # even, so sum(2) -> sum(2) still divides

# The losses over any vector (ns_loss scores a vocabulary's words: tested on token inputs
# below and in test_language_models.py).
LOSSES = tuple(loss for loss in ALL_LOSSES if loss != "ns_loss")
# Sensible arguments per op; weighted layers keep the width so any op may follow.
CALLS = {"affine": f"affine({WIDTH})", "matmul": f"matmul({WIDTH})", "leaky_relu":
         "leaky_relu(0.1)", "dropout": "dropout(0.3)", "repeat": "repeat(2)", "sum": "sum(2)",
         "batchnorm": "batchnorm",
         # Merges keep the width too, so they pair with anything; tanh/sigmoid make the two
         # branches differ, so a gradient routed to the wrong branch shows.
         "add": "add(tanh, sigmoid)", "concat": "concat(affine(2), tanh -> affine(2))"}
# Ops over images (DLFS-1 ch. 7) run on a small image input; the rest on vectors.
IMAGE_CALLS = {"conv": "conv(3, 3, pad=1)", "pool": "pool(2, stride=1)",
               "global_avg_pool": "global_avg_pool"}
# Ops over sequences (DLFS-2 ch. 4-6) run on token ids through an embed.
SEQUENCE_CALLS = {"embed": "embed(4)", "rnn": "rnn(4)", "lstm": "lstm(4)", "gru": "gru(3)",
                  "last": "last", "mean": "mean", "steps": "steps(start=1)",
                  # its two branches from the same sequence: queries and keys differ
                  "attention": "attention(tanh, sigmoid -> steps(stop=-1))"}
LAYER_OPS = [name for name, info in OPS.items() if info.kind != "loss" and name not in
             IMAGE_CALLS and name not in SEQUENCE_CALLS]
# Image ops, and the ops that also take images, each before and after every image op.
IMAGE_OPS = [*IMAGE_CALLS, "relu", "sigmoid", "tanh", "leaky_relu", "dropout", "batchnorm"]


def _call(op: str) -> str:
    return CALLS.get(op, op)


def _check(spec: str, seed: int = 0) -> None:
    net = netc.compile(spec, seed=seed, dtype="float64")
    x, t = random_batch(net, 6, seed)
    before = {k: v.copy() for k, v in net.params.items()}
    results = netc.gradcheck(net, x, t)
    assert [r.name for r in results] == [*net.params, *([] if net.plan.vocab else ["input"])]
    bad = [(r.name, r.error) for r in results if not r.ok(TOL)]
    assert not bad, f"{spec!r}: {bad}"
    for k, v in net.params.items():  # the check leaves the network as it was
        np.testing.assert_array_equal(v, before[k])


def test_gradcheck_registry_has_the_expected_ops():
    assert set(CALLS) <= set(LAYER_OPS)
    assert set(IMAGE_CALLS) | set(LAYER_OPS) | set(SEQUENCE_CALLS) == \
        {n for n, i in OPS.items() if i.kind != "loss"}
    assert set(ALL_LOSSES) == {"softmax_ce", "sigmoid_ce", "mse", "ns_loss"}


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("op", LAYER_OPS)
def test_gradcheck_single_op_passes(op, loss):
    _check(f"input: {WIDTH}\n{_call(op)} -> affine(3) -> {loss}")


@pytest.mark.parametrize("loss", LOSSES)
def test_gradcheck_loss_alone_passes(loss):
    _check(f"input: {WIDTH}\naffine(3) -> {loss}")


@pytest.mark.parametrize(("a", "b"), list(itertools.product(LAYER_OPS, repeat=2)))
def test_gradcheck_adjacent_pair_passes(a, b):
    loss = LOSSES[(LAYER_OPS.index(a) + LAYER_OPS.index(b)) % len(LOSSES)]
    _check(f"input: {WIDTH}\n{_call(a)} -> {_call(b)} -> affine(3) -> {loss}")


def _image_call(op: str) -> str:
    return IMAGE_CALLS.get(op) or _call(op)


# global_avg_pool's output is a vector: it comes second, where nothing image-only follows.
@pytest.mark.parametrize(("a", "b"), [(a, b) for a in IMAGE_OPS for b in IMAGE_OPS
                                      if (a in IMAGE_CALLS or b in IMAGE_CALLS) and
                                      a != "global_avg_pool"])
def test_gradcheck_image_pair_passes(a, b):
    tail = "" if b == "global_avg_pool" else " -> flatten"
    loss = LOSSES[(IMAGE_OPS.index(a) + IMAGE_OPS.index(b)) % len(LOSSES)]
    _check(f"input: 2x5x5\n{_image_call(a)} -> {_image_call(b)}{tail} -> affine(3) -> {loss}")


# Every sequence op after an embed, before another; `last` and `mean` end the sequence.
@pytest.mark.parametrize(("a", "b"), list(itertools.product(
    ["rnn", "lstm", "gru", "dropout", "tanh", "affine"],
    ["rnn", "lstm", "gru", "last", "mean", "steps", "attention"])))
def test_gradcheck_sequence_pair_passes(a, b):
    loss = LOSSES[(len(a) + len(b)) % len(LOSSES)]
    call = SEQUENCE_CALLS.get(a) or _call(a)
    _check(f"input: tokens(7), steps=3\nembed(4) -> {call} -> {SEQUENCE_CALLS[b]} -> "
           f"affine(3) -> {loss}")


@pytest.mark.parametrize("before", ["mean", "lstm(4) -> last", "gru(3) -> last -> tanh"])
def test_gradcheck_negative_sampling_passes(before):
    _check(f"input: tokens(7), steps=2\nembed(4) -> {before} -> ns_loss(k=3)")


def test_gradcheck_language_model_with_tied_weights_passes():
    """Per-step softmax over the vocabulary, the embedding tied to the output (DLFS-2 ch. 6),
    through two LSTMs and dropout, over five steps."""
    _check("input: tokens(9)\ntrain: bptt=5\nembed(4)@E -> dropout(0.2) -> lstm(3) -> "
           "lstm(4) -> affine(tied=E) -> softmax_ce")


def test_gradcheck_detects_a_broken_kernel(monkeypatch):
    good = generated._KERNELS["tanh_backward"]

    def broken(dy, y, dx):
        good(dy, y, dx)
        if dx is not None:
            dx *= 1.5

    monkeypatch.setitem(generated._KERNELS, "tanh_backward", broken)
    net = netc.compile("input: 3\naffine(4) -> tanh -> affine(2) -> mse", dtype="float64")
    x, t = random_batch(net, 5)
    errors = {r.name: r.error for r in netc.gradcheck(net, x, t)}
    assert errors["2.affine.W"] <= TOL  # above the broken layer: still right
    assert errors["0.affine.W"] > 0.1
    assert errors["input"] > 0.1


def test_gradcheck_detects_a_scaled_gradient(monkeypatch):
    net = netc.compile("input: 3\naffine(2) -> sigmoid_ce", dtype="float64")
    real = type(net).gradients

    def scaled(self, x, t, **kw):
        grads = real(self, x, t, **kw)
        grads["0.affine.b"] *= 1.01
        return grads

    monkeypatch.setattr(type(net), "gradients", scaled)
    x, t = random_batch(net, 5)
    results = {r.name: r for r in netc.gradcheck(net, x, t)}
    assert results["0.affine.W"].ok(TOL)
    assert not results["0.affine.b"].ok(TOL)


def test_gradcheck_numerical_gradient_is_central_difference():
    # f(p) = sum(c * p^2 + d * p): central differences are exact for a quadratic, while
    # the seeds' note-001 form f(p+h) - f(p-h) / (2h) is off by about f(p).
    rng = np.random.default_rng(0)
    c, d = rng.uniform(1, 3, 5), rng.standard_normal(5)
    p = rng.standard_normal(5)

    def f():
        return float(np.sum(c * p**2 + d * p)) + 10.0

    result = _compare("p", p, 2 * c * p + d, f, seed=0)
    assert result.checked == 5
    assert result.error < 1e-8
    assert _compare("p", p, 2 * c * p + d + 1e-3, f, seed=0).error > 1e-4


def test_gradcheck_quadratic_network_matches_exactly():
    # mse after a single matmul is exactly quadratic in W and in the input.
    net = netc.compile("input: 3\nmatmul(2) -> mse", dtype="float64")
    x, t = random_batch(net, 4)
    assert all(r.error < 1e-8 for r in netc.gradcheck(net, x, t))


def test_gradcheck_float32_net_is_checked_in_float64():
    net = netc.compile("input: 3\naffine(4) -> tanh -> affine(2) -> softmax_ce", dtype="float32")
    x, t = random_batch(net, 5)
    assert all(r.ok(TOL) for r in netc.gradcheck(net, x, t))
    assert all(v.dtype == np.float32 for v in net.params.values())


def test_gradcheck_cli_spiral_prints_one_line_per_parameter(capsys):
    assert main(["gradcheck", SPIRAL]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    names = [*netc.load(SPIRAL).params, "input"]
    assert [line.split()[0] for line in lines[:-1]] == names
    assert all(line.rstrip().endswith("ok") for line in lines[:-1])
    assert "FAIL" not in lines[-1]


@pytest.mark.parametrize("layout", ["fortran", "column_slice", "c"])
def test_gradcheck_input_layout_does_not_matter(layout):
    # Regression: the input was perturbed through `reshape(-1)`, a copy for these layouts,
    # so the numerical input gradient came out zero (error 1.0).
    net = netc.compile("input: 3\naffine(4) -> tanh -> affine(2) -> mse", dtype="float64")
    big, t = random_batch(net, 5)
    big = np.hstack([big, big])
    x = {"fortran": np.asfortranarray(big[:, :3]), "column_slice": big[:, 1:4],
         "c": np.ascontiguousarray(big[:, :3])}[layout]
    keep = x.copy()
    assert all(r.ok(TOL) for r in netc.gradcheck(net, x, t))
    np.testing.assert_array_equal(x, keep)


def test_gradcheck_leaves_the_network_as_it_was():
    net = netc.compile("input: 3\naffine(4) -> batchnorm -> dropout(0.5) -> affine(2) -> mse",
                       dtype="float64")
    x, t = random_batch(net, 6)
    net.gradients(x, t)  # move the running statistics away from their initial values
    params = {k: v.copy() for k, v in net.params.items()}
    buffers = {k: v.copy() for k, v in net.buffers.items()}
    state = net.rng.bit_generator.state
    assert all(r.ok(TOL) for r in netc.gradcheck(net, x, t))
    for k in params:
        np.testing.assert_array_equal(net.params[k], params[k])
    for k in buffers:
        np.testing.assert_array_equal(net.buffers[k], buffers[k])
    assert net.rng.bit_generator.state == state


def test_gradcheck_leaves_out_relu_kinks_and_says_so():
    """A zero bias and a row whose ReLU units are all off put the next layer's inputs at
    exactly 0: the loss has no derivative there, and central differences average the two
    sides. Those entries are left out and counted, not reported as failures."""
    net = netc.compile("input: 4\naffine(8) -> relu -> affine(8) -> relu -> affine(2) -> "
                       "softmax_ce", seed=0, dtype="float64")
    x, t = random_batch(net, 8, 0)
    x[0] = 0  # with zero biases, every unit of the first layer sits at ReLU's kink
    results = netc.gradcheck(net, x, t)
    assert all(r.ok(TOL) for r in results)
    assert sum(r.kinks for r in results) > 0
    smooth = netc.compile("input: 4\naffine(8) -> tanh -> affine(2) -> softmax_ce",
                          seed=0, dtype="float64")
    assert sum(r.kinks for r in netc.gradcheck(smooth, *random_batch(smooth, 8, 0))) == 0
