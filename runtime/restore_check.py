"""Runtime stage 7 helper: a loaded checkpoint is checked against the network (and, to resume,
against the run and its data) before a single value is copied.

Why a check of its own: copying with `param[...] = saved` broadcasts a `(1,)` array over any
shape and casts integers, NaN and out-of-range float64 without a word, and a tampered or
mismatched resume state ends in `ZeroDivisionError` or silently clipped batch indices. Every
refusal names the file and the key and ends with what to do (`hint`, which fits the command).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import DataError
from .checkpoint import Checkpoint

LOAD_HINT = "use the checkpoint trained with this spec"
RESUME_HINT = "start without --resume"
_SECTION_NAMES = {"param": "parameter", "buffer": "buffer", "optim": "optimizer state"}
_SHOWN = 3  # Why: a wholly different file would otherwise list every key it holds.


def shown(text: object, limit: int = 60) -> str:
    """A key or value from the file, safe for the terminal: control characters escaped, short."""
    s = text if isinstance(text, str) else json.dumps(text, default=str)
    if not s.isprintable() or not s.isascii():
        s = json.dumps(s)  # escapes control characters; keeps the text recognisable
    return s if len(s) <= limit else s[:limit] + "…"


def value_shown(value: object) -> str:
    """A value from the file's meta as JSON (so "1" and 1 differ), escaped and short."""
    return shown(json.dumps(value, default=str))


def short_hash(value: object) -> str:
    if not isinstance(value, str) or not value:
        return "(none)"
    return shown(value[:12]) + ("…" if len(value) > 12 else "")


def check_spec(path: object, meta: Mapping[str, Any], spec_hash: str, hint: str) -> None:
    """The checkpoint was written for this architecture (the plan's spec hash)."""
    if meta.get("spec_hash") != spec_hash:
        raise DataError(f"{path}: checkpoint was written for a different spec (hash "
                        f"{short_hash(meta.get('spec_hash'))} ≠ {short_hash(spec_hash)}); {hint}")


def check_arrays(path: object, ckpt: Checkpoint, wanted: Mapping[str, Mapping[str, np.ndarray]],
                 dtype: np.dtype, hint: str) -> None:
    """Each section of `ckpt` named in `wanted` holds exactly its keys, with the same shapes,
    a floating dtype that `dtype` can hold, and only finite values."""
    saved = {"param": ckpt.params, "buffer": ckpt.buffers, "optim": ckpt.optimizer}
    for section, arrays in wanted.items():
        _check_keys(path, section, saved[section], arrays, hint)
        for key, live in arrays.items():
            _check_array(path, f"{_SECTION_NAMES[section]} {shown(key)}",
                         saved[section][key], live.shape, dtype, hint)


def _check_keys(path: object, section: str, saved: Mapping[str, Any],
                wanted: Mapping[str, Any], hint: str) -> None:
    what = _SECTION_NAMES[section]
    for keys, verb in (([k for k in wanted if k not in saved], "lacks"),
                       ([k for k in saved if k not in wanted], "has unexpected")):
        if keys:
            names = ", ".join(shown(k) for k in keys[:_SHOWN])
            more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
            plural = "s" if len(keys) > 1 else ""
            raise DataError(f"{path}: the checkpoint {verb} {what}{plural} {names}{more} "
                            f"(the spec has {len(wanted) or 'none'}); {hint}")


def _check_array(path: object, name: str, array: np.ndarray, shape: tuple[int, ...],
                 dtype: np.dtype, hint: str) -> None:
    if array.shape != shape:
        raise DataError(f"{path}: {name} has shape {array.shape}, the spec needs {shape}; {hint}")
    if array.dtype.kind != "f":
        raise DataError(f"{path}: {name} has dtype {array.dtype}, not a floating-point type; "
                        f"{hint}")
    if array.size == 0:
        return
    if not np.isfinite(array).all():
        what = "NaN" if np.isnan(array).any() else "infinite values"
        raise DataError(f"{path}: {name} holds {what}; {hint}")
    limit = np.finfo(dtype).max
    if array.dtype.itemsize > dtype.itemsize and np.abs(array).max() > limit:
        raise DataError(f"{path}: {name} holds values too large for {dtype} "
                        f"(largest {float(np.abs(array).max()):g}, limit {float(limit):g}); "
                        f"{hint}")


