"""The runtime's data stage: text corpora of token ids for the language models (DLFS-2 ch. 2-6).

`read_corpus` reads a text file the way DLFS-2's `ptb.py` does (one sentence a line, words split
on whitespace, `<eos>` after every line, ids in order of first appearance in the training file),
plus the PTB siblings `*.valid.*` and `*.test.*` when they exist. `markov_corpus` draws a seeded
synthetic corpus from a Markov source whose entropy rate is known exactly, so a model's
perplexity can be compared with the best possible one (`true_perplexity`). Every problem a
user can cause is a `DataError` naming the file (or `markov(...)`).
"""

from __future__ import annotations

import math
import os
from array import array
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ...errors import DataError
from ...reading import open_regular
from ...terminal import printable

__all__ = ["Corpus", "MarkovChain", "markov_chain", "markov_corpus", "read_corpus",
           "true_perplexity"]

UNK = "<unk>"
GROUP = 4
"""Words per role in a Markov corpus: the members of a group are interchangeable."""
MAX_TABLE = 20_000_000
"""Largest states x groups table `markov_chain` draws successors from (160 MB of float64)."""


@dataclass(frozen=True, eq=False)
class Corpus:
    """Token ids (int32, 1-D, read-only) of each split and the vocabulary they index."""

    train: NDArray[np.int32]
    valid: NDArray[np.int32] | None
    test: NDArray[np.int32] | None
    words: tuple[str, ...]  # id -> word
    name: str  # the training file as given, or "markov(...)"
    entropy: float | None = None  # nats per token of the source (generated corpora only)
    roles: NDArray[np.int64] | None = None  # group of each word id (generated corpora only)
    _ids: dict[str, int] | None = field(default=None, init=False, repr=False)

    @property
    def vocab_size(self) -> int:
        """Number of distinct words (the width of an embedding or softmax over them)."""
        return len(self.words)

    def ids(self) -> dict[str, int]:
        """word -> id, built once (the dataclass is frozen, hence `object.__setattr__`)."""
        if self._ids is None:
            object.__setattr__(self, "_ids", {w: i for i, w in enumerate(self.words)})
        assert self._ids is not None
        return self._ids


def true_perplexity(corpus: Corpus) -> float:
    """exp(entropy rate): the perplexity of the source itself, which no model can beat."""
    if corpus.entropy is None:
        raise DataError(f"{corpus.name}: the true perplexity is known only for generated "
                        f"corpora such as markov(...)")
    return math.exp(corpus.entropy)


# ---- text files ------------------------------------------------------------------------------


def read_corpus(path: str | os.PathLike[str], *, eos: str = "<eos>") -> Corpus:
    """The corpus in `path`, with `eos` appended to every line ("" appends nothing).

    When the file name contains "train" (`ptb.train.txt`), the siblings named with "valid" and
    "test" in its place become the validation and test splits if they exist; their words must
    be in the training vocabulary, or map to "<unk>" when the vocabulary has it.
    """
    if eos and eos.split() != [eos]:
        raise DataError(f"the end-of-sentence token must be one word, not {printable(eos)!r}")
    p = Path(path)
    vocab: dict[str, int] = {}
    train = _read_ids(p, vocab, eos, None)
    splits: dict[str, NDArray[np.int32] | None] = {"valid": None, "test": None}
    if "train" in p.name:
        for split in splits:
            sibling = p.with_name(p.name.replace("train", split))
            if os.path.lexists(sibling):
                splits[split] = _read_ids(sibling, vocab, eos, p)
    return Corpus(train=train, valid=splits["valid"], test=splits["test"],
                  words=tuple(vocab), name=os.fspath(path))


