"""Runtime stage: greedy generation and exact-match accuracy for seq2seq (DLFS-2 ch. 7-8).

`generate: greedy(tgt, steps=N)` answers a question by feeding the decoder its own output: the
decoder's input starts with the start symbol, step k's most likely token becomes its input at
step k + 1. The compiler has checked (compiler/teacher.py) that the decoder reads the answer
one step behind the loss's targets. Where every decoder node is stepwise (compiler/stepper.py)
the encoder runs once and the decoder one token at a time; otherwise the teacher-forced graph
runs once per token with the answer filled in so far, which gives the same tokens (nothing
reads ahead: a test holds the two equal) at N passes' cost.

Exact-match accuracy is the share of rows whose N generated tokens all equal the targets.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..compiler.stepper import steps_source, stepwise


def answer_columns(plan: Any) -> tuple[int, int]:
    """The data row's columns (first, steps) the decoder reads: its start symbol's column
    and how many tokens greedy decoding writes after it."""
    k, steps, first = plan.run.generate
    return _column(plan, k) + first, steps


def _column(plan: Any, k: int) -> int:
    """Where named input k's columns start in a data row (the inputs lie side by side)."""
    return sum(math.prod(shape) for _, shape in plan.input_parts[:k])


def greedy(net: Any, x: NDArray) -> NDArray:
    """The generated tokens (n, steps) for rows `x` of checked token ids (the answer's columns
    after the start symbol are ignored: they are overwritten step by step)."""
    first, steps = answer_columns(net.plan)
    rows = np.array(x, dtype=np.int64)
    rows[:, first + 1:first + 1 + steps] = 0  # Why: no answer token may leak into a guess
    out = np.empty((len(rows), steps), np.int64)
    decode = _stepped if stepwise(net.plan) else _passes
    for s in range(0, len(rows), net.eval_rows):
        decode(net, rows[s:s + net.eval_rows], out[s:s + net.eval_rows], first)
    return out


def _stepped(net: Any, part: NDArray, out: NDArray, first: int) -> None:
    """The encoder once, then the decoder one token at a time (compiler/stepper.py)."""
    encode, begin, step = _steppers(net, len(part))
    encode(part)
    token = part[:, first:first + 1].copy()
    for k in range(out.shape[1]):
        probs = (begin if k == 0 else step)(token)
        np.argmax(probs, axis=1, out=out[:, k])
        token[:, 0] = out[:, k]


def _passes(net: Any, part: NDArray, out: NDArray, first: int) -> None:
    """The teacher-forced passes once per token, the answer so far filled in: for a decoder
    that cannot run a step at a time."""
    predict, vocab = net.passes(len(part))[3], net.plan.vocab
    for k in range(out.shape[1]):
        scores = predict(part).reshape(len(part), -1, vocab)
        out[:, k] = scores[:, k].argmax(axis=1)
        if k + 1 < out.shape[1]:
            part[:, first + 1 + k] = out[:, k]


def _steppers(net: Any, n: int) -> tuple[Any, ...]:
    """(encode, first, step) over buffers for n rows, bound once per network and size."""
    bound = net._steps
    if n not in bound:
        from .generated import load

        source = steps_source(net.plan)
        made = load(source, net.plan.path)["bind_steps"](net.params, net.buffers, n, net.dtype,
                                                         net.rng)
        bound.clear()  # Why one size: generation runs in chunks of eval_rows, then a rest
        bound[n] = made
    return bound[n]


def exact_match(generated: NDArray, t: NDArray) -> float:
    """Share of rows whose generated tokens equal the first targets, every one of them."""
    steps = generated.shape[1]
    return float(np.mean(np.all(generated == t[:, :steps], axis=1))) if len(t) else 0.0


def targets_of(plan: Any, x: NDArray) -> NDArray:
    """`softmax_ce(tgt[1:])`: the targets, the columns of the input they come from."""
    k, start, stop = plan.target
    before = _column(plan, k)
    return np.ascontiguousarray(x[:, before + start:before + stop])