def check_step_counter(path: object, ckpt: Checkpoint, updates: int) -> None:
    """The optimizer's step counter (a 0-d integer) agrees with the meta's update count."""
    step = ckpt.optimizer.get("step")
    if step is None:
        raise DataError(f"{path}: the checkpoint lacks optimizer state step; {RESUME_HINT}")
    if step.shape != () or step.dtype.kind not in "iu" or int(step) != updates:
        raise DataError(f"{path}: corrupt checkpoint: optimizer state step is "
                        f"{value_shown(step.tolist())}, the meta counts {updates} updates; "
                        f"{RESUME_HINT}")


def fingerprint(x: np.ndarray, t: np.ndarray, name: str) -> dict[str, Any]:
    """What identifies a training set cheaply: its size, shapes, dtypes and a hash of its bytes.

    Why the whole bytes: blake2b reads about 0.6 GB/s, so MNIST's 60000x784 float32 inputs
    (188 MB) take about 0.3 s, once per run; a sample could miss an edited row.
    """
    h = hashlib.blake2b(digest_size=16)
    for a in (x, t):
        h.update(memoryview(np.ascontiguousarray(a)).cast("B"))
    return {"name": name, "n": len(x), "x": [list(x.shape[1:]), str(x.dtype)],
            "t": [list(t.shape[1:]), str(t.dtype)], "hash": h.hexdigest()}


# ---- resume: the meta, the settings, the position inside the epoch ---------------------------


def _count(v: object) -> bool:
    return type(v) is int and v >= 0


def _number(v: object) -> bool:
    return type(v) in (int, float)


def _ints_or_null(v: object) -> bool:
    return v is None or (isinstance(v, list) and all(type(i) is int for i in v))


def _fingerprint_like(v: object) -> bool:
    return (isinstance(v, dict) and _count(v.get("n")) and isinstance(v.get("hash"), str)
            and isinstance(v.get("name"), str))


# (key, required, test, what it must be): everything `restore` reads from the meta.
_META_RULES = (
    ("epoch", True, _count, "a non-negative integer"),
    ("step", True, _count, "a non-negative integer"),
    ("updates", True, _count, "a non-negative integer"),
    ("perm", True, _ints_or_null, "a list of sample indices or null"),
    ("shuffle_rng", True, lambda v: isinstance(v, dict), "a generator state (an object)"),
    ("net_rng", True, lambda v: isinstance(v, dict), "a generator state (an object)"),
    ("history", True, lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v),
     "a list of epoch records"),
    ("hyper", True, lambda v: isinstance(v, dict) and all(_number(x) for x in v.values()),
     "an object of numbers"),
    ("seconds", False, _number, "a number"),
    ("lr", False, lambda v: _number(v) and 0 < v < float("inf"), "a positive number"),
    ("loss_sum", False, _number, "a number"),
    ("correct_sum", False, _number, "a number"),
    ("data", False, _fingerprint_like, "a data fingerprint"),
)


def check_run_meta(path: object, meta: Mapping[str, Any]) -> None:
    """Every meta entry a resume reads has the type it was written with."""
    for key, required, test, want in _META_RULES:
        if key not in meta:
            if required:
                raise DataError(f"{path}: not a resumable checkpoint (its meta has no {key}; "
                                f"it may hold weights only); {RESUME_HINT}")
            continue
        if not test(meta[key]):
            raise DataError(f"{path}: corrupt checkpoint: meta {key} is {value_shown(meta[key])}, "
                            f"not {want}; {RESUME_HINT}")


