"""The memory estimate (`NetPlan.memory`) counts what is really allocated, and every entry point
that allocates refuses a job over the machine's memory before allocating (issue 11)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import netc
from netc.compiler import codegen
from netc.compiler.codegen import bound_bytes
from netc.compiler.plan import EVAL_ROWS, INIT_CHUNK, OPTIMIZER_SLOTS
from netc.errors import SpecLimitError
from netc.runtime import build as build_module
from netc.runtime import initializers, network, optim
from netc.runtime.gradcheck import random_batch

EVERY_OP = ("input: 4\naffine(6) -> batchnorm -> relu -> dropout(0.2) -> matmul(6) -> sigmoid"
            " -> leaky_relu(0.1) -> repeat(2) -> tanh -> sum(3) -> softmax -> affine(3) -> "
            "softmax_ce")
MIB = 2**20


def machine(mp: pytest.MonkeyPatch, size: int) -> None:
    mp.setattr(build_module, "physical_memory", lambda: size)


def test_memory_constants_agree_with_the_runtime() -> None:
    assert OPTIMIZER_SLOTS == {k: len(i.state) for k, i in optim.OPTIMIZERS.items()}
    assert EVAL_ROWS == network.EVAL_BATCH
    assert initializers.INIT_CHUNK == INIT_CHUNK


@pytest.mark.parametrize("spec", [EVERY_OP, "input: 3\naffine(50) -> relu -> affine(2) -> mse",
                                  "input: 3\nrepeat(4) -> sigmoid -> sum(2) -> affine(2) -> "
                                  "sigmoid_ce"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_memory_bound_bytes_are_what_bind_allocates(spec: str, dtype: str) -> None:
    net = netc.compile(spec, dtype=dtype)
    n = 512
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        passes = net.passes(n)
        allocated = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    estimate = bound_bytes(net.plan, n, net.dtype.itemsize)
    assert passes and estimate <= allocated <= estimate * 1.05 + 64 * 1024


def test_memory_counts_every_part_of_training() -> None:
    plan = netc.api.plan("input: 10\noptimizer: adam\naffine(100) -> relu -> affine(3) -> "
                         "softmax_ce\ntrain: batch_size=50")
    parts = dict(plan.training_memory().parts)
    n = plan.param_count * 4
    assert (parts["parameters"], parts["gradients"], parts["optimizer state"]) == (n, n, 2 * n)
    assert parts["activations"] == bound_bytes(plan, 50, 4) + bound_bytes(plan, EVAL_ROWS, 4)
    # The initialiser's float64 temporaries (the largest random array) exist only while building.
    assert "initialiser" not in parts
    assert dict(plan.memory("building").parts)["initialiser"] == 8 * 1000
    assert parts["data batch"] == 50 * (10 + 3) * 4
    sgd = dict(plan.training_memory(optimizer="sgd").parts)
    assert "optimizer state" not in sgd and sum(sgd.values()) < sum(parts.values())
    assert dict(plan.training_memory(dtype="float64").parts)["parameters"] == 2 * n


def test_memory_check_prints_the_estimate_for_the_specs_batch() -> None:
    plan = netc.api.plan("input: 784\naffine(50) -> relu -> affine(10) -> softmax_ce")
    last = plan.summary().splitlines()[-1]
    assert last.startswith("memory: about 1.7 MiB for training at batch 100 and evaluation at "
                           "2,048 rows (parameters 155.3 KiB, gradients 155.3 KiB")
    assert "optimizer state" not in last  # plain sgd keeps none


def test_memory_initialiser_draws_in_chunks_the_same_stream(monkeypatch) -> None:
    monkeypatch.setattr(initializers, "INIT_CHUNK", 1000)
    for dtype in ("float32", "float64"):
        one, two = np.random.default_rng(3), np.random.default_rng(3)
        whole = (one.standard_normal((70, 50)) * 0.3).astype(dtype)
        chunked = initializers.init_array((70, 50), "normal", fan_in=1, std=0.3, rng=two,
                                          dtype=dtype)
        assert chunked.dtype == dtype and np.array_equal(whole, chunked)
        assert one.standard_normal() == two.standard_normal()


def test_memory_build_refuses_before_allocating(monkeypatch) -> None:
    machine(monkeypatch, 8 * MIB)
    with pytest.raises(SpecLimitError, match=r"needs about 23\.3 MiB for building as float32 "
                       r"\(parameters 7\.7 MiB, gradients 7\.7 MiB, initialiser 8\.0 MiB\); "
                       r"this machine has 8\.0 MiB"):
        netc.compile("input: 1000\naffine(2000) -> relu -> affine(2) -> mse")


def test_memory_every_bound_batch_size_is_checked(monkeypatch) -> None:
    net = netc.compile("input: 4\naffine(1000) -> relu -> affine(3) -> softmax_ce")
    net.predict(np.zeros((10, 4)))
    machine(monkeypatch, 8 * MIB)
    with pytest.raises(SpecLimitError, match="for a batch of 2,048 rows .*this machine has "
                       "8.0 MiB") as info:
        net.predict(np.zeros((5000, 4)))
    assert "hint: use fewer or narrower layers" in str(info.value)
    net.predict(np.zeros((10, 4)))  # a batch size bound before is still there


def test_memory_fit_counts_the_optimizer_state(monkeypatch) -> None:
    spec = "input: 2\naffine(2000) -> relu -> affine(3000) -> relu -> affine(3) -> softmax_ce"
    x, t = np.zeros((20, 2)), np.arange(20) % 3
    net = netc.compile(spec)
    size = net.plan.param_count * 4
    machine(monkeypatch, 3 * size + 4 * MIB)  # momentum's one slot fits; adam's two do not
    net.fit(x, t, epochs=1, batch_size=10, optimizer="momentum")
    with pytest.raises(SpecLimitError, match=r"optimizer state 45\.9 MiB"):
        net.fit(x, t, epochs=1, batch_size=10, optimizer="adam")


def test_memory_parted_networks_train_like_whole_ones(monkeypatch) -> None:
    whole = netc.compile(EVERY_OP, dtype="float64")
    x, t = random_batch(whole, 16)
    grads = whole.gradients(x, t, input_grad=True)
    for part in (1, 2, 5):
        monkeypatch.setattr(codegen, "PART", part)
        monkeypatch.setattr(build_module, "PART", part)
        net = netc.compile(EVERY_OP, dtype="float64")
        assert "def _part1(" in net.source and "first_nonfinite = None" in net.source
        got = net.gradients(x, t, input_grad=True)
        assert all(np.array_equal(grads[k], got[k]) for k in grads)
        assert np.array_equal(whole.predict(x), net.predict(x))
        trace = net.passes(16)[5]
        assert trace(x, False) is None
        net.params["4.matmul.W"][0, 0] = np.nan  # compiled on demand, it finds layer 4
        assert trace(x, False) == 4
