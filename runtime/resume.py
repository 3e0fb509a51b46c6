"""Runtime stage 7 helper: the trainer's resumable state, its checkpoints, and Ctrl-C handling.

A checkpoint holds everything that decides the rest of a run: parameters, batchnorm
statistics, optimizer state and step count, both random generators (shuffling and dropout),
the position inside the epoch and its permutation, the history, and a fingerprint of the
training data. Restoring it therefore continues bit for bit as if the run had never stopped;
`restore_check` proves the file fits the network, the settings and the data first.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from os import PathLike
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import __version__
from ..errors import DataError
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .restore_check import (
    RESUME_HINT,
    check_arrays,
    check_run_meta,
    check_same_run,
    check_step_counter,
    fingerprint,
    shown,
)


@dataclass
class RunState:
    """Where a run stands: epochs done, step inside the current epoch, generators, slots."""

    rng: np.random.Generator
    slots: dict[str, NDArray]
    epoch: int = 0
    step: int = 0
    updates: int = 0
    perm: NDArray | None = None
    seconds: float = 0.0
    loss_sum: float = 0.0  # the epoch's running sums (batch-size weighted), see `_record`
    correct_sum: float = 0.0
    fingerprint: dict[str, Any] | None = None  # of the training data, see `data_fingerprint`


def snapshot(trainer: Any, *, interrupted: bool = False,
             path: str | PathLike[str] | None = None) -> None:
    """Write the trainer's state to its checkpoint path, or to `path` (atomically)."""
    path = path or (trainer.checkpoint if not interrupted else trainer.interrupt_path)
    if path is None:
        return
    st, net = trainer.state, trainer.net
    meta = {
        "netc": __version__, "spec_hash": net.plan.spec_hash, "epoch": st.epoch,
        "step": st.step, "updates": st.updates, "seconds": st.seconds,
        "loss_sum": st.loss_sum, "correct_sum": st.correct_sum,
        "shuffle_rng": st.rng.bit_generator.state, "net_rng": net.rng.bit_generator.state,
        # Why both: a resume must match the settings the run started with, and continue at
        # the learning rate a schedule (`callbacks.py`) has reached since.
        "optimizer": trainer.info.name, "hyper": trainer.initial_hyper,
        "lr": trainer.hyper["lr"],
        "batch_size": trainer.batch_size, "dtype": str(net.dtype),
        "wd_all": trainer.wd_all,  # which parameters weight decay reaches
        "history": list(trainer.history),
        # Why keep the permutation: a run stopped mid-epoch resumes on the same batches. Also
        # at step 0: the shuffle generator has already drawn it, so it cannot be drawn again.
        "perm": st.perm.tolist() if st.perm is not None else None,
        # Why: a resume on other data is refused unless asked for (see `check_same_run`).
        "data": data_fingerprint(trainer),
    }
    optimizer = dict(st.slots)
    optimizer["step"] = np.array(st.updates, np.int64)
    save_checkpoint(path, Checkpoint(dict(net.params), dict(net.buffers), optimizer, meta))


def restore(path: str | PathLike[str], trainer: Any, *, anyway: bool = False) -> None:
    """Load a checkpoint into the trainer and its network; refuse one that cannot continue.

    Everything is checked before anything is copied, so a refusal leaves the network as it
    was. `anyway` accepts changed hyper-parameters or data (never a changed spec, optimizer,
    batch size or dtype, nor a damaged file); see `check_same_run` and `saved_position`.
    """
    net, st = trainer.net, trainer.state
    ckpt = load_checkpoint(path, spec_hash=net.plan.spec_hash)
    meta = ckpt.meta
    check_run_meta(path, meta)
    for key, mine in (("optimizer", trainer.info.name), ("batch_size", trainer.batch_size),
                      ("dtype", str(net.dtype)), ("wd_all", trainer.wd_all)):
        if meta.get(key, False if key == "wd_all" else None) != mine:  # older: weights only
            raise DataError(
                f"{path}: the checkpoint was trained with {key} {shown(repr(meta.get(key)))}, this "
                f"run uses {mine!r}; resume with the same settings to continue the same run")
    if not anyway:
        check_same_run(path, meta, trainer.hyper, lambda: data_fingerprint(trainer))
    slots = {k: v for k, v in ckpt.optimizer.items() if k != "step"}
    check_arrays(path, replace(ckpt, optimizer=slots),
                 {"param": net.params, "buffer": net.buffers, "optim": st.slots},
                 net.dtype, RESUME_HINT)
    check_step_counter(path, ckpt, meta["updates"])
    perm, step = trainer.position(path, meta, anyway)
    # Why on scratch generators first: a state that numpy refuses halfway (OverflowError for
    # a too-large integer) must leave both live generators as they were.
    try:
        for rng, key in ((st.rng, "shuffle_rng"), (net.rng, "net_rng")):
            type(rng.bit_generator)().state = meta[key]
    except (KeyError, ValueError, TypeError, OverflowError) as e:
        raise DataError(f"{path}: corrupt checkpoint: a generator state is not valid "
                        f"({shown(str(e))}); {RESUME_HINT}") from None
    st.rng.bit_generator.state = meta["shuffle_rng"]
    net.rng.bit_generator.state = meta["net_rng"]
    for target, saved in ((net.params, ckpt.params), (net.buffers, ckpt.buffers),
                          (st.slots, slots)):
        for k, v in target.items():
            v[...] = saved[k]
    st.epoch, st.updates, st.step, st.perm = meta["epoch"], meta["updates"], step, perm
    st.seconds = float(meta.get("seconds", 0.0))
    st.loss_sum = float(meta.get("loss_sum", 0.0))
    st.correct_sum = float(meta.get("correct_sum", 0.0))
    trainer.history.extend(meta["history"])
    if "lr" in meta and meta["hyper"] == trainer.hyper:  # else --resume-anyway's new lr wins
        trainer.hyper["lr"] = float(meta["lr"])


def data_fingerprint(trainer: Any) -> dict[str, Any]:
    """The training data's fingerprint, computed once per run (it reads every byte)."""
    st = trainer.state
    if st.fingerprint is None:
        st.fingerprint = fingerprint(trainer.x, trainer.t, trainer.data_name)
    return st.fingerprint


class _Stop:
    requested = False


@contextlib.contextmanager
def interrupt_guard() -> Iterator[_Stop]:
    """Turn the first Ctrl-C into a request to stop after the current step.

    Why: stopping between steps keeps parameters and optimizer state consistent, so the
    checkpoint written on the way out resumes exactly. A second Ctrl-C stops at once.
    """
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