def _read_ids(p: Path, vocab: dict[str, int], eos: str, train: Path | None) -> NDArray[np.int32]:
    """The ids of `p`'s tokens; new words grow `vocab` unless `train` (the file that built
    it) is given. Read line by line into a C int array: PTB's 930k tokens never become a list."""
    ids = array("i")
    unk = vocab.get(UNK)
    words = offset = 0
    with open_regular(p, "text corpus") as f:
        for number, raw in enumerate(f, 1):
            tokens = decode_line(p, raw, number, offset).split()
            offset += len(raw)
            words += len(tokens)
            if eos:
                tokens.append(eos)
            if train is None:
                ids.extend([vocab.setdefault(w, len(vocab)) for w in tokens])
                continue
            found = [vocab.get(w, unk) for w in tokens]
            if None in found:
                _unknown(p, number, tokens[found.index(None)], train)
            ids.extend(found)  # type: ignore[arg-type]  # no None left
    if words == 0:
        raise DataError(f"{p}: the corpus is empty: it holds no words")
    out = np.frombuffer(ids, dtype=np.intc).astype(np.int32)
    out.flags.writeable = False  # Why: a Corpus is frozen; a stray in-place op would corrupt it
    return out


def decode_line(p: Path, raw: bytes, number: int, offset: int, kind: str = "a text corpus"
                ) -> str:
    """Line `number` of `p` as text, or a `DataError` saying why the file is not `kind` (a
    text corpus, a question/answer file): gzip, a NUL byte, not UTF-8; a BOM dropped."""
    if number == 1 and raw.startswith(b"\x1f\x8b"):
        raise DataError(f"{p}: is gzip-compressed, not {kind}; decompress it first (gunzip)")
    nul = raw.find(0)
    if nul >= 0:
        raise DataError(f"{p}:{number}: holds a NUL byte (byte offset {offset + nul}): a binary "
                        f"file, not {kind}")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{p}:{number}: not UTF-8 text: byte 0x{raw[e.start]:02x} at byte offset "
            f"{offset + e.start}; convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None
    return line.removeprefix("\ufeff") if number == 1 else line


def _unknown(p: Path, number: int, word: str, train: Path) -> None:
    raise DataError(
        f"{p}:{number}: the word '{printable(word)}' is not in the vocabulary of {train}, which "
        f"has no '{UNK}' to stand for unknown words; add '{UNK}' to {train.name} (replace rare "
        f"words with it, as PTB does) or remove the word from {p.name}"
    )


# ---- the Markov source -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MarkovChain:
    """A Markov source over word groups ("roles") of `GROUP` interchangeable words.

    A state is the last `order` groups (s = g1 * G**(order-1) + ... + g_order). From state s
    the next group is `successors[s, r]` with probability `weights[r]`, and the next word is a
    member j of that group with probability `shares[j]`, whatever the history: so words of one
    group have identical transition rows AND identical predecessors, up to their share.
    """

    groups: int
    order: int
    successors: NDArray[np.int64]  # (states, branching) next group for each rank
    weights: NDArray[np.float64]  # (branching,) Zipf probability of each rank
    shares: NDArray[np.float64]  # (words,) probability of a word within its group
    roles: NDArray[np.int64]  # (words,) group of each word
    stationary: NDArray[np.float64]  # (states,) stationary distribution over states
    entropy: float  # nats per token

    def next_states(self) -> NDArray[np.int64]:
        """(states, branching): the state each rank leads to."""
        n = self.successors.shape[0]
        return (np.arange(n)[:, None] * self.groups) % n + self.successors

    def matrix(self) -> NDArray[np.float64]:
        """Dense (states, words) P(next word | state); for order 1, states are the groups of
        the current word, so `matrix()[roles]` is the words x words transition matrix."""
        p = np.zeros((self.successors.shape[0], self.groups))
        np.add.at(p, (np.arange(len(p))[:, None], self.successors), self.weights)
        return p[:, self.roles] * self.shares


