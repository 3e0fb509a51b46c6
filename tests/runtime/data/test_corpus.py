"""Text corpora: `read_corpus` against DLFS-2's `ptb.py` reading, its PTB siblings and every
refusal naming the file; `markov_corpus` deterministic, ergodic, with the entropy rate it claims
(checked against the dense formula and against samples) and interchangeable words per role."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pytest

from netc.errors import DataError
from netc.runtime.data.corpus import (
    Corpus,
    markov_chain,
    markov_corpus,
    read_corpus,
    true_perplexity,
)

TRAIN = " the cat sat \n the dog sat down \n a <unk> ran \n"


def _ptb(folder: Path, train: str = TRAIN, valid: str | None = None,
         test: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ptb.train.txt").write_text(train, encoding="utf-8")
    for split, text in (("valid", valid), ("test", test)):
        if text is not None:
            (folder / f"ptb.{split}.txt").write_text(text, encoding="utf-8")
    return folder / "ptb.train.txt"


def _dlfs_ids(text: str) -> tuple[list[int], list[str]]:
    """DLFS-2 `dataset/ptb.py` load_vocab/load_data: newlines become <eos>, first-seen ids."""
    words = text.replace("\n", " <eos> ").strip().split()
    vocab: dict[str, int] = {}
    for w in words:
        vocab.setdefault(w, len(vocab))
    return [vocab[w] for w in words], list(vocab)


# ---- read_corpus ---------------------------------------------------------------------------


def test_read_matches_dlfs_ptb_reading(tmp_path: Path) -> None:
    c = read_corpus(_ptb(tmp_path))
    ids, words = _dlfs_ids(TRAIN)
    assert c.train.tolist() == ids and list(c.words) == words
    assert c.train.dtype == np.int32 and c.train.ndim == 1 and not c.train.flags.writeable
    assert c.words[:4] == ("the", "cat", "sat", "<eos>") and c.vocab_size == len(words)
    assert c.ids()["dog"] == c.words.index("dog") and c.ids() is c.ids()
    assert c.valid is None and c.test is None and c.entropy is None and c.roles is None
    assert c.name == str(tmp_path / "ptb.train.txt")


def test_read_ptb_siblings_map_unknown_words_to_unk(tmp_path: Path) -> None:
    c = read_corpus(_ptb(tmp_path, valid=" the cow sat \n", test=" a dog \n\n"))
    assert c.valid is not None and c.test is not None
    assert [c.words[i] for i in c.valid] == ["the", "<unk>", "sat", "<eos>"]
    # A blank line is an empty sentence: an <eos>, as DLFS-2's newline replacement gives.
    assert [c.words[i] for i in c.test] == ["a", "dog", "<eos>", "<eos>"]
    assert c.vocab_size == len(_dlfs_ids(TRAIN)[1])  # the splits never grow the vocabulary


def test_read_unknown_word_without_unk_names_file_line_word_and_fix(tmp_path: Path) -> None:
    train = _ptb(tmp_path, train="the cat\nthe dog\n", valid="the dog\nthe cow\n")
    with pytest.raises(DataError) as e:
        read_corpus(train)
    msg = str(e.value)
    assert f"{tmp_path / 'ptb.valid.txt'}:2" in msg and "'cow'" in msg
    assert "<unk>" in msg and "ptb.train.txt" in msg


def test_read_siblings_only_for_train_files(tmp_path: Path) -> None:
    (tmp_path / "story.txt").write_text("once upon\n", encoding="utf-8")
    (tmp_path / "story.valid.txt").write_text("zzz\n", encoding="utf-8")
    c = read_corpus(tmp_path / "story.txt")
    assert c.valid is None and c.test is None
    only_test = read_corpus(_ptb(tmp_path / "t", test="the cat\n"))
    assert only_test.valid is None and only_test.test is not None


def test_read_line_endings_bom_last_line_and_eos_choice(tmp_path: Path) -> None:
    p = tmp_path / "crlf.txt"
    p.write_bytes("\ufeffa b\r\nc\u00e9 d\r\ne".encode())
    c = read_corpus(p)
    assert [c.words[i] for i in c.train] == ["a", "b", "<eos>", "c\u00e9", "d", "<eos>", "e",
                                              "<eos>"]
    assert "<eos>" not in read_corpus(p, eos="").words
    assert read_corpus(p, eos="</s>").words[2] == "</s>"
    with pytest.raises(DataError, match="one word"):
        read_corpus(p, eos="end of line")


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (None, "no such file"),
        (b"", "empty"),
        (b"  \n\t\n", "empty"),
        (b"caf\xc3\xa9 ok\nbad \xff here\n", "byte offset 13"),
        (b"text\x00\x01\x02", "binary"),
        (gzip.compress(b"the cat\n"), "gunzip"),
    ],
    ids=["missing", "empty", "blank", "latin1", "nul", "gzip"],
)
def test_read_refusals_name_the_file(tmp_path: Path, content: bytes | None, expect: str) -> None:
    p = tmp_path / "corpus.txt"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(DataError, match=expect) as e:
        read_corpus(p)
    assert str(p) in str(e.value)


def test_read_refuses_directories_train_or_sibling(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="directory") as e:
        read_corpus(tmp_path)
    assert str(tmp_path) in str(e.value)
    train = _ptb(tmp_path / "ptb")
    (tmp_path / "ptb" / "ptb.test.txt").mkdir()
    with pytest.raises(DataError, match="directory") as e:
        read_corpus(train)
    assert "ptb.test.txt" in str(e.value)
    empty_valid = _ptb(tmp_path / "ev", valid="")
    with pytest.raises(DataError, match="ptb.valid.txt: the corpus is empty"):
        read_corpus(empty_valid)


def test_read_ptb_sized_file_is_fast(tmp_path: Path) -> None:
    # PTB train: ~930k tokens, 10k words, 42k lines, 5 MB. Lines cycle through 10k words.
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(10_000)])
    lines = [" " + " ".join(words[rng.integers(0, 10_000, 21)]) + " " for _ in range(2_000)]
    train = _ptb(tmp_path, train="\n".join(lines * 21) + "\n")
    start = time.perf_counter()
    c = read_corpus(train)
    seconds = time.perf_counter() - start
    print(f"\nread_corpus: {len(c.train)} tokens, {train.stat().st_size / 1e6:.1f} MB "
          f"in {seconds:.2f} s")
    assert len(c.train) == 42_000 * 22


# ---- markov_corpus -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default() -> Corpus:
    start = time.perf_counter()
    c = markov_corpus()
    assert c.valid is not None and c.test is not None
    print(f"\nmarkov_corpus(): {len(c.train) + len(c.valid) + len(c.test)} tokens "
          f"in {time.perf_counter() - start:.2f} s")
    return c


def _bigram_counts(x: np.ndarray, v: int) -> np.ndarray:
    x = x.astype(np.int64)
    return np.bincount(x[:-1] * v + x[1:], minlength=v * v).reshape(v, v).astype(np.float64)


def test_markov_same_seed_same_arrays_other_seed_differs() -> None:
    a, b = markov_corpus(40, 5_000, seed=3), markov_corpus(40, 5_000, seed=3)
    for x, y in ((a.train, b.train), (a.valid, b.valid), (a.test, b.test)):
        assert x is not None and y is not None and x.tobytes() == y.tobytes()
    assert a.name == b.name == ("markov(words=40, tokens=5000, seed=3, order=1, branching=8, "
                                "zipf=1.0)")
    assert not np.array_equal(a.train, markov_corpus(40, 5_000, seed=4).train)
    # The source does not depend on how much is drawn from it.
    assert a.entropy == markov_corpus(40, 50_000, seed=3).entropy
    assert a.words == tuple(f"w{i}" for i in range(40)) and a.valid is not None
    assert len(a.valid) == 500


def test_markov_entropy_is_the_dense_formula_and_chain_is_ergodic() -> None:
    chain = markov_chain(300, 0)
    p = chain.matrix()[chain.roles]  # words x words: row i is P(next | word i)
    assert np.allclose(p.sum(axis=1), 1.0) and ((p > 0).sum(axis=1) == 8 * 4).all()
    # An independent stationary distribution: the leading left eigenvector.
    vals, vecs = np.linalg.eig(p.T)
    pi = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
    pi /= pi.sum()
    assert np.allclose(pi, chain.stationary[chain.roles] * chain.shares, atol=1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(pi[:, None] * np.where(p > 0, p * np.log(p), 0.0)).sum()
    assert chain.entropy == pytest.approx(h, rel=1e-12)
    assert 8 < np.exp(chain.entropy) < 30
    reach = p > 0  # primitive (irreducible and aperiodic): some power is all positive
    for _ in range(10):
        reach = (reach.astype(np.float64) @ reach) > 0
    assert reach.all()


def test_markov_roles_share_rows_and_predecessors() -> None:
    chain = markov_chain(30, 5, branching=3)  # 8 groups, the last of only 2 words
    p = chain.matrix()[chain.roles]
    assert chain.roles.tolist() == [i // 4 for i in range(30)]
    for g in range(8):
        members = np.flatnonzero(chain.roles == g)
        assert np.array_equal(p[members], np.broadcast_to(p[members[0]], p[members].shape))
        # Columns proportional: the same words precede every member of a role.
        cols = p[:, members] / chain.shares[members]
        assert np.allclose(cols, cols[:, :1])
    c = markov_corpus(30, 20_000, 5, branching=3)
    assert c.train.max() < 30 and set(np.unique(c.train)) == set(range(30))


def test_markov_sample_bigram_entropy_matches(default: Corpus) -> None:
    counts = _bigram_counts(default.train, default.vocab_size)
    rows = counts.sum(axis=1, keepdims=True)
    logp = np.log(np.where(counts > 0, counts, 1.0) / np.maximum(rows, 1.0))
    empirical = -(counts * logp).sum() / counts.sum()
    assert default.entropy is not None
    assert empirical == pytest.approx(default.entropy, rel=0.01)


def test_markov_count_bigram_model_reaches_true_perplexity(default: Corpus) -> None:
    v = default.vocab_size
    counts = _bigram_counts(default.train, v) + 0.01  # add-0.01: rare pairs unseen in train
    probs = counts / counts.sum(axis=1, keepdims=True)
    assert default.valid is not None
    x = default.valid.astype(np.int64)
    ppl = float(np.exp(-np.log(probs[x[:-1], x[1:]]).mean()))
    print(f"\nbigram counts: valid perplexity {ppl:.3f}, true {true_perplexity(default):.3f}")
    assert ppl == pytest.approx(true_perplexity(default), rel=0.02)


def test_markov_order_two_beats_a_bigram_model() -> None:
    c = markov_corpus(40, 400_000, seed=1, order=2, branching=4)
    x, v = c.train.astype(np.int64), c.vocab_size
    # Conditional entropy given the last two words matches the claimed rate ...
    tri = np.bincount((x[:-2] * v + x[1:-1]) * v + x[2:], minlength=v**3).astype(np.float64)
    ctx = tri.reshape(v * v, v).sum(axis=1).repeat(v)
    nz = tri > 0
    h2 = -(tri[nz] * np.log(tri[nz] / ctx[nz])).sum() / tri.sum()
    assert h2 == pytest.approx(c.entropy, rel=0.02)
    # ... while the last word alone leaves more uncertainty: history matters.
    bi = _bigram_counts(x, v)
    nzb = bi > 0
    h1 = -(bi[nzb] * np.log((bi / bi.sum(axis=1, keepdims=True))[nzb])).sum() / bi.sum()
    assert h1 > h2 + 0.1


def test_markov_zipf_zero_is_uniform_and_frequencies_fall_with_zipf() -> None:
    flat = markov_chain(40, 0, zipf=0.0)
    assert np.allclose(flat.weights, 1 / 8) and np.allclose(flat.shares, 1 / 4)
    c = markov_corpus(300, 200_000, seed=2)
    freq = np.sort(np.bincount(c.train, minlength=300))[::-1]
    assert freq[0] > 20 * freq[150] > 0  # Zipf-like: a steep rank-frequency curve


@pytest.mark.parametrize(
    ("kwargs", "expect"),
    [
        ({"words": 0}, "words must be a positive integer"),
        ({"tokens": 0}, "tokens must be a positive integer"),
        ({"words": 12}, "branching=8 exceeds the 3 word groups"),
        ({"branching": 1}, "branching=1"),
        ({"zipf": -1.0}, "zipf must be"),
        ({"order": 4}, "too many states"),
        ({"order": True}, "order must be"),
        ({"seed": -1}, "seed must be"),
    ],
)
def test_markov_refuses_bad_arguments(kwargs: dict[str, object], expect: str) -> None:
    with pytest.raises(DataError, match=expect):
        markov_corpus(**kwargs)  # type: ignore[arg-type]


def test_markov_tiny_corpus_and_true_perplexity_of_a_file(tmp_path: Path) -> None:
    tiny = markov_corpus(4, 9, branching=1)  # one group: a chain on its own members
    assert tiny.valid is None and tiny.test is None and len(tiny.train) == 9
    p = tmp_path / "a.txt"
    p.write_text("a b\n", encoding="utf-8")
    with pytest.raises(DataError, match="a.txt: the true perplexity is known only"):
        true_perplexity(read_corpus(p))