def check_same_run(path: object, meta: Mapping[str, Any], hyper: Mapping[str, float],
                   data: Any) -> None:
    """The hyper-parameters and the training data are the checkpoint's (`data()` gives this
    run's fingerprint; it is only computed when the checkpoint holds one to compare with).
    Epochs may change: raising them is how a finished run is extended."""
    saved = meta["hyper"]
    changed = [k for k in sorted({*saved, *hyper}) if saved.get(k) != hyper.get(k)]
    if changed:
        was = ", ".join(f"{shown(k)}={_value(saved.get(k))}" for k in changed[:_SHOWN])
        now = ", ".join(f"{k}={_value(hyper.get(k))}" for k in changed[:_SHOWN])
        raise DataError(f"{path}: the checkpoint was trained with {was}, this run uses {now}; "
                        "pass --resume-anyway to continue with the new hyper-parameters")
    old = meta.get("data")
    if old is None:
        return  # Why: checkpoints written before fingerprints resume as they always did.
    new = data()
    if all(old.get(k) == new[k] for k in ("n", "x", "t", "hash")):
        return
    name = "" if new["name"] == old["name"] else f" of {shown(new['name'], 200)}"
    have = (f"this run's {new['n']} samples{name} differ" if old["n"] == new["n"]
            else f"this run has {new['n']}{' samples' if name else ''}{name}")
    raise DataError(f"{path}: the checkpoint was trained on {old['n']} samples of "
                    f"{shown(old['name'], 200)} (fingerprint {_hash(old)}), {have} "
                    f"(fingerprint {_hash(new)}); pass --resume-anyway to continue with the "
                    "new data")


def _value(v: object) -> str:
    return "(none)" if v is None else f"{v:g}" if _number(v) else shown(v)


def _hash(fp: Mapping[str, Any]) -> str:
    return shown(fp["hash"][:8]) + "…"


def saved_position(path: object, meta: Mapping[str, Any], n: int, batch_size: int,
                   anyway: bool) -> tuple[np.ndarray | None, int]:
    """(permutation, step) to continue the epoch in progress, proven to index `n` samples.

    With `anyway`, a permutation over another number of samples (the data changed) restarts
    that epoch on the new data: (None, 0)."""
    perm, step = meta["perm"], meta["step"]
    if perm is None:
        if step:
            raise DataError(f"{path}: corrupt checkpoint: meta step is {step} but no "
                            f"permutation was saved; {RESUME_HINT}")
        return None, 0
    fault = _not_a_permutation(perm)
    if fault:
        raise DataError(f"{path}: corrupt checkpoint: meta perm is not a permutation of "
                        f"0..{len(perm) - 1} ({fault}); {RESUME_HINT}")
    order = np.asarray(perm, np.int64)
    if len(order) != n:
        if anyway:
            return None, 0
        raise DataError(f"{path}: the checkpoint stopped inside an epoch over {len(order)} "
                        f"samples, this run has {n}; pass --resume-anyway to restart that "
                        "epoch on the new data")
    steps = -(-n // batch_size)
    if step > steps:
        raise DataError(f"{path}: corrupt checkpoint: meta step {step} is beyond the {steps} "
                        f"steps of an epoch ({n} samples, batch size {batch_size}); "
                        f"{RESUME_HINT}")
    return order, step


def _not_a_permutation(perm: list[int]) -> str | None:
    """Why `perm` is not a permutation of range(len(perm)), or None if it is one."""
    n = len(perm)
    bad = next((i for i in perm if not 0 <= i < n), None)
    if bad is not None:
        return f"index {value_shown(bad)} is out of range"
    counts = np.bincount(np.asarray(perm, np.int64), minlength=n)
    if (counts != 1).any():
        return f"index {int(counts.argmax())} appears {int(counts.max())} times"
    return None