def markov_chain(words: int = 300, seed: int = 0, *, order: int = 1, branching: int = 8,
                 zipf: float = 1.0) -> MarkovChain:
    """The seeded source `markov_corpus` samples; it does not depend on the token count."""
    n_groups = _check_args(words, seed, order, branching, zipf)
    rng = np.random.default_rng([seed, 0])  # Why the 0: the splits draw from [seed, 1..3]
    states = n_groups**order
    successors = _successors(rng, n_groups, order, branching, zipf)
    weights = _zipf(branching, zipf)
    roles = np.arange(words) // GROUP
    shares = _zipf(GROUP, zipf)[np.arange(words) % GROUP]
    shares /= np.bincount(roles, weights=shares)[roles]  # the last group may be smaller
    nxt = (np.arange(states)[:, None] * n_groups) % states + successors
    pi = _stationary(nxt, weights)
    # H = sum_s pi_s sum_j -P_sj log P_sj, with P_sj = w_r q_j for j in group successors[s, r]
    h_share = -np.bincount(roles, weights=shares * np.log(shares), minlength=n_groups)
    h_rows = -(weights * np.log(weights)).sum() + (weights * h_share[successors]).sum(axis=1)
    return MarkovChain(groups=n_groups, order=order, successors=successors, weights=weights,
                       shares=shares, roles=roles, stationary=pi, entropy=float(pi @ h_rows))


