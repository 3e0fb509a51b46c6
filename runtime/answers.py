"""Runtime stage: a seq2seq network's answers to questions written as text, and what its
attention looked at (`net.generate`, `net.attention`, `netc generate`, `netc attention`).

Questions are encoded with the characters of the spec's own `data:` (addition, dates or a
`pairs("file.txt")`, read or drawn again: the same vocabulary the network was trained on),
padded and, where the data reads questions backwards, reversed as in training. Each row then
holds the question and the start symbol; `generation.greedy` writes the answer after it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError
from .generation import answer_columns, greedy


def pair_data(plan: Any) -> Any:
    """The spec's question/answer data (`runtime/data/pairs.py`'s `Pairs`), cached."""
    from .data import PAIR_NAMES, pairs

    run = plan.run
    if run.data not in PAIR_NAMES or not run.generate:
        raise DataError(f"{plan.path}: answers come from a seq2seq spec: two token inputs, "
                        "data: addition, dates or pairs(\"file.txt\"), and a generate: setting")
    args = dict(run.data_args)
    return pairs(run.data, args.get("path"), bool(args.get("reverse")))


def question_rows(plan: Any, found: Any, questions: list[str]) -> NDArray:
    """Data rows for `questions`: each one's ids, then the start symbol (the answers' first
    column in the data), the rest left for the answer."""
    first, _ = answer_columns(plan)
    rows = np.zeros((len(questions), plan.input_width), np.int64)
    for i, q in enumerate(questions):
        rows[i, :found.questions.shape[1]] = found.encode(q)
    rows[:, first] = found.answers[0, 0]
    return rows


def generate(net: Any, questions: list[str]) -> list[str]:
    """The greedy answers to `questions`, as text."""
    found = pair_data(net.plan)
    ids = greedy(net, question_rows(net.plan, found, questions))
    return [found.decode(row) for row in ids]


def attention(net: Any, question: str) -> tuple[NDArray, str, str]:
    """(weights, question, answer): the first attention layer's weights while the network
    answers `question`, one row per answer character over the question's characters in
    reading order (un-reversed where the data reverses questions), padding cut off."""
    found = pair_data(net.plan)
    layer = next((lp for lp in net.plan.layers if lp.op == "attention"), None)
    if layer is None:
        raise DataError(f"{net.plan.path}: the network has no attention layer to draw")
    rows = question_rows(net.plan, found, [question])
    first, steps = answer_columns(net.plan)
    answer = greedy(net, rows)
    rows[0, first + 1:first + 1 + steps] = answer[0]  # the pass that gave the answer
    passes = net.passes(1)
    passes[3](rows)
    weights = np.array(_closed_over(passes[0], f"a{layer.index}")[0], np.float64)
    if found.reverse:  # the question was read backwards: its weights too
        weights = weights[:, ::-1]
    shown, said = question.rstrip(" "), found.decode(answer[0])
    return weights[:len(said) or 1, :len(shown)], shown, said


def _closed_over(fn: Any, name: str) -> Any:
    """A buffer the generated passes bound (`a6`, the attention weights): the generated
    forward reads it from its closure, where bind left it."""
    names = fn.__code__.co_freevars
    if name not in names:
        raise DataError(f"the generated passes hold no buffer {name!r}")
    return fn.__closure__[names.index(name)].cell_contents
