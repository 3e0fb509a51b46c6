"""The public data API: the data sets `netc run` trains on, as NumPy arrays for Python users.

Each loader returns `(x_train, t_train), (x_test, t_test)`, the pairs of DLFS-1's
`load_mnist`; a source without a test split gives `(None, None)` for it. The arrays are the
ones `netc run` trains on (same files, same `$NETC_DATA_DIR`, same spiral for the same seed,
features in float32, the networks' default dtype). numpy is imported inside the functions,
so `import netc` stays light.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime.data.dataset import Dataset

__all__ = ["contexts_target", "load_addition", "load_csv", "load_dates", "load_markov",
           "load_mnist", "load_npz", "load_pairs", "load_spiral", "load_text"]

Pairs = tuple[tuple[Any, Any], tuple[Any, Any]]


def load_mnist(normalize: bool = True, flatten: bool = True, one_hot: bool = False,
               data_dir: str | os.PathLike[str] | None = None, *,
               one_hot_label: bool | None = None, progress: bool = True) -> Pairs:
    """MNIST as DLFS-1's `load_mnist`: 60,000 training and 10,000 test images.

    `normalize`: float32 pixels in [0, 1], exactly those `netc run` trains on (else the
    files' uint8 values 0-255). `flatten`: images as (N, 784) rows (else (N, 1, 28, 28)).
    `one_hot`: labels as float32 (N, 10) rows (else int64 digits (N,)); `one_hot_label` is
    the book's name for it. The files are read from `data_dir`, else `$NETC_DATA_DIR`,
    else the per-user cache, and downloaded there when missing (a bar on stderr unless
    `progress=False`).
    """
    import numpy as np

    from .runtime.data.mnist import COLS, ROWS, folder_of, load_raw, pixels

    if one_hot_label is not None:
        one_hot = one_hot_label
    xs, ts, xt, tt = load_raw(folder_of(data_dir), progress=progress)
    shape = (-1, ROWS * COLS) if flatten else (-1, 1, ROWS, COLS)

    def images(raw: Any) -> Any:
        return (pixels(raw, "float32") if normalize else raw.copy()).reshape(shape)

    def labels(raw: Any) -> Any:
        return np.eye(10, dtype=np.float32)[raw] if one_hot else raw.astype(np.int64)

    return (images(xs), labels(ts)), (images(xt), labels(tt))


def load_spiral(seed: int = 0, *, dtype: str = "float32") -> Pairs:
    """The three-class spiral of DLFS-2 (300 points, 2 features, int64 labels 0-2), the data
    of `data: spiral` for the run's `train: seed=` (default 0); no test split."""
    from .runtime.data import load_dataset

    return _pairs(load_dataset("spiral", seed=seed), dtype)


def load_npz(path: str | os.PathLike[str], *, flatten: bool = True,
             dtype: str = "float32") -> Pairs:
    """Arrays `x_train`, `t_train` (and `x_test`, `t_test` if present) of a NumPy archive,
    checked and cast as `data: "file.npz"` reads them: features as `dtype`, class labels
    as int64 (float targets stay rows of floats). `flatten`: images (N, C, H, W), or
    (N, H, W) for one channel, as (N, C*H*W) rows in (c, h, w) order (else as stored)."""
    from .runtime.data import load_dataset

    return _pairs(load_dataset(_path(path, ".npz"), flatten=flatten, dtype=dtype), dtype)


def load_csv(path: str | os.PathLike[str], *, dtype: str = "float32") -> Pairs:
    """Rows of numbers, features then an integer class label last, as `data: "file.csv"`
    reads them (a header row and `#` lines skipped); no test split."""
    from .runtime.data import load_dataset

    return _pairs(load_dataset(_path(path, ".csv"), dtype=dtype), dtype)


def _path(path: str | os.PathLike[str], suffix: str) -> str:
    """`path` as text; `load_dataset` picks the reader by suffix, so a mismatch is named here."""
    from .errors import DataError

    name = os.fsdecode(os.fspath(path))
    if not name.lower().endswith(suffix):
        from .terminal import printable

        raise DataError(f"{printable(name)}: load_{suffix[1:]} reads {suffix} files")
    return name


def _pairs(data: Dataset, dtype: str) -> Pairs:
    x = data.x_train.astype(dtype, copy=False)
    test = (None, None)
    if data.x_test is not None:
        test = (data.x_test.astype(dtype, copy=False), data.t_test)
    return (x, data.t_train), test


def load_text(path: str | os.PathLike[str]) -> Any:
    """A text corpus as `data: corpus(path)` reads it (DLFS-2's `ptb.py`: one sentence a
    line, `<eos>` after each, ids in order of first appearance; PTB's `valid`/`test`
    siblings as its other splits): a `Corpus` with `train`, `valid`, `test` (int32 ids or
    None) and `words` (id -> word). `net.fit(corpus.train, validation_data=corpus.valid)`
    trains a `bptt` language model on it."""
    from .runtime.data.corpus import read_corpus

    return read_corpus(path)


def load_markov(words: int = 300, tokens: int = 1_000_000, seed: int = 0) -> Any:
    """The generated corpus of `data: markov(words=..., tokens=...)` (seed 0 there): a
    first-order Markov source whose entropy rate is known (`corpus.entropy`, nats a token;
    `netc.runtime.data.corpus.true_perplexity(corpus)` the best perplexity any model can
    reach), words in groups of four that play the same role (`corpus.roles`)."""
    from .runtime.data.corpus import markov_corpus

    return markov_corpus(words, tokens, seed)


def contexts_target(ids: Any, window: int = 1) -> tuple[Any, Any]:
    """DLFS-2's `create_contexts_target`: (contexts (n, 2 * window) ids, centre words (n,)),
    CBOW's training pairs, as `netc run` makes them for `input: tokens, steps=2 * window`."""
    import numpy as np

    from .runtime.tokens import contexts_and_targets

    return contexts_and_targets(np.asarray(ids), 2 * window, "contexts_target")


def load_addition(reverse: bool = False) -> Any:
    """The problems of `data: addition` (DLFS-2 ch. 7): 50,000 `a+b` with 0 <= a, b < 1000
    drawn with seed 0, in the book's format. A `Pairs` record: `questions` (N, 7) and
    `answers` (N, 5, the start symbol "_" first) int32 ids, `chars` (id -> character), the
    last `test` rows held out; `split()` gives DLFS-2's `(x_train, t_train, x_test,
    t_test)`, `encode(q)`/`decode(ids)` translate, and `np.concatenate([questions, answers],
    axis=1)` are the rows a spec with `input: src: tokens, tgt: tokens` trains on
    (`net.fit(rows)`: the targets are its answer columns)."""
    from .runtime.data.pairs import addition_pairs

    return addition_pairs(reverse)


def load_dates(reverse: bool = False) -> Any:
    """The dates of `data: dates` (DLFS-2 ch. 8): 50,000 days of 1970-2029 written in 13
    human formats, answered `YYYY-MM-DD`; a `Pairs` record as `load_addition`'s."""
    from .runtime.data.pairs import date_pairs

    return date_pairs(reverse)


def load_pairs(path: str | os.PathLike[str], reverse: bool = False, seed: int = 0) -> Any:
    """A file of `question_answer` lines in DLFS-2's format (`addition.txt`, `date.txt`), as
    `data: pairs(path)` reads it: shuffled with `seed`, a tenth held out; a `Pairs` record
    as `load_addition`'s."""
    from .runtime.data.pairs import read_pairs

    return read_pairs(path, reverse, seed)

