"""Language models end to end (DLFS-2 ch. 4-6): token inputs, truncated BPTT over streams
with the state carried between windows, clipping, perplexity against a source whose true
perplexity is known, bit-exact resume, CBOW with negative sampling and word similarity."""

from __future__ import annotations

import signal

import numpy as np
import pytest

import netc
from netc.errors import DataError, SpecError
from netc.runtime.data.corpus import markov_corpus, true_perplexity
from netc.runtime.streams import Streams
from netc.runtime.tokens import contexts_and_targets, fill_sampler

LM = ("input: tokens(40)\ntrain: bptt=5, batch_size=4\noptimizer: sgd(lr=1)\n"
      "embed(8) -> lstm(8) -> affine(40) -> softmax_ce\n")


def test_streams_read_the_corpus_at_fixed_offsets_as_dlfs2() -> None:
    ids = np.arange(101)
    s = Streams(ids, batch_size=4, steps=5, what="t")
    xb, tb = np.empty((4, 5), np.int64), np.empty((4, 5), np.int64)
    s.fill(1, xb, tb)  # the second window: offsets 0, 25, 50, 75, then 5 tokens on
    assert xb.tolist() == [[5, 6, 7, 8, 9], [30, 31, 32, 33, 34], [55, 56, 57, 58, 59],
                           [80, 81, 82, 83, 84]]
    np.testing.assert_array_equal(tb, xb + 1)
    assert s.iters == 100 // 20
    s.fill(5, xb, tb)  # past the end, each stream wraps around the corpus
    assert xb[3].tolist() == [0, 1, 2, 3, 4]  # 75 + 25 wraps to 0


@pytest.mark.parametrize("layer", ["lstm(6)", "gru(6)", "rnn(6)"])
def test_carried_state_makes_two_windows_one_sequence(layer: str) -> None:
    """Two windows in stream mode give exactly what one forward over both gives."""
    short = netc.compile(f"input: tokens(9)\ntrain: bptt=3\nembed(5) -> {layer} -> "
                         "affine(9) -> softmax_ce", seed=1, dtype="float64")
    long = netc.compile(f"input: tokens(9), steps=6\nembed(5) -> {layer} -> affine(9) -> "
                        "softmax_ce", seed=2, dtype="float64")
    for k, v in short.params.items():
        long.params[k][...] = v + np.random.default_rng(0).normal(0, 0.3, v.shape)
        v[...] = long.params[k]
    ids = np.random.default_rng(3).integers(0, 9, (4, 6))
    forward, _, _, predict, _, _, (flag, state) = short.passes(4)
    flag[0] = True
    first = predict(ids[:, :3]).copy()
    second = predict(ids[:, 3:]).copy()
    flag[0] = False
    whole = long.predict(ids)
    np.testing.assert_allclose(np.hstack([first, second]), whole, rtol=1e-12, atol=1e-14)
    assert all(np.abs(a).sum() > 0 for a in state)
    # without the flag every call starts from zeros: predict is a pure function
    np.testing.assert_array_equal(short.predict(ids[:, 3:]), short.predict(ids[:, 3:]))
    assert not np.allclose(short.predict(ids[:, 3:]), second)


def test_language_model_reaches_the_sources_perplexity() -> None:
    """An LSTM LM on a 40-word first-order Markov source gets within 10 % of the source's
    true perplexity, the floor no model can beat."""
    corpus = markov_corpus(words=40, tokens=40_000, seed=0)
    net = netc.compile("input: tokens(40)\ntrain: bptt=10\nembed(24) -> lstm(32) -> "
                       "affine(40) -> softmax_ce", seed=0)
    history = net.fit(corpus.train, epochs=3, batch_size=10, bptt=10, optimizer="sgd",
                      lr=5.0, clip=0.5, validation_data=corpus.valid, verbose=0)
    best = true_perplexity(corpus)
    last = history.last
    assert last["val_ppl"] == pytest.approx(np.exp(last["val_loss"]))
    assert best < last["val_ppl"] < 1.10 * best, (last, best)
    assert history[0]["train_ppl"] > last["train_ppl"]
    # the same figure from the public API, streamed as training streams the held-out text
    assert net.perplexity(corpus.valid, batch_size=10) == pytest.approx(last["val_ppl"],
                                                                         rel=1e-12)


