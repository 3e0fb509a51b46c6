"""Catalogue of tampered or mismatched state: checkpoints whose arrays do not fit the spec
(loaded by `predict`, `export` or `--resume`), resume metadata of the wrong type, a saved
permutation that does not fit the data, and a resume on changed data or hyper-parameters.

Each case trains DATA_SPEC briefly (`trained_checkpoint`), then edits the file with numpy the
way a damaged disk, a hand edit or another run's file would. Expected messages are in
`tests/bad_inputs/state/`.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from catalogue import (  # noqa: E402  (tests/ is not a package)
    DATA_SPEC,
    Catalogue,
    data_run,
    good_arrays,
    npz,
    trained_checkpoint,
)

cat = Catalogue("state")
W = "param/0.affine.W"
DROP = "<drop>"


def rewrite(ck: Path, *, drop: tuple[str, ...] = (), meta: dict[str, Any] | None = None,
            **arrays: np.ndarray) -> Path:
    """Rewrite the checkpoint `ck` with members dropped, replaced or added, and meta updated.
    Members are named `section/key`; pass them as `**{"param/0.affine.W": ...}`."""
    with np.load(ck, allow_pickle=False) as f:
        members = {k: f[k] for k in f.files if k not in drop}
    members.update(arrays)
    if meta is not None:  # a value DROP removes the entry
        merged = {**json.loads(str(members["meta"])), **meta}
        members["meta"] = np.array(json.dumps({k: v for k, v in merged.items() if v != DROP}))
    with open(ck, "wb") as out:  # a file object: np.savez would append ".npz" to a name
        np.savez(out, **members)
    assert zipfile.is_zipfile(ck)
    return ck


def predict(tmp: Path, ck: Path) -> list[object]:
    return ["predict", DATA_SPEC, npz(tmp, "new.npz", x=np.ones((2, 4))), "--checkpoint", ck]


def resume(tmp: Path, ck: Path, *extra: object) -> list[object]:
    """Continue `ck` (one epoch done) for a second epoch, so that a resume has work to do."""
    return data_run(tmp / "train.npz", "--resume", ck, "--epochs", 2, *extra)


def mid_epoch(ck: Path, step: int = 2, **meta: Any) -> Path:
    """`ck` as if Ctrl-C had stopped it after `step` steps of its second epoch."""
    perm = np.random.default_rng(1).permutation(10).tolist()
    return rewrite(ck, meta={"step": step, "perm": perm, **meta})


# ---- arrays that do not fit the spec: the same check for predict, export and --resume -------


@cat.case
def w_broadcast_predict(tmp, mp):
    return predict(tmp, rewrite(trained_checkpoint(tmp), **{W: np.array([7.0])}))


@cat.case
def w_broadcast_export(tmp, mp):
    ck = rewrite(trained_checkpoint(tmp), **{W: np.array([7.0])})
    return ["export", DATA_SPEC, "--checkpoint", ck, "-o", tmp / "net.onnx"]


@cat.case
def w_broadcast_resume(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp), **{W: np.array([7.0])}))


@cat.case
def w_transposed_predict(tmp, mp):
    ck = trained_checkpoint(tmp)
    with np.load(ck) as f:
        w = f[W]
    return predict(tmp, rewrite(ck, **{W: w.T.copy()}))


@cat.case
def missing_param_predict(tmp, mp):
    return predict(tmp, rewrite(trained_checkpoint(tmp), drop=("param/0.affine.b",)))


@cat.case
def missing_params_resume(tmp, mp):
    ck = rewrite(trained_checkpoint(tmp), drop=("param/0.affine.W", "param/0.affine.b",
                                                 "param/2.affine.W", "param/2.affine.b"))
    return resume(tmp, ck)


@cat.case
def extra_param_predict(tmp, mp):
    return predict(tmp, rewrite(trained_checkpoint(tmp), **{"param/9.affine.W": np.ones(3)}))


@cat.case
def extra_buffer_resume(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp),
                               **{"buffer/1.batchnorm.running_mean": np.ones(8)}))


@cat.case
def extra_key_control_chars(tmp, mp):
    return predict(tmp, rewrite(trained_checkpoint(tmp), **{"param/\x1b[31mred": np.ones(3)}))


@cat.case
def nan_param_predict(tmp, mp):
    ck = trained_checkpoint(tmp)
    with np.load(ck) as f:
        w = f[W]
    w[1, 2] = np.nan
    return predict(tmp, rewrite(ck, **{W: w}))


@cat.case
def inf_param_export(tmp, mp):
    b = np.zeros(3, np.float32)
    b[0] = np.inf
    ck = rewrite(trained_checkpoint(tmp), **{"param/2.affine.b": b})
    return ["export", DATA_SPEC, "--checkpoint", ck, "-o", tmp / "net.onnx"]


@cat.case
def nan_param_resume(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp),
                               **{"param/0.affine.b": np.full(8, np.nan, np.float32)}))


@cat.case
def int_param_resume(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp), **{W: np.ones((4, 8), np.int64)}))


@cat.case
def int_param_predict(tmp, mp):
    return predict(tmp, rewrite(trained_checkpoint(tmp), **{W: np.ones((4, 8), np.int32)}))


@cat.case
def float64_overflows_float32(tmp, mp):
    return predict(tmp, rewrite(trained_checkpoint(tmp), **{W: np.full((4, 8), 1e300)}))


@cat.case
def other_spec_predict(tmp, mp):
    ck = trained_checkpoint(tmp)
    other = tmp / "other.net"
    other.write_text("input: 4\naffine(5) -> relu -> affine(3) -> softmax_ce\n")
    return ["predict", other, npz(tmp, "new.npz", x=np.ones((2, 4))), "--checkpoint", ck]


# ---- resume metadata of the wrong type ---------------------------------------------------------


@cat.case
def meta_epoch_is_a_string(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp), meta={"epoch": "1"}))


@cat.case
def meta_updates_negative(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp), meta={"updates": -5}))


@cat.case
def meta_perm_of_strings(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp), meta={"perm": ["0", "1"]}))


@cat.case
def meta_rng_is_a_number(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp), meta={"shuffle_rng": 42}))


@cat.case
def meta_rng_state_garbled(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp),
                               meta={"net_rng": {"bit_generator": "MT19937", "state": {}}}))


@cat.case
def meta_rng_state_overflows(tmp, mp):
    # numpy raises OverflowError (not ValueError) for a PCG64 state beyond 128 bits.
    state = {"bit_generator": "PCG64", "state": {"state": 2**200, "inc": 1},
             "has_uint32": 0, "uinteger": 0}
    return resume(tmp, rewrite(trained_checkpoint(tmp), meta={"net_rng": state}))


@cat.case
def meta_history_not_records(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp), meta={"history": [1, 2]}))


@cat.case
def meta_hyper_not_numbers(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp), meta={"hyper": {"lr": "fast"}}))


@cat.case
def optimizer_step_disagrees(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp), **{"optim/step": np.array(999)}))


@cat.case
def weights_only_resume(tmp, mp):
    import netc

    npz(tmp, "train.npz", **good_arrays())
    ck = tmp / "weights.npz"
    netc.load(DATA_SPEC).save_checkpoint(ck)
    return resume(tmp, ck)


# ---- the saved position against the data ------------------------------------------------------


@cat.case
def data_shrank_mid_epoch(tmp, mp):
    ck = mid_epoch(trained_checkpoint(tmp))
    npz(tmp, "train.npz", **good_arrays(8))
    return resume(tmp, ck)


@cat.case
def data_shrank_old_checkpoint(tmp, mp):
    # Written before fingerprints: only the permutation shows that the data changed.
    ck = rewrite(mid_epoch(trained_checkpoint(tmp)), meta={"data": DROP})
    npz(tmp, "train.npz", **good_arrays(8))
    return resume(tmp, ck)


@cat.case
def data_grew_old_checkpoint(tmp, mp):
    ck = rewrite(mid_epoch(trained_checkpoint(tmp)), meta={"data": DROP})
    npz(tmp, "train.npz", **good_arrays(12))
    return resume(tmp, ck)


@cat.case
def perm_not_a_permutation(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp),
                               meta={"step": 1, "perm": [0, 1, 2, 3, 4, 5, 6, 7, 8, 12]}))


@cat.case
def perm_repeats_an_index(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp),
                               meta={"step": 1, "perm": [0, 0, 2, 3, 4, 5, 6, 7, 8, 9]}))


@cat.case
def perm_index_beyond_int64(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp), meta={"step": 1, "perm": [2**70] * 10}))


@cat.case
def meta_data_is_null(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp), meta={"data": None}))


@cat.case
def step_beyond_the_epoch(tmp, mp):
    return resume(tmp, mid_epoch(trained_checkpoint(tmp), step=6))


@cat.case
def step_without_perm(tmp, mp):
    return resume(tmp, rewrite(trained_checkpoint(tmp), meta={"step": 3}))


# ---- a changed run: refused unless --resume-anyway --------------------------------------------


@cat.case
def changed_lr(tmp, mp):
    return resume(tmp, trained_checkpoint(tmp), "--lr", 0.5)


@cat.case
def changed_data(tmp, mp):
    ck = trained_checkpoint(tmp)
    arrays = good_arrays()
    arrays["x_train"][3, 1] += 1.0  # one value of one sample
    npz(tmp, "train.npz", **arrays)
    return resume(tmp, ck)


@cat.case
def changed_data_size(tmp, mp):
    ck = trained_checkpoint(tmp)
    npz(tmp, "train.npz", **good_arrays(12))
    return resume(tmp, ck)


test_state_catalogue_is_complete, test_state_case_is_reported_exactly = cat.tests()
