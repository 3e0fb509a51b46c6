"""A steady-state training step allocates nothing that it keeps: every buffer is made once
per batch size, so memory traced after many steps equals memory traced after the first few."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import netc
from netc.runtime.trainer import Trainer

SPECS = [
    "input: 20\naffine(30) -> relu -> affine(5) -> softmax_ce",
    "input: 20\naffine(30) -> batchnorm -> tanh -> dropout(0.3) -> affine(5) -> softmax_ce",
    "input: 20\naffine(8) -> sigmoid -> repeat(2) -> sum(2) -> affine(3) -> mse",
]


def _trainer(spec: str, optimizer: str) -> Trainer:
    rng = np.random.default_rng(0)
    net = netc.compile(spec, seed=0)
    x = rng.standard_normal((1000, 20))
    k = net.plan.n_outputs
    t = rng.integers(0, k, 1000) if net.plan.loss.op == "softmax_ce" else \
        rng.standard_normal((1000, k))
    return Trainer(net, x, t, epochs=1, batch_size=100, optimizer=optimizer, seed=0)


class _Until:
    """A stop flag the trainer polls between steps: on once the run reaches `step`."""

    def __init__(self, trainer: Trainer, step: int) -> None:
        self.state, self.step = trainer.state, step

    @property
    def requested(self) -> bool:
        return self.state.step >= self.step


def _kept_from_step_5_to_10(trainer: Trainer) -> int:
    """Bytes still traced after steps 6-10 that were not after step 5."""
    trainer.state.perm = trainer.state.rng.permutation(len(trainer.x))
    # Warm up: the first steps bind buffers for the batch size; later steps must reuse them.
    trainer._epoch(_Until(trainer, 3))
    tracemalloc.start()
    try:
        trainer._epoch(_Until(trainer, 5))
        first = tracemalloc.get_traced_memory()[0]
        trainer._epoch(_Until(trainer, 10))
        return tracemalloc.get_traced_memory()[0] - first
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_step_keeps_no_new_memory(spec: str, optimizer: str) -> None:
    trainer = _trainer(spec, optimizer)
    kept = _kept_from_step_5_to_10(trainer)
    assert trainer.state.step == 10
    # A buffer made per step would keep >= 4 KB each step ((100, 10) float32 at the least);
    # 2 KB covers one-off caches (einsum keeps ~120 B the first time it sees a shape) and
    # Python bookkeeping, and is far below what five kept buffers would add (>= 20 KB).
    assert kept < 2048, kept


def test_allocation_check_detects_a_kept_buffer() -> None:
    """The measure can fail: a step that keeps one array per call is caught."""
    trainer = _trainer(SPECS[0], "sgd")
    kept = []
    trainer.on_step = lambda *a: kept.append(np.empty((100, 10), np.float32))
    assert _kept_from_step_5_to_10(trainer) >= 5 * 4000