def _fit(net: netc.Network, ids: np.ndarray, **kw: object) -> list[dict]:
    return list(net.fit(ids, bptt=5, batch_size=4, verbose=0, **kw))


def test_stream_training_is_deterministic_and_resumes_bit_for_bit(tmp_path) -> None:
    ids = np.random.default_rng(0).integers(0, 40, 400)
    straight = netc.compile(LM, seed=0)
    want = _fit(straight, ids, epochs=3, clip=0.5)
    again = netc.compile(LM, seed=0)
    assert _strip(_fit(again, ids, epochs=3, clip=0.5)) == _strip(want)
    for k, v in straight.params.items():
        np.testing.assert_array_equal(again.params[k], v)
    # stop inside epoch 2 (Ctrl-C), then resume from the interrupt checkpoint
    ck = tmp_path / "lm.ckpt.npz"
    cut = netc.compile(LM, seed=0)

    def stop(epoch: int, step: int, steps: int, loss: float) -> None:
        if epoch == 2 and step == 7:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        cut.fit(ids, epochs=3, bptt=5, batch_size=4, clip=0.5, verbose=0, on_step=stop,
                checkpoint=ck)
    resumed = netc.compile(LM, seed=0)
    got = _fit(resumed, ids, epochs=3, clip=0.5, resume=ck)
    for k, v in straight.params.items():
        np.testing.assert_array_equal(resumed.params[k], v)
    assert _strip(got) == _strip(want)


