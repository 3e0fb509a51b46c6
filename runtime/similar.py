"""Runtime stage (after training): word vectors, DLFS-2 ch. 3-4's `most_similar` and analogies.

A network's word vectors are the rows of its first `embed` layer's weight (CBOW's W_in,
a language model's embedding). `most_similar` ranks every other word by cosine similarity
with a query: one word (`you`), or a sum and difference of words (`king - man + woman`, the
book's `analogy`, with the query words themselves left out of the answer).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError
from ..terminal import printable

_TERM = re.compile(r"\s*([+-]?)\s*([^\s+-][^\s+]*)")


def word_vectors(net: Any) -> NDArray:
    """The first embed layer's weight, (vocab, dim)."""
    layer = next((lp for lp in net.plan.layers if lp.op == "embed"), None)
    if layer is None:
        raise DataError(f"{net.plan.path}: the network has no embed layer, so no word vectors")
    return net.params[f"{layer.label}.W"]


def parse_query(query: str) -> list[tuple[int, str]]:
    """`king - man + woman` -> [(1, king), (-1, man), (1, woman)]."""
    terms, pos = [], 0
    text = query.strip()
    while pos < len(text):
        m = _TERM.match(text, pos)
        if m is None:
            break
        terms.append((-1 if m.group(1) == "-" else 1, m.group(2)))
        pos = m.end()
    if not terms or pos < len(text.rstrip()):
        raise DataError(f"cannot read the query {printable(query)!r}: write one word, or words "
                        "joined by + and - (king - man + woman)")
    return terms


def most_similar(net: Any, query: str, words: Sequence[str], top: int = 5
                 ) -> list[tuple[str, float]]:
    """The `top` words nearest the query by cosine similarity, with their similarities."""
    vectors = word_vectors(net).astype(np.float64)
    if len(words) != len(vectors):
        raise DataError(f"the vocabulary holds {len(words):,} words but the embedding "
                        f"{len(vectors):,} rows: is this the data the network was trained on?")
    index = {w: i for i, w in enumerate(words)}
    norms = np.sqrt((vectors * vectors).sum(axis=1)) + 1e-8
    unit = vectors / norms[:, None]
    goal, used = np.zeros(vectors.shape[1]), []
    for sign, word in parse_query(query):
        if word not in index:
            near = next(iter(difflib.get_close_matches(word, words, n=1)), None)
            raise DataError(f"{printable(word)!r} is not in the vocabulary ({len(words):,} "
                            f"words)" + (f"; did you mean {near!r}?" if near else ""))
        goal += sign * unit[index[word]]
        used.append(index[word])
    goal /= np.sqrt(goal @ goal) + 1e-8
    scores = unit @ goal
    scores[used] = -np.inf  # Why: the query's own words are not an answer
    order = np.argsort(-scores, kind="stable")[:top]
    return [(words[i], float(scores[i])) for i in order if np.isfinite(scores[i])]
