"""Runtime stage 7, train (the compiled backend): one epoch as a few calls of the compiled loop.

The trainer's `_epoch` takes one mini-batch per Python iteration; with `backend="numba"` it
hands the epoch here, which runs the same steps in `runtime/jit.py`'s compiled loop, in
chunks. Why chunks and not always the whole epoch: Ctrl-C (`stop`) and the progress bar
are served between chunks, so a chunk grows (doubling from one step, across epochs) only
until it takes about a tenth of a second; a small network's epoch then runs in one call.
The bookkeeping (running loss, predictions, the untrained loss, divergence) is the NumPy
epoch's, so the history and checkpoints of both backends read the same.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

_CHUNK_SECONDS = 0.1


def jit_epoch(trainer: Any, stop: Any) -> None:
    """`Trainer._epoch` on the compiled loop (`trainer._jit`)."""
    st, bs, x, t = trainer.state, trainer.batch_size, trainer.x, trainer.t
    n_total = len(x)
    steps, full = -(-n_total // bs), n_total // bs
    on_step, jit = trainer.on_step, trainer._jit
    losses, preds, hits = _buffers(trainer, steps)
    first, chunk = st.step, trainer._jit_chunk
    start = time.perf_counter() - st.seconds
    clip = trainer.clip * trainer.update.grad_scale if trainer.clip else 0.0
    while st.step < steps and not stop.requested:
        lo = st.step
        n = bs if lo < full else n_total - full * bs
        hi = min(lo + chunk, full if lo < full else steps)
        began = time.perf_counter()
        if hits.size:
            hits[0] = 0.0
        done = jit.run(x, t, st.perm, lo, hi, n, bs, trainer.update.grad_scale / n,
                       st.updates, clip, losses, preds, hits)
        if done > lo and not st.updates:  # the untrained loss, for `check_growth`
            trainer.start_loss = float(losses[0])
        if on_step:
            for k in range(lo, done):
                st.loss_sum += float(losses[k - lo]) * n
                on_step(st.epoch + 1, k + 1, steps, float(losses[k - lo]))
        else:  # Why no loop: at a few microseconds a step, Python's own loop would show
            st.loss_sum += math.fsum(losses[:done - lo].tolist()) * n
        st.updates += done - lo
        st.step = done
        st.correct_sum += float(hits[0]) if hits.size else 0.0
        if done < hi:  # a non-finite loss: diagnose it with the NumPy passes
            idx = st.perm[done * bs:done * bs + n]
            trace = trainer.net.passes(n)[5]
            xb, tb = x.take(idx, axis=0), t.take(idx, axis=0)
            trainer._diverged(float(losses[done - lo]), xb, tb, idx, trace)
        if chunk < steps and time.perf_counter() - began < _CHUNK_SECONDS:
            chunk = trainer._jit_chunk = chunk * 2  # kept: the next epoch starts there
    st.seconds = time.perf_counter() - start
    if preds.size:
        st.correct_sum += trainer._correct(preds, st.perm, first * bs, min(st.step * bs, n_total))


def _buffers(trainer: Any, steps: int) -> tuple[NDArray, NDArray, NDArray]:
    """The loop's outputs, made once per run: each step's loss, the epoch's argmax rows
    (softmax_ce) and the sigmoid hits (sigmoid_ce); empty where not used."""
    kept = trainer.__dict__.get("_jit_buffers")
    if kept is None or len(kept[0]) != steps:
        op = trainer.net.plan.loss.op
        kept = trainer._jit_buffers = (
            np.empty(steps), trainer._preds if op == "softmax_ce" else np.zeros(0, np.intp),
            np.zeros(1 if op == "sigmoid_ce" else 0))
    return kept