def _strip(history: list[dict]) -> list[dict]:
    """The records without their timings."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def test_clip_bounds_each_step() -> None:
    ids = np.random.default_rng(1).integers(0, 40, 21)  # exactly one window of 4 x 5
    net = netc.compile(LM, seed=0, dtype="float64")
    before = net.flat_params.copy()
    net.fit(ids, epochs=1, bptt=5, batch_size=4, optimizer="sgd", lr=1.0, clip=0.01, verbose=0)
    step = np.linalg.norm(net.flat_params - before)
    assert step == pytest.approx(0.01, rel=1e-4)


def test_language_model_inputs_are_checked() -> None:
    net = netc.compile(LM)
    with pytest.raises(DataError, match="token id 40 at position 0 is outside the vocabulary "
                                        "of 40"):
        net.fit(np.full(100, 40), bptt=5, batch_size=4, verbose=0)
    with pytest.raises(DataError, match=r"one sequence of token ids \(1-D\)"):
        net.fit(np.zeros((10, 10), int), bptt=5, batch_size=4, verbose=0)
    with pytest.raises(DataError, match=r"token id -1 in row 1 \(step 2\)"):
        net.predict(np.array([[0, 0, 0, 0, 0], [0, 0, -1, 0, 0]]))
    with pytest.raises(DataError, match="too few for 4 streams of 5 steps"):
        net.fit(np.zeros(10, int), bptt=5, batch_size=4, verbose=0)
    with pytest.raises(DataError, match="no targets"):
        net.fit(np.zeros(100, int), np.zeros(100, int), bptt=5, batch_size=4, verbose=0)
    plain = netc.compile("input: tokens(40), steps=5\nembed(8) -> lstm(8) -> affine(40) -> "
                         "softmax_ce")
    with pytest.raises(DataError, match=r"one sequence of 100 token ids(.|\n)*bptt=35"):
        plain.fit(np.zeros(100, int), np.zeros(100, int))
    with pytest.raises(DataError, match="whole token ids"):
        net.predict(np.full((2, 5), 0.5))


@pytest.mark.parametrize(("text", "code"), [
    ("input: tokens(9)\nembed(4) -> lstm(4) -> affine(9) -> softmax_ce", "missing_steps"),
    ("input: tokens\ntrain: bptt=3\nembed(4) -> affine(9) -> softmax_ce", "unknown_vocabulary"),
    ("input: 5\ntrain: bptt=5\nembed(4) -> affine(9) -> softmax_ce", "shape_mismatch"),
    ("input: tokens(9), steps=3\nembed(4) -> last -> lstm(3) -> affine(2) -> mse",
     "shape_mismatch"),
])
def test_sequence_spec_errors_are_located(text: str, code: str) -> None:
    with pytest.raises(SpecError) as info:
        netc.plan(text)
    d = info.value.diagnostics[0]
    assert d.code == code and d.span is not None and d.hint


def test_contexts_and_targets_as_dlfs2() -> None:
    # DLFS-2 ch. 3: "you say goodbye and i say hello ." with a window of one word each side
    x, t = contexts_and_targets(np.array([0, 1, 2, 3, 4, 1, 5, 6]), 2, "t")
    assert x.tolist() == [[0, 2], [1, 3], [2, 4], [3, 1], [4, 5], [1, 6]]
    assert t.tolist() == [1, 2, 3, 4, 1, 5]


def test_negative_sampler_draws_by_count_to_the_power() -> None:
    net = netc.compile("input: tokens(4), steps=2\nembed(3) -> mean -> ns_loss(k=50)", seed=0)
    t = np.repeat([0, 1, 2, 3], [1, 16, 81, 0])
    fill_sampler(net, t)
    table = net.buffers["2.ns_loss.table"]
    p = np.diff(np.concatenate([[0], table]))
    np.testing.assert_allclose(p, np.array([1, 8, 27, 0]) / 36, rtol=1e-6)  # counts ** 0.75
    from netc.runtime.sampling_kernels import ns_loss_forward

    n, k = 400, 50
    idx, scores = np.empty((n, k + 1), np.int64), np.empty((n, k + 1))
    ns_loss_forward(np.ones((n, 3)), np.zeros(n, int), np.ones((4, 3)), table, idx,
                    np.empty((n, k + 1, 3)), scores, np.empty((n, 3)), np.random.default_rng(0))
    drawn = idx[:, 1:]
    assert (idx[:, 0] == 0).all()
    freq = np.bincount(drawn.ravel(), minlength=4) / drawn.size
    np.testing.assert_allclose(freq, [1 / 36, 8 / 36, 27 / 36, 0], atol=0.01)


def test_cbow_puts_words_of_one_role_nearest() -> None:
    """Words that play the same role in the generating source (the same successors and
    predecessors) end up nearest neighbours by cosine similarity."""
    corpus = markov_corpus(words=40, tokens=30_000, seed=0)
    x, t = contexts_and_targets(corpus.train, 2, "markov")
    net = netc.compile("input: tokens(40), steps=2\noptimizer: adam(lr=0.01)\n"
                       "embed(16) -> mean -> ns_loss(k=5)", seed=0)
    net.fit(x, t, epochs=2, batch_size=100, verbose=0)
    words = corpus.words
    same = [int(net.most_similar(w, top=1, words=words)[0][0][1:]) // 4 == i // 4
            for i, w in enumerate(words)]
    assert np.mean(same) >= 0.9
    top = net.most_similar("w1 - w0 + w4", top=3, words=words)
    assert {w for w, _ in top} & {"w5", "w6", "w7"}
    with pytest.raises(DataError, match="did you mean 'w12'"):
        net.most_similar("w12x", words=words)


def test_public_data_api_gives_what_netc_run_trains_on(tmp_path) -> None:
    from netc.runtime.data import load_dataset

    run = load_dataset("markov", data_args={"words": 32, "tokens": 5000})
    mine = netc.datasets.load_markov(words=32, tokens=5000)
    np.testing.assert_array_equal(mine.train, run.x_train)
    np.testing.assert_array_equal(mine.valid, run.x_test)
    assert run.n_classes == mine.vocab_size == 32 and run.t_train is None
    text = tmp_path / "a.train.txt"
    text.write_text("you say goodbye and i say hello .\n")
    corpus = netc.datasets.load_text(text)
    assert corpus.words == ("you", "say", "goodbye", "and", "i", "hello", ".", "<eos>")
    x, t = netc.datasets.contexts_target(corpus.train, window=1)
    assert x[:2].tolist() == [[0, 2], [1, 3]] and t[:2].tolist() == [1, 2]


def test_token_input_with_image_or_point_data_is_located() -> None:
    with pytest.raises(SpecError) as info:
        netc.plan("data: mnist\ninput: tokens(5)\ntrain: bptt=5\nembed(4) -> lstm(4) -> "
                  "affine(5) -> softmax_ce")
    d = info.value.diagnostics[0]
    assert d.code == "data_mismatch" and (d.span.line, d.span.column) == (2, 1)
    assert "a token input reads text, but the data is 'mnist'" in d.message
