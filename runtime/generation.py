"""Runtime stage: greedy generation and exact-match accuracy for seq2seq (DLFS-2 ch. 7-8).

`generate: greedy(tgt, steps=N)` answers a question by feeding the decoder its own output: the
decoder's input starts with the start symbol, step k's most likely token becomes its input at
step k + 1. The compiler has checked (compiler/teacher.py) that the decoder reads the answer
one step behind the loss's targets and that nothing reads ahead (a recurrent decoder and
attention over the encoder are causal in the answer), so running the teacher-forced graph with
the answer filled in so far gives at step k exactly what a step-by-step decoder gives. Each
step is one evaluation pass over the whole graph, encoder included: N passes for N tokens.

Exact-match accuracy is the share of rows whose N generated tokens all equal the targets.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray


def answer_columns(plan: Any) -> tuple[int, int]:
    """The data row's columns (first, steps) the decoder reads: its start symbol's column
    and how many tokens greedy decoding writes after it."""
    k, steps, first = plan.run.generate
    before = sum(math.prod(shape) for _, shape in plan.input_parts[:k])
    return before + first, steps


def greedy(net: Any, x: NDArray) -> NDArray:
    """The generated tokens (n, steps) for rows `x` of checked token ids (the answer's columns
    after the start symbol are ignored: they are overwritten step by step)."""
    first, steps = answer_columns(net.plan)
    rows = np.array(x, dtype=np.int64)
    rows[:, first + 1:first + 1 + steps] = 0  # Why: no answer token may leak into a guess
    out = np.empty((len(rows), steps), np.int64)
    vocab, chunk = net.plan.vocab, net.eval_rows
    for s in range(0, len(rows), chunk):
        part = rows[s:s + chunk]
        predict = net.passes(len(part))[3]
        for k in range(steps):
            scores = predict(part).reshape(len(part), -1, vocab)
            out[s:s + len(part), k] = scores[:, k].argmax(axis=1)
            if k + 1 < steps:
                part[:, first + 1 + k] = out[s:s + len(part), k]
    return out


def exact_match(generated: NDArray, t: NDArray) -> float:
    """Share of rows whose generated tokens equal the first targets, every one of them."""
    steps = generated.shape[1]
    return float(np.mean(np.all(generated == t[:, :steps], axis=1))) if len(t) else 0.0


def targets_of(plan: Any, x: NDArray) -> NDArray:
    """`softmax_ce(tgt[1:])`: the targets, the columns of the input they come from."""
    k, start, stop = plan.target
    before = sum(math.prod(shape) for _, shape in plan.input_parts[:k])
    return np.ascontiguousarray(x[:, before + start:before + stop])
