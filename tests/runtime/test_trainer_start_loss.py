"""The loss-growth warning's reference is the first mini-batch's loss: `fit` makes no
evaluation pass of its own when nothing asks for one."""

from __future__ import annotations

import numpy as np
import pytest

import netc
from netc.runtime.trainer import Trainer

SPEC = "input: 2\naffine(10) -> relu -> affine(3) -> softmax_ce\n"


def test_fit_without_held_out_data_makes_no_evaluation_pass(monkeypatch):
    (x, t), _ = netc.datasets.load_spiral()
    net = netc.compile(SPEC)

    def refuse(*_):
        raise AssertionError("an evaluation pass nobody asked for")

    monkeypatch.setattr(Trainer, "evaluate", refuse)
    history = net.fit(x, t, epochs=2, verbose=0)
    assert len(history) == 2


def test_growth_reference_is_the_loss_before_the_first_update():
    (x, t), _ = netc.datasets.load_spiral()
    net = netc.compile(SPEC)
    before = {k: v.copy() for k, v in net.params.items()}
    trainer = Trainer(net, x, t, epochs=1, batch_size=50, seed=3)
    perm = trainer.state.rng.bit_generator.state
    trainer.run()
    rng = np.random.default_rng(3)
    rng.bit_generator.state = perm
    idx = rng.permutation(len(x))[:50]
    probe = netc.compile(SPEC)
    for k, v in before.items():
        probe.params[k][...] = v
    assert trainer.start_loss == pytest.approx(probe.loss(x[idx], t[idx], train=True), rel=1e-6)
