"""Seq2seq (DLFS-2 ch. 7-8): two token inputs, teacher forcing, peeky concat, attention,
greedy generation and exact-match accuracy, through the compiler and the runtime."""

from __future__ import annotations

import numpy as np
import pytest

import netc
from netc.errors import SpecError
from netc.runtime.generation import exact_match, greedy, targets_of
from netc.runtime.gradcheck import random_batch

TOL = 1e-6
HEAD = "input: src: tokens(7, steps=4), tgt: tokens(7, steps=4)\n"
PLAIN = HEAD + ("src -> embed(3) -> lstm(4) => h\n"
                "tgt[:-1] -> embed(3) -> lstm(4, init=h.last) -> affine -> softmax_ce(tgt[1:])\n"
                "generate: greedy(tgt)\n")
PEEKY = HEAD + ("src -> embed(3) -> lstm(4) => h\n"
                "concat(tgt[:-1] -> embed(3), h.last) -> lstm(4, init=h.last) => d\n"
                "concat(d, h.last) -> affine -> softmax_ce(tgt[1:])\n"
                "generate: greedy(tgt, steps=3)\n")
ATTENTION = HEAD + ("src -> embed(3) -> lstm(4) => hs\n"
                    "tgt[:-1] -> embed(3) -> lstm(4, init=hs.last) => hd\n"
                    "concat(attention(hd, hs), hd) -> affine -> softmax_ce(tgt[1:])\n"
                    "generate: greedy(tgt)\n")
SPECS = {"plain": PLAIN, "peeky": PEEKY, "attention": ATTENTION,
         "gru": PLAIN.replace("lstm", "gru"), "rnn": PEEKY.replace("lstm", "rnn"),
         "attention_gru": ATTENTION.replace("lstm", "gru")}


def _gradcheck(spec: str, seed: int = 0) -> None:
    net = netc.compile(spec, seed=seed, dtype="float64")
    x, t = random_batch(net, 5, seed)
    results = netc.gradcheck(net, x, t)
    assert [r.name for r in results] == list(net.params)
    bad = [(r.name, r.error) for r in results if not r.ok(TOL)]
    assert not bad, bad


@pytest.mark.parametrize("name", list(SPECS))
def test_seq2seq_gradients_match_numerical_ones(name):
    """Encoder, decoder from the encoder's state, peeky concat and attention: every weight's
    gradient, through both inputs' pipelines."""
    _gradcheck(SPECS[name])


def test_seq2seq_gradient_of_a_sliced_sequence_and_an_attention_over_itself():
    _gradcheck("input: tokens(6), steps=5\nembed(3) -> lstm(4) => h\n"
               "h[1:] -> tanh => a\nh[:-1] => b\nattention(a, b) -> affine(3) -> softmax_ce")


def test_seq2seq_targets_are_the_inputs_columns():
    net = netc.compile(PLAIN)
    x = np.arange(8 * 2).reshape(2, 8) % 7
    np.testing.assert_array_equal(targets_of(net.plan, x), x[:, 5:8])
    assert net.plan.target == (1, 1, 4) and net.plan.run.generate == (1, 3, 0)


@pytest.mark.parametrize("name", ["plain", "peeky", "attention"])
def test_seq2seq_greedy_equals_the_argmax_of_a_pass_fed_its_own_outputs(name):
    net = netc.compile(SPECS[name], seed=3)
    x, _ = random_batch(net, 40, 1)
    x[:, 4] = 0  # the start symbol
    out = greedy(net, x)
    steps = net.plan.run.generate[1]
    fed = x.copy()
    fed[:, 5:5 + steps] = out
    scores = net.predict(fed).reshape(len(x), 3, 7)
    np.testing.assert_array_equal(scores[:, :steps].argmax(axis=2), out)
    # ... and no answer token given with the question changes it (nothing reads ahead)
    other = x.copy()
    other[:, 5:] = (other[:, 5:] + 3) % 7
    np.testing.assert_array_equal(greedy(net, other), out)


def test_seq2seq_greedy_matches_a_step_by_step_decoder():
    """An independent decoder: the encoder once, then one LSTM step at a time from the
    encoder's state, each step's argmax fed back (DLFS-2's Seq2seq.generate)."""
    net = netc.compile(PLAIN, seed=5, dtype="float64")
    x, _ = random_batch(net, 30, 2)
    x[:, 4] = 1
    p = net.params

    def step(xt, h, c, k):
        a = xt @ p[f"{k}.lstm.Wx"] + h @ p[f"{k}.lstm.Wh"] + p[f"{k}.lstm.b"]
        H = h.shape[1]
        f, g, i, o = (a[:, j * H:(j + 1) * H] for j in range(4))
        sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        c = sig(f) * c + np.tanh(g) * sig(i)
        return sig(o) * np.tanh(c), c

    h = c = np.zeros((len(x), 4))
    for t in range(4):
        h, c = step(p["0.embed.W"][x[:, t]], h, c, 1)
    tok, c, out = x[:, 4], np.zeros_like(h), []
    assert [lp.op for lp in net.plan.layers] == ["embed", "lstm", "steps", "embed", "last",
                                                 "lstm", "affine", "softmax_ce"]
    for _ in range(3):
        h, c = step(p["3.embed.W"][tok], h, c, 5)
        scores = h @ p["6.affine.W"] + p["6.affine.b"]
        tok = scores.argmax(axis=1)
        out.append(tok)
    np.testing.assert_array_equal(greedy(net, x), np.stack(out, axis=1))


