"""Runtime stage 7, language models: truncated BPTT over parallel streams of a corpus.

DLFS-2's `RnnlmTrainer` (ch. 5-6): the corpus is read as `batch_size` streams starting at
fixed offsets, each batch the next `bptt` tokens of every stream (the targets the tokens
after them), with the recurrent layers' state carried from one window to the next while the
gradient stops at the window's edge. No shuffling: the order is the text's. Evaluation
streams the held-out corpus the same way from a zero state. Perplexity, exp(mean loss per
token), is reported beside the loss. The carried state and the stream position go into
checkpoints, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import DataError
from .optim import clip_norm
from .restore_check import RESUME_HINT
from .tokens import token_ids
from .trainer import Trainer


class Streams:
    """`batch_size` streams over one corpus at offsets `i * (size // batch_size)`."""

    def __init__(self, ids: NDArray, batch_size: int, steps: int, what: str) -> None:
        self.xs, self.ts = ids[:-1], ids[1:]
        self.size = len(self.xs)
        self.iters = self.size // (batch_size * steps)
        if not self.iters:
            raise DataError(f"{what} holds {len(ids):,} tokens: too few for {batch_size} "
                            f"streams of {steps} steps (at least {batch_size * steps + 1:,})"
                            "\n  hint: lower batch_size or bptt")
        self.offsets = (np.arange(batch_size) * (self.size // batch_size))[:, None]
        self.window = np.arange(steps)
        self.steps = steps

    def fill(self, k: int, xb: NDArray, tb: NDArray) -> None:
        """Batch k: tokens k*steps ... of every stream into xb, the next ones into tb."""
        idx = (self.offsets + (k * self.steps + self.window)) % self.size
        self.xs.take(idx, out=xb)
        self.ts.take(idx, out=tb)


def corpus_ids(x: ArrayLike, vocab: int, what: str) -> NDArray:
    """A corpus as one row of token ids, checked against the vocabulary."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise DataError(f"{what} must be one sequence of token ids (1-D), not an array of "
                        f"shape {arr.shape}\n  hint: a language model reads its corpus as "
                        "one text; pass ids.ravel() if the rows are consecutive")
    return token_ids(arr.reshape(1, -1), vocab, arr.size, what)[0]


