"""The runtime's data stage: datasets (spiral, MNIST, user .npz/.csv files) as NumPy arrays.

`load_dataset(name)` returns a `Dataset`: features in the network's dtype with int64 class
indices (or float regression targets from a `.npz`), and a test split when the source has
one. Every problem a user can cause is a `DataError` whose message names the file involved.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...terminal import printable
from ..targets import image_mismatch
from .corpus import Corpus
from .dataset import Dataset
from .files import load_npz
from .mnist import COLS, ROWS, load_mnist
from .pairs import Pairs
from .spiral import load_spiral
from .tables import load_csv

__all__ = ["CHOICES", "NAMES", "SUFFIXES", "Dataset", "load_dataset"]

# Why spelled out again in `netc.compiler.spec`: the compiler may not import the runtime;
# a test keeps the two lists equal.
NAMES = ("spiral", "mnist", "corpus", "markov", "addition", "dates", "pairs")
PAIR_NAMES = ("addition", "dates", "pairs")
SUFFIXES = (".npz", ".csv")
CHOICES = ("'spiral', 'mnist', 'corpus(\"file.txt\")', 'markov(words=300)', 'addition', "
           "'dates', 'pairs(\"file.txt\")', or a path to a .npz, .csv or .txt file")
MNIST_IMAGE = (1, ROWS, COLS)


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    flatten: bool = True,
    progress: bool = True,
    dtype: str = "float64",
    input_shape: tuple[int, ...] = (),
    data_args: dict[str, object] | None = None,
    pairs: bool = False,
) -> Dataset:
    """Load `name`: "spiral", "mnist", or a `.npz`/`.csv` path.

    `data_dir` is where MNIST lives (else `$NETC_DATA_DIR`, else the per-user cache), `seed`
    draws the spiral, `flatten` makes each image sample a vector, `progress` shows a
    download bar on stderr, and `dtype` is the type features are made in (the network's).
    `input_shape` is the spec's input: when it is an image (C, H, W), image data of another
    shape is refused here, naming the file and the array, before anything is trained.
    """
    image = (input_shape[0], input_shape[1], input_shape[2]) if len(input_shape) == 3 else None
    if name in ("corpus", "markov"):
        return load_text(name, data_args or {})
    if name in PAIR_NAMES or (pairs and name.lower().endswith(".txt")):
        args = data_args or {}  # `--data addition.txt` for a seq2seq spec: its pairs
        return load_pairs(name, str(args.get("path") or name), bool(args.get("reverse")))
    if name.lower().endswith(".txt"):  # `netc run --data ptb.train.txt`: a text corpus
        return load_text("corpus", {"path": name})
    if name == "spiral":
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise DataError(f"spiral: the seed must be a non-negative integer, not {seed!r}")
        return load_spiral(seed)
    if name == "mnist":
        # Why first: no download for data the network cannot take.
        if image and (wrong := image_mismatch(MNIST_IMAGE, image, "mnist holds")):
            raise DataError(wrong)
        return load_mnist(data_dir, flatten=flatten, progress=progress, dtype=dtype)
    suffix = Path(name).suffix.lower()
    if suffix == ".npz":
        return load_npz(name, flatten=flatten, dtype=dtype, image=image)
    if suffix == ".csv":
        return load_csv(name, dtype=dtype)
    if name and os.path.exists(name):
        raise DataError(f"{name}: unsupported data file type '{suffix}'; expected {CHOICES}")
    close = difflib.get_close_matches(name, NAMES, n=1, cutoff=0.6)
    guess = f"; did you mean '{close[0]}'?" if close else ""
    raise DataError(f"unknown dataset '{printable(name)}': expected {CHOICES}{guess}")


def load_text(name: str, args: dict[str, object]) -> Dataset:
    """A language model's data: the corpus's token ids as `x` (no targets: they are the next
    tokens), the validation split as `x_test`, the vocabulary's size as `n_classes`."""
    c = corpus(name, args)
    return Dataset(c.name, c.train, None, c.valid, None,  # type: ignore[arg-type]
                   str(args.get("path", c.name)), c.vocab_size)


def load_pairs(name: str, path: str, reverse: bool) -> Dataset:
    """A seq2seq model's data: each row the question's ids then the answer's (start symbol
    first), as the spec's two token inputs take them side by side; no targets (the loss's
    `softmax_ce(tgt[1:])` names them among the inputs); the vocabulary's size as `n_classes`."""
    found = pairs("pairs" if name not in PAIR_NAMES else name, path, reverse)
    rows = np.concatenate([found.questions, found.answers], axis=1).astype(np.int64)
    cut = len(rows) - found.test
    return Dataset(found.name, rows[:cut], None, rows[cut:], None,  # type: ignore[arg-type]
                   found.name if name in ("addition", "dates") else path, len(found.chars))


def corpus(name: str, args: dict[str, object]) -> Corpus:
    """`corpus("file.txt")` read, or `markov(words=..., tokens=...)` drawn (seed 0: the same
    text whatever the training seed), cached for the process."""
    key = (name, tuple(sorted(args.items())))
    if key not in _CORPORA:
        from .corpus import markov_corpus, read_corpus

        _CORPORA.clear()  # Why one: a corpus may be large
        _CORPORA[key] = read_corpus(str(args["path"])) if name == "corpus" else \
            markov_corpus(int(args.get("words", 300)), int(args.get("tokens", 1_000_000)))
    return _CORPORA[key]


_CORPORA: dict[tuple, Corpus] = {}


def pairs(name: str, path: str | None = None, reverse: bool = False) -> Pairs:
    """Question/answer pairs for seq2seq: `addition`, `dates` (generated, seed 0: the same
    problems whatever the training seed) or `pairs("file.txt")` read, cached for the process."""
    key = (name, path, reverse)
    if key not in _PAIRS:
        from .pairs import addition_pairs, date_pairs, read_pairs

        _PAIRS.clear()
        _PAIRS[key] = addition_pairs(reverse) if name == "addition" else \
            date_pairs(reverse) if name == "dates" else read_pairs(str(path), reverse)
    return _PAIRS[key]


_PAIRS: dict[tuple, Pairs] = {}