@pytest.mark.parametrize("name", list(SPECS))
def test_seq2seq_step_decoder_equals_the_teacher_forced_passes(name):
    """The encoder once and one decoder step at a time (compiler/stepper.py) against the
    teacher-forced graph run once per token with the answer so far: the same tokens."""
    from netc.compiler.stepper import stepwise
    from netc.runtime.generation import _passes, _stepped

    net = netc.compile(SPECS[name], seed=7, dtype="float64")
    assert stepwise(net.plan)
    x, _ = random_batch(net, 50, 4)
    x[:, 4] = 3
    a = np.empty((50, net.plan.run.generate[1]), np.int64)
    b = np.empty_like(a)
    _stepped(net, x.copy(), a, 4)
    _passes(net, x.copy(), b, 4)
    np.testing.assert_array_equal(a, b)


def test_seq2seq_a_decoder_that_reads_ahead_is_decoded_by_whole_passes():
    from netc.compiler.stepper import stepwise

    spec = HEAD + ("src -> embed(3) -> lstm(4) => h\n"
                   "tgt[:-1] -> embed(3) -> mean => m\n"  # the whole answer: not stepwise
                   "concat(tgt[:-1] -> embed(3), m) -> lstm(4, init=h.last) -> affine -> "
                   "softmax_ce(tgt[1:])\ngenerate: greedy(tgt)\n")
    net = netc.compile(spec)
    assert not stepwise(net.plan)
    x, _ = random_batch(net, 6, 0)
    assert greedy(net, x).shape == (6, 3)


def test_seq2seq_exact_match_counts_whole_answers():
    t = np.array([[1, 2, 3], [1, 2, 3], [4, 5, 6]])
    assert exact_match(np.array([[1, 2, 3], [1, 2, 0], [4, 5, 6]]), t) == pytest.approx(2 / 3)
    assert exact_match(np.array([[1, 2], [1, 2], [4, 0]]), t) == pytest.approx(2 / 3)


def test_seq2seq_fit_reports_exact_match_and_is_deterministic():
    x = np.random.default_rng(0).integers(0, 7, (64, 8))
    x[:, 4] = 0
    runs = []
    for _ in range(2):
        net = netc.compile(PEEKY, seed=1)
        hist = net.fit(x[:48], None, validation_data=(x[48:], None), epochs=2, batch_size=16,
                       optimizer="adam", verbose=0)
        runs.append((net.flat_params.copy(), hist.last))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    rec = runs[0][1]
    assert "train_acc" not in rec and 0 <= rec["val_acc"] <= 1
    generated = greedy(net, x[48:])
    assert rec["val_acc"] == exact_match(generated, x[48:, 5:8])


def test_seq2seq_checkpoint_and_resume_are_bit_exact(tmp_path):
    x = np.random.default_rng(0).integers(0, 7, (40, 8))
    x[:, 4] = 0
    whole = netc.compile(ATTENTION, seed=2)
    whole.fit(x, None, epochs=3, batch_size=8, optimizer="adam", clip=1.0, verbose=0)
    ckpt = tmp_path / "c.npz"
    part = netc.compile(ATTENTION, seed=2)
    part.fit(x, None, epochs=2, batch_size=8, optimizer="adam", clip=1.0, verbose=0,
             checkpoint=str(ckpt))
    again = netc.compile(ATTENTION, seed=2)
    again.fit(x, None, epochs=3, batch_size=8, optimizer="adam", clip=1.0, verbose=0,
              resume=str(ckpt))
    np.testing.assert_array_equal(again.flat_params, whole.flat_params)


