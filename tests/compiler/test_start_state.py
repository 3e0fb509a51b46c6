"""`lstm(h, init=enc.last)`: a recurrent layer that starts from another pipeline's state
(DLFS-2 ch. 7's seq2seq decoder), its gradient flowing back into the encoder."""

from __future__ import annotations

import numpy as np
import pytest

import netc
from netc.errors import SpecError
from netc.runtime.gradcheck import random_batch

SEQ2SEQ = ("input: tokens(11), steps=4\nembed(5) -> {enc}(6) => enc\n"
           "embed(5) -> {dec}(6, init=enc.last) -> affine(11) -> softmax_ce\n")


@pytest.mark.parametrize(("enc", "dec"), [("lstm", "lstm"), ("rnn", "rnn"), ("gru", "lstm"),
                                          ("lstm", "rnn"), ("lstm", "gru"), ("gru", "gru")])
def test_start_state_gradients_reach_the_encoder(enc: str, dec: str) -> None:
    net = netc.compile(SEQ2SEQ.format(enc=enc, dec=dec), seed=0, dtype="float64")
    assert [lp.op for lp in net.plan.layers] == ["embed", enc, "embed", "last", dec, "affine",
                                                 "softmax_ce"]
    assert net.plan.layers[4].inputs == (2, 3)
    x, t = random_batch(net, 5, seed=1)
    bad = [(r.name, r.error) for r in netc.gradcheck(net, x, t) if not r.ok(1e-6)]
    assert not bad
    assert np.abs(net.gradients(x, t)[f"1.{enc}.Wx"]).sum() > 0  # the encoder learns


def test_start_state_is_the_state_the_decoder_begins_from() -> None:
    """With the encoder's weights zero its last state is zero (LSTM: c = 0, so h = 0), and
    the decoder computes what one without init= computes; with them set, it differs."""
    net = netc.compile(SEQ2SEQ.format(enc="lstm", dec="lstm"), seed=0, dtype="float64")
    plain = netc.compile("input: tokens(11), steps=4\nembed(5) -> lstm(6) -> affine(11) -> "
                         "softmax_ce", seed=0, dtype="float64")
    for k in ("1.lstm.Wx", "1.lstm.Wh", "1.lstm.b"):
        net.params[k][...] = 0
    for mine, theirs in (("2.embed.W", "0.embed.W"), ("4.lstm.Wx", "1.lstm.Wx"),
                         ("4.lstm.Wh", "1.lstm.Wh"), ("4.lstm.b", "1.lstm.b"),
                         ("5.affine.W", "2.affine.W"), ("5.affine.b", "2.affine.b")):
        net.params[mine][...] = plain.params[theirs]
    x = np.random.default_rng(0).integers(0, 11, (3, 4))
    np.testing.assert_allclose(net.predict(x), plain.predict(x), rtol=1e-13)
    net.params["1.lstm.b"][...] = 1.0  # now the encoder's state is not zero
    assert not np.allclose(net.predict(x), plain.predict(x))


@pytest.mark.parametrize(("text", "code", "message"), [
    ("input: tokens(9), steps=3\nembed(4) -> lstm(5) => e\nembed(4) -> lstm(6, init=e.last) "
     "-> affine(9) -> softmax_ce", "shape_mismatch",
     "lstm(6) starts from a state of shape (batch, 6), but init= gives (batch, 5)"),
    ("input: tokens(9), steps=3\nembed(4) -> lstm(6, init=3) -> affine(9) -> softmax_ce",
     "bad_init", "lstm's init= takes the named value it starts from"),
])
def test_start_state_errors_are_located(text: str, code: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        netc.plan(text)
    d = info.value.diagnostics[0]
    assert (d.code, d.message) == (code, message) and d.span is not None and d.hint