class StreamTrainer(Trainer):
    """`Trainer` for `train: bptt=T`: x is the corpus (token ids), targets its next tokens."""

    def _take_data(self, x: ArrayLike, t: ArrayLike, data_name: str | None, subset: int,
                   validation_split: float, seed: int, validation_data: Any) -> None:
        plan, name = self.net.plan, data_name or "fit"
        if not plan.vocab or plan.input_width != self.bptt:
            raise ValueError(f"fit: bptt={self.bptt} trains a language model: the spec needs "
                             "`input: tokens` with `train: bptt` (its rows are the windows)")
        if t is not None:
            raise DataError(f"{name}: a language model (train: bptt=...) learns each token's "
                            "successor from one text: give the corpus alone (fit(ids), or data: "
                            'corpus("train.txt"), markov(...), or --data FILE.txt), no targets')
        self.x = self.t = corpus_ids(x, plan.vocab, f"{name}: the training corpus")
        if subset:
            self.x = self.t = self.x[:subset]
        self.val = None
        if validation_split:
            held = int(len(self.x) * validation_split)
            self.x, self.val = self.x[:-held], (self.x[-held:], None)
        if validation_data is not None:
            v = validation_data[0] if isinstance(validation_data, (tuple, list)) \
                else validation_data
            self.val = (corpus_ids(v, plan.vocab, f"{name}: the validation corpus"), None)
        self.streams = Streams(self.x, self.batch_size, self.bptt, f"{name}: the corpus")

    def carried(self) -> dict[str, NDArray]:
        """The recurrent state the training streams carry, kept in checkpoints."""
        n = self.batch_size
        self._passes = self.net.passes(n)
        self._xb = np.empty((n, self.bptt), np.int64)
        self._tb = np.empty((n, self.bptt), np.int64)
        flag, state = self._passes[6]
        if flag is None:
            raise ValueError("fit: bptt needs a recurrent layer (rnn, lstm or gru) to carry")
        for a in state:
            a.fill(0)
        return {f"carry/{i}": a for i, a in enumerate(state)}

    def order(self) -> NDArray:
        return np.zeros(0, np.int64)  # the text's own order: nothing to draw

    def position(self, path: Any, meta: dict[str, Any], anyway: bool) -> tuple[Any, int]:
        step = meta["step"]
        if not isinstance(step, int) or not 0 <= step <= self.streams.iters:
            raise DataError(f"{path}: corrupt checkpoint: meta step {step!r} is not within "
                            f"the {self.streams.iters} windows of an epoch; {RESUME_HINT}")
        return (np.zeros(0, np.int64) if step else None), step

    def _epoch(self, stop: Any) -> None:
        st, streams, isfinite = self.state, self.streams, math.isfinite
        forward, loss, backward, _, _, trace, (flag, _) = self._passes
        xb, tb, update, on_step = self._xb, self._tb, self._step, self.on_step
        scale, limit = self.update.grad_scale / self.batch_size, \
            self.clip * self.update.grad_scale
        flag[0] = True
        start = time.perf_counter() - st.seconds
        try:
            while st.step < streams.iters and not stop.requested:
                streams.fill(st.epoch * streams.iters + st.step, xb, tb)
                forward(xb, True)
                value = loss(tb)
                if not isfinite(value):
                    self._diverged(value, xb, tb, np.arange(len(xb)), trace)
                st.loss_sum += value
                backward(xb, tb, None, scale)
                if limit:
                    clip_norm(self.net.flat_grads, limit)
                if not st.updates:
                    self.start_loss = value
                st.updates += 1
                update(st.updates)
                st.step += 1
                if on_step:
                    on_step(st.epoch + 1, st.step, streams.iters, float(value))
        finally:
            flag[0] = False
        st.seconds = time.perf_counter() - start

    def _record(self) -> dict[str, Any]:
        st = self.state
        rec: dict[str, Any] = {"epoch": st.epoch + 1}
        sets = [(self.val_label, self.val[0])] if self.val else []
        if self.eval_train:
            sets.insert(0, ("train", self.x))
        else:
            rec["train_loss"] = st.loss_sum / max(1, st.step)
            rec["train_ppl"] = _perplexity(rec["train_loss"])
        for name, ids in sets:
            rec[f"{name}_loss"] = self.stream_loss(ids)
            rec[f"{name}_ppl"] = _perplexity(rec[f"{name}_loss"])
        rec["seconds"] = round(st.seconds, 4)
        return rec

    def stream_loss(self, ids: NDArray) -> float:
        """Mean loss per token over `ids`, streamed as in training (see `stream_loss`)."""
        return stream_loss(self._passes, ids, self.batch_size, self.bptt,
                           f"{self.data_name}: held-out corpus")


def stream_loss(passes: tuple[Any, ...], ids: NDArray, batch_size: int, steps: int,
                what: str) -> float:
    """Mean loss per token over `ids` read as `batch_size` streams of `steps`-token windows,
    the state carried from a zero start, in evaluation mode (DLFS-2's `eval_perplexity`);
    a state the passes carried before (a training run's) is put back afterwards."""
    forward, loss, _, _, _, _, (flag, state) = passes
    kept = [a.copy() for a in state]
    for a in state:
        a.fill(0)
    streams = Streams(ids, batch_size, steps, what)
    xb, tb = np.empty((batch_size, steps), np.int64), np.empty((batch_size, steps), np.int64)
    total, flag[0] = 0.0, True
    try:
        for k in range(streams.iters):
            streams.fill(k, xb, tb)
            forward(xb, False)
            total += loss(tb)
    finally:
        flag[0] = False
        for a, saved in zip(state, kept, strict=True):
            a[...] = saved
    return total / streams.iters


def _perplexity(loss: float) -> float:
    return math.exp(loss) if loss < 700 else math.inf
