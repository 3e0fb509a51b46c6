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

_CHUNK_SECONDS = 0.1


def jit_epoch(trainer: Any, stop: Any) -> None:
    """`Trainer._epoch` on the compiled loop (`trainer._jit`)."""
    st, bs, x, t = trainer.state, trainer.batch_size, trainer.x, trainer.t
    n_total = len(x)
    steps, full = math.ceil(n_total / bs), n_total // bs
    op, on_step, jit = trainer.net.plan.loss.op, trainer.on_step, trainer._jit
    preds = trainer._preds if op == "softmax_ce" else np.zeros(0, np.intp)
    hits = np.zeros(1 if op == "sigmoid_ce" else 0)
    losses = np.empty(steps)
    first, chunk = st.step, trainer._jit_chunk
    start = time.perf_counter() - st.seconds
    clip = trainer.clip * trainer.update.grad_scale if trainer.clip else 0.0
    while st.step < steps and not stop.requested:
        lo = st.step
        n = bs if lo < full else n_total - full * bs
        hi = min(lo + chunk, full if lo < full else steps)
        began = time.perf_counter()
        hits[:] = 0
        done = jit.run(x, t, st.perm, lo, hi, n, bs, trainer.update.grad_scale / n,
                       st.updates, clip, losses, preds, hits)
        for k in range(lo, done):
            value = float(losses[k - lo])
            st.loss_sum += value * n
            if not st.updates:  # the untrained loss, for `check_growth`
                trainer.start_loss = value
            st.updates += 1
            st.step += 1
            if on_step:
                on_step(st.epoch + 1, st.step, steps, float(value))
        st.correct_sum += float(hits[0]) if hits.size else 0.0
        if done < hi:  # a non-finite loss: diagnose it with the NumPy passes
            idx = st.perm[done * bs:done * bs + n]
            trace = trainer.net.passes(n)[5]
            xb, tb = x.take(idx, axis=0), t.take(idx, axis=0)
            trainer._diverged(float(losses[done - lo]), xb, tb, idx, trace)
        if time.perf_counter() - began < _CHUNK_SECONDS and chunk < steps:
            chunk = trainer._jit_chunk = chunk * 2  # kept: the next epoch starts there
    st.seconds = time.perf_counter() - start
    if preds.size:
        st.correct_sum += trainer._correct(preds, st.perm, first * bs, min(st.step * bs, n_total))
