"""Checkpoints checked before loading: nothing is copied from a file that does not fit, a resume
on changed data or hyper-parameters continues only with `resume_anyway`, and checkpoints
written before data fingerprints still resume. (Exact messages: tests/bad_inputs/state/.)"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netc
from netc.runtime.checkpoint import load_checkpoint
from netc.runtime.data import load_dataset
from netc.runtime.restore_check import fingerprint

RELU = "input: 2\naffine(16) -> relu -> affine(3) -> softmax_ce\n"
STATEFUL = "input: 2\naffine(16) -> batchnorm -> relu -> dropout(0.2) -> affine(3) -> softmax_ce\n"
FIT = dict(batch_size=32, optimizer="momentum", lr=0.1)


@pytest.fixture(scope="module")
def spiral() -> tuple[np.ndarray, np.ndarray]:
    d = load_dataset("spiral")
    return d.x_train, d.t_train


def rewrite(ck: Path, meta: dict[str, Any] | None = None, drop_meta: tuple[str, ...] = (),
            **arrays: np.ndarray) -> None:
    with np.load(ck, allow_pickle=False) as f:
        members = {k: f[k] for k in f.files}
    members.update(arrays)
    old = json.loads(str(members["meta"]))
    new = {k: v for k, v in {**old, **(meta or {})}.items() if k not in drop_meta}
    members["meta"] = np.array(json.dumps(new))
    with open(ck, "wb") as out:
        np.savez(out, **members)


def copies(arrays: Any) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in arrays.items()}


def stopped_mid_epoch(tmp_path: Path, x, t, at: tuple[int, int], spec: str = RELU) -> Path:
    """The interrupt checkpoint of a 3-epoch run stopped by Ctrl-C after step `at`."""
    saved = tmp_path / "interrupted.npz"

    def ctrl_c(epoch: int, step: int, n: int, loss: float) -> None:
        if (epoch, step) == at:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        netc.compile(spec).fit(x, t, epochs=3, interrupt_checkpoint=saved, on_step=ctrl_c, **FIT)
    return saved


# --- nothing is copied from a file that does not fit ---------------------------------------


def test_load_refuses_a_broadcastable_parameter_and_copies_nothing(tmp_path, spiral):
    ck = tmp_path / "ck.npz"
    netc.compile(RELU).fit(*spiral, epochs=1, checkpoint=ck, **FIT)
    rewrite(ck, **{"param/0.affine.W": np.array([7.0])})
    net = netc.compile(RELU, seed=5)
    before = copies(net.params)
    with pytest.raises(netc.DataError, match=r"ck.npz: parameter 0.affine.W has shape \(1,\), "
                                             r"the spec needs \(2, 16\); use the checkpoint"):
        net.load_checkpoint(ck)
    for k, v in before.items():
        np.testing.assert_array_equal(net.params[k], v)


def test_resume_refusal_leaves_network_and_generators_untouched(tmp_path, spiral):
    ck = tmp_path / "ck.npz"
    netc.compile(STATEFUL).fit(*spiral, epochs=1, checkpoint=ck, **FIT)
    # The permutation is the last thing checked: every array before it is fine.
    rewrite(ck, meta={"step": 1, "perm": [0] * 300})
    net = netc.compile(STATEFUL, seed=5)
    params, buffers = copies(net.params), copies(net.buffers)
    rng = net.rng.bit_generator.state
    with pytest.raises(netc.DataError, match="index 0 appears 300 times"):
        net.fit(*spiral, epochs=2, resume=ck, **FIT)
    for now, was in ((net.params, params), (net.buffers, buffers)):
        for k, v in was.items():
            np.testing.assert_array_equal(now[k], v)
    assert net.rng.bit_generator.state == rng


def test_load_widens_and_keeps_float64_values_a_float64_network_can_hold(tmp_path, spiral):
    ck = tmp_path / "ck.npz"
    netc.compile(RELU).fit(*spiral, epochs=1, checkpoint=ck, **FIT)
    rewrite(ck, **{"param/0.affine.W": np.full((2, 16), 1e300)})
    with pytest.raises(netc.DataError, match="too large for float32"):
        netc.compile(RELU).load_checkpoint(ck)
    wide = netc.compile(RELU, dtype="float64")
    wide.load_checkpoint(ck)  # float32 members widen; 1e300 fits float64
    assert wide.params["0.affine.W"][0, 0] == 1e300
    assert wide.params["0.affine.b"].dtype == np.float64


def test_weights_only_checkpoint_round_trips_through_load(tmp_path, spiral):
    trained = netc.compile(STATEFUL)
    trained.fit(*spiral, epochs=1, **FIT)
    trained.save_checkpoint(tmp_path / "w.npz")
    loaded = netc.compile(STATEFUL, seed=9)
    loaded.load_checkpoint(tmp_path / "w.npz")
    for now, was in ((loaded.params, trained.params), (loaded.buffers, trained.buffers)):
        for k in was:
            np.testing.assert_array_equal(now[k], was[k])


# --- a changed run: refused unless resume_anyway ---------------------------------------------


def test_resume_anyway_continues_with_a_new_learning_rate(tmp_path, spiral):
    x, t = spiral
    ck = tmp_path / "ck.npz"
    first = netc.compile(RELU).fit(x, t, epochs=1, checkpoint=ck, **FIT)
    faster = {**FIT, "lr": 0.5}
    with pytest.raises(netc.DataError, match="lr=0.1, this run uses lr=0.5; pass --resume-any"):
        netc.compile(RELU).fit(x, t, epochs=2, resume=ck, **faster)
    same = netc.compile(RELU).fit(x, t, epochs=2, resume=ck, **FIT)
    h = netc.compile(RELU).fit(x, t, epochs=2, resume=ck, checkpoint=ck, resume_anyway=True,
                               **faster)
    assert [r["epoch"] for r in h] == [1, 2]
    assert h[0] == first[0]  # the saved epoch is kept
    assert h[1]["train_loss"] != same[1]["train_loss"]  # the new rate was used
    assert load_checkpoint(ck).meta["hyper"]["lr"] == 0.5


def test_resume_anyway_on_data_of_the_same_size_continues_mid_epoch(tmp_path, spiral):
    x, t = spiral
    saved = stopped_mid_epoch(tmp_path, x, t, at=(2, 4))
    shifted = x + 0.01
    with pytest.raises(netc.DataError, match="300 samples differ"):
        netc.compile(RELU).fit(shifted, t, epochs=3, resume=saved, **FIT)
    steps: list[tuple[int, int]] = []
    h = netc.compile(RELU).fit(shifted, t, epochs=3, resume=saved, resume_anyway=True,
                               on_step=lambda e, s, n, loss: steps.append((e, s)), **FIT)
    assert len(h) == 3 and steps[0] == (2, 5)  # the epoch in progress goes on


def test_resume_anyway_on_data_of_another_size_restarts_the_epoch(tmp_path, spiral):
    x, t = spiral
    saved = stopped_mid_epoch(tmp_path, x, t, at=(2, 4))
    fewer = (x[:250], t[:250])
    with pytest.raises(netc.DataError, match="trained on 300 samples of data .*this run has 250"):
        netc.compile(RELU).fit(*fewer, epochs=3, resume=saved, **FIT)
    steps: list[tuple[int, int]] = []
    ck = tmp_path / "ck.npz"
    h = netc.compile(RELU).fit(*fewer, epochs=3, resume=saved, resume_anyway=True, checkpoint=ck,
                               on_step=lambda e, s, n, loss: steps.append((e, s)), **FIT)
    assert len(h) == 3
    assert steps[0] == (2, 1) and steps.count((2, 8)) == 1 and (2, 9) not in steps  # 250/32
    meta = load_checkpoint(ck).meta
    # The 4 steps taken before the stop stay in the weights (and the count); epoch 2 restarts.
    assert meta["data"]["n"] == 250 and meta["updates"] == 10 + 4 + 8 + 8


def test_checkpoint_without_fingerprint_resumes_as_before(tmp_path, spiral):
    x, t = spiral
    saved = stopped_mid_epoch(tmp_path, x, t, at=(2, 4), spec=STATEFUL)
    with_fp = netc.compile(STATEFUL)
    h1 = with_fp.fit(x, t, epochs=3, resume=saved, **FIT)
    rewrite(saved, drop_meta=("data",))
    old = netc.compile(STATEFUL)
    h2 = old.fit(x + 1.0, t, epochs=3, resume=saved, **FIT)  # nothing to compare data with
    assert len(h2) == len(h1) == 3 and h2[0] == h1[0]
    old_same = netc.compile(STATEFUL)
    h3 = old_same.fit(x, t, epochs=3, resume=saved, **FIT)
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in h3] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in h1]
    for k in with_fp.params:
        np.testing.assert_array_equal(old_same.params[k], with_fp.params[k])


def test_stop_after_the_last_step_of_an_epoch_resumes(tmp_path, spiral):
    # step == steps per epoch (10 for 300 samples in 32s) is a valid position, not "beyond".
    x, t = spiral
    saved = stopped_mid_epoch(tmp_path, x, t, at=(2, 10))
    assert load_checkpoint(saved).meta["step"] == 10
    h = netc.compile(RELU).fit(x, t, epochs=3, resume=saved, **FIT)
    assert [r["epoch"] for r in h] == [1, 2, 3]


def test_fingerprint_sees_one_changed_value_and_ignores_the_name():
    x = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
    t = np.arange(50) % 3
    a = fingerprint(x, t, "a.npz")
    assert fingerprint(x.copy(), t.copy(), "b.npz")["hash"] == a["hash"]
    y = x.copy()
    y[17, 2] = np.nextafter(y[17, 2], np.float32(np.inf))
    assert fingerprint(y, t, "a.npz")["hash"] != a["hash"]
    assert fingerprint(x, (t + 1) % 3, "a.npz")["hash"] != a["hash"]
    assert (a["n"], a["x"], a["t"]) == (50, [[3], "float32"], [[], str(t.dtype)])
    assert json.loads(json.dumps(a)) == a  # stored in the JSON meta as is