BAD = {
    "unknown target input": ("softmax_ce(tgt[1:])", "softmax_ce(tgx[1:])",
                             "unknown input 'tgx'"),
    "target not an input": ("softmax_ce(tgt[1:])", "softmax_ce(h[1:])",
                            "'h' is a value computed by the network"),
    "target length": ("softmax_ce(tgt[1:])", "softmax_ce(tgt[2:])",
                      "softmax_ce scores 3 steps, but its targets tgt[2:] hold 2"),
    "generate too long": ("greedy(tgt)", "greedy(tgt, steps=4)", "asks for 4 steps"),
    "generate other input": ("greedy(tgt)", "greedy(src)", "generate: reads 'src'"),
    "decoder not one behind": ("tgt[:-1] -> embed", "tgt[1:] -> embed",
                               "softmax_ce scores 3 steps, but its targets tgt[1:] hold 3"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_seq2seq_spec_errors_are_located(case):
    old, new, message = BAD[case]
    spec = PLAIN.replace(old, new)
    if case == "target not an input":
        spec = spec.replace("=> h\n", "=> h\nh -> tanh => q\n").replace("h[1:]", "q[1:]") \
            .replace("'h'", "'q'")
        message = "'q' is a value computed by the network"
    if case == "decoder not one behind":
        spec = spec.replace("softmax_ce(tgt[1:])", "softmax_ce(tgt[:-1])")
        message = "the decoder must read tgt one step behind its targets"
    with pytest.raises(SpecError) as e:
        netc.compile(spec)
    text = str(e.value)
    assert message in text and "<string>:" in text


def test_seq2seq_attention_takes_two_sequences_of_one_width():
    spec = ATTENTION.replace("lstm(4, init=hs.last)", "lstm(5)")
    with pytest.raises(SpecError, match="both must be sequences of one width"):
        netc.compile(spec)
    with pytest.raises(SpecError, match="attention takes two branches"):
        netc.compile(ATTENTION.replace("attention(hd, hs)", "attention(hd, hs, hd)"))


def test_seq2seq_peeky_concat_needs_one_length():
    for merge in ("concat(d, h)", "concat(d, h, h.last)"):
        with pytest.raises(SpecError, match="concat joins sequences step by step, so their "
                           r"steps must agree, but receives \(batch, 3, 4\)"):
            netc.compile(PEEKY.replace("concat(d, h.last)", merge))


def test_seq2seq_token_inputs_need_their_lengths():
    with pytest.raises(SpecError, match="take their lengths and vocabulary"):
        netc.compile(PLAIN.replace(HEAD, "input: src: tokens, tgt: tokens\n"))


def test_seq2seq_peeky_concat_is_folded_into_the_decoder_lstm():
    """`concat(x, h.last) -> lstm`: the vector's rows of Wx multiply it once per row (a bias
    per row), not once per step; the concat emits no calls. The gradient checks above and
    the ONNX comparison (which runs the unfolded graph) prove the folded passes right."""
    from netc.compiler.dataflow import flow

    net = netc.compile(PEEKY)
    ops = [lp.op for lp in net.plan.layers]
    concat, lstm = ops.index("concat"), len(ops) - 1 - ops[::-1].index("lstm")
    assert flow(net.plan).folds == {lstm: (concat, 4)}
    assert "peek_forward(" in net.source and "peek_backward(" in net.source
    assert "concat_forward" in net.source  # the second concat, before an affine, is not folded
    plain = netc.compile(PLAIN)
    assert flow(plain.plan).folds == {} and "peek_forward(" not in plain.source


def test_seq2seq_datasets_are_the_runs_data(tmp_path):
    """`netc.datasets.load_addition/load_dates/load_pairs` give the problems `netc run`
    trains on, and their rows train a spec from Python with no targets given."""
    import netc.datasets as datasets
    from netc.runtime.data import load_pairs

    found = datasets.load_addition(reverse=True)
    rows = load_pairs("addition", "addition", True)
    both = np.concatenate([found.questions, found.answers], axis=1)
    np.testing.assert_array_equal(both[:-found.test], rows.x_train)
    np.testing.assert_array_equal(both[-found.test:], rows.x_test)
    assert datasets.load_dates().questions.shape[1] == 29
    path = tmp_path / "a.txt"
    path.write_text("1+1  _2  \n12+3 _15 \n2+2  _4  \n")
    assert datasets.load_pairs(path).questions.shape == (3, 5)
    net = netc.compile("data: addition\ninput: src: tokens, tgt: tokens\n"
                       "src -> embed(3) -> lstm(4) => h\n"
                       "tgt[:-1] -> embed(3) -> lstm(4, init=h.last) -> affine -> "
                       "softmax_ce(tgt[1:])\ngenerate: greedy(tgt)\n")
    history = net.fit(both[:256], epochs=1, batch_size=64, verbose=0)
    assert np.isfinite(history.last["train_loss"])


def test_seq2seq_refuses_bptt_at_its_setting():
    with pytest.raises(SpecError) as e:
        netc.compile(PLAIN + "train: bptt=3\n")
    d = e.value.diagnostics[0]
    assert d.code == "bad_bptt" and (d.span.line, d.span.column) == (5, 13)