def markov_corpus(words: int = 300, tokens: int = 1_000_000, seed: int = 0, *, order: int = 1,
                  branching: int = 8, zipf: float = 1.0) -> Corpus:
    """`tokens` training tokens (and tokens // 10 each of valid and test) from `markov_chain`.

    The vocabulary is w0..w{words-1}, with no "<eos>": the source is one unbroken stream. Word
    i plays role i // 4. Each split starts from its own stationary draw (independent
    continuations), from generators derived from `seed` alone.
    """
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise DataError(f"markov: tokens must be a positive integer, not {tokens!r}")
    chain = markov_chain(words, seed, order=order, branching=branching, zipf=zipf)
    name = (f"markov(words={words}, tokens={tokens}, seed={seed}, order={order}, "
            f"branching={branching}, zipf={zipf})")
    splits = [_sample(chain, np.random.default_rng([seed, k]), n)
              for k, n in ((1, tokens), (2, tokens // 10), (3, tokens // 10))]
    return Corpus(train=splits[0], valid=splits[1], test=splits[2],
                  words=tuple(f"w{i}" for i in range(words)), name=name,
                  entropy=chain.entropy, roles=chain.roles)


def _check_args(words: int, seed: int, order: int, branching: int, zipf: float) -> int:
    """The number of groups, after refusing arguments that make no ergodic chain."""
    for label, v in (("words", words), ("order", order), ("branching", branching)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise DataError(f"markov: {label} must be a positive integer, not {v!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"markov: the seed must be a non-negative integer, not {seed!r}")
    if isinstance(zipf, bool) or not isinstance(zipf, (int, float)) or not 0 <= zipf < math.inf:
        raise DataError(f"markov: zipf must be a finite number >= 0, not {zipf!r}")
    n_groups = -(-words // GROUP)
    if branching > n_groups:
        raise DataError(f"markov: branching={branching} exceeds the {n_groups} word groups of "
                        f"{words} words ({GROUP} a group); use more words or a smaller branching")
    if branching == 1 and n_groups > 1:
        raise DataError("markov: branching=1 makes the chain a fixed cycle (periodic, entropy "
                        "0); use branching >= 2")
    if n_groups**order * n_groups > MAX_TABLE:
        raise DataError(f"markov: {n_groups} groups to the order {order} are too many states; "
                        f"use fewer words or a lower order")
    return n_groups


def _zipf(n: int, s: float) -> NDArray[np.float64]:
    w = np.arange(1, n + 1, dtype=np.float64) ** -float(s)
    return w / w.sum()


def _successors(rng: np.random.Generator, n_groups: int, order: int, branching: int,
                zipf: float) -> NDArray[np.int64]:
    """(states, branching) distinct successor groups per state, popular (low) groups more often.

    Ergodic by construction: every state keeps its successor along a de Bruijn cycle through
    all states (irreducible), and the all-zero state leads to itself (aperiodic).
    """
    states = n_groups**order
    cycle = np.asarray(_de_bruijn(n_groups, order), dtype=np.int64)
    window = (np.arange(states)[:, None] + np.arange(order)) % states
    at = (cycle[window] * n_groups ** np.arange(order - 1, -1, -1)).sum(axis=1)
    forced = np.empty(states, dtype=np.int64)
    forced[at] = cycle[(np.arange(states) + order) % states]
    # Weighted draws without replacement for every state at once (Gumbel top-k), in draw order.
    keys = -zipf * np.log(np.arange(1, n_groups + 1)) + rng.gumbel(size=(states, n_groups))
    keys[np.arange(states), forced] = -np.inf
    if n_groups > 1:
        keys[0, 0] = np.inf  # the self-loop of state 0 (forced[0] != 0 when there are 2+ groups)
    drawn = np.argsort(-keys, axis=1, kind="stable")[:, : branching - 1]
    # The cycle's successor takes a random rank, so it is not always the likeliest.
    slot = rng.integers(0, branching, size=states)
    out = np.empty((states, branching), dtype=np.int64)
    out[np.arange(states), slot] = forced
    out[np.arange(branching) != slot[:, None]] = drawn.ravel()
    return out


def _de_bruijn(n: int, k: int) -> list[int]:
    """A de Bruijn sequence: every k-long word over 0..n-1 once, cyclically (Lyndon words,
    Fredricksen-Kessler-Maiorana)."""
    seq: list[int] = []
    w = [-1]
    while w:
        w[-1] += 1
        if k % len(w) == 0:
            seq.extend(w)
        m = len(w)
        while len(w) < k:
            w.append(w[-m])
        while w and w[-1] == n - 1:
            w.pop()
    return seq


def _stationary(nxt: NDArray[np.int64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """pi = pi P by power iteration over the sparse transitions, after checking the chain is
    irreducible and aperiodic (the period is the gcd of level[u] + 1 - level[v] over edges)."""
    states = len(nxt)
    level = np.full(states, -1)
    level[0], frontier, depth = 0, np.array([0]), 0
    while frontier.size:
        depth += 1
        reached = np.unique(nxt[frontier])
        frontier = reached[level[reached] < 0]
        level[frontier] = depth
    period = np.gcd.reduce(np.abs(level[:, None] + 1 - level[nxt]).ravel())
    if (level < 0).any() or period != 1:
        raise AssertionError(f"markov chain not ergodic (period {period})")  # a bug, not a user's
    pi = np.full(states, 1.0 / states)
    for _ in range(100_000):
        new = np.bincount(nxt.ravel(), weights=(pi[:, None] * weights).ravel(), minlength=states)
        done = np.abs(new - pi).sum() < 1e-13
        pi = new / new.sum()
        if done:
            return pi
    raise AssertionError("markov chain: the stationary distribution did not converge")


def _sample(chain: MarkovChain, rng: np.random.Generator, n: int) -> NDArray[np.int32] | None:
    """`n` word ids from a stationary start; None for an empty split."""
    if n == 0:
        return None
    branching = len(chain.weights)
    cum = np.cumsum(chain.stationary)
    start = min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), len(cum) - 1)
    ranks = np.searchsorted(np.cumsum(chain.weights)[:-1], rng.random(n), side="right")
    # Why a Python walk: the rank drawn is independent of the state, so the only sequential
    # part is one list lookup per token (about 0.2 us); numpy calls per token would be 10x.
    table = (chain.next_states() * branching).ravel().tolist()
    walk = accumulate(ranks.tolist(), lambda x, r: table[x + r], initial=start * branching)
    states = np.fromiter(walk, dtype=np.int64, count=n + 1)[1:] // branching
    group = states % chain.groups
    # The member within the group, drawn independently of the history (that is a role).
    member = (rng.random(n)[:, None] >= _member_table(chain)[group]).sum(axis=1)
    out = (group * GROUP + member).astype(np.int32)
    out.flags.writeable = False
    return out


def _member_table(chain: MarkovChain) -> NDArray[np.float64]:
    """(groups, GROUP) cumulative shares within each group, +inf from each group's last member
    on: a uniform u picks member = the count of entries <= u, never one the group lacks."""
    words = len(chain.shares)
    padded = np.zeros(chain.groups * GROUP)
    padded[:words] = chain.shares
    table = np.cumsum(padded.reshape(chain.groups, GROUP), axis=1)
    index = np.arange(chain.groups * GROUP).reshape(chain.groups, GROUP)
    table[(index + 1 >= words) | (index % GROUP == GROUP - 1)] = np.inf
    return table
