"""ONNX export of seq2seq networks (DLFS-2 ch. 7-8), checked by onnxruntime: the teacher-forced
graph reproduces `predict` (peeky concat as Unsqueeze + Expand, attention as MatMul/Softmax,
two int64 inputs), and the encoder with one decoder step, run step by step with the argmax fed
back, reproduces the network's greedy answers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import netc
from netc.runtime.generation import greedy
from netc.runtime.gradcheck import random_batch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_seq2seq import SPECS  # noqa: E402

CASES = ["plain", "peeky", "attention", "gru", "rnn", "attention_gru"]


def _trained(name: str) -> netc.Network:
    """Random non-zero weights, biases included, so no gate or bias can hide."""
    net = netc.compile(SPECS[name], seed=4)
    rng = np.random.default_rng(1)
    for v in net.params.values():
        v[...] = rng.normal(0, 0.6, v.shape)
    return net


@pytest.mark.parametrize("name", CASES)
def test_onnx_seq2seq_teacher_forced_graph_matches_predict(name, ort, tmp_path):
    net = _trained(name)
    x, _ = random_batch(net, 9, 3)
    path = tmp_path / "m.onnx"
    net.export_onnx(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["output"], {"src": x[:, :4], "tgt": x[:, 4:]})[0]
    np.testing.assert_allclose(got, net.predict(x), atol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_onnx_seq2seq_encoder_and_decoder_step_generate_the_same_answers(name, ort, tmp_path):
    net = _trained(name)
    x, _ = random_batch(net, 25, 5)
    x[:, 4] = 2  # the start symbol
    encoder, decoder = net.export_onnx_steps(tmp_path / "m.onnx")
    assert (Path(encoder).name, Path(decoder).name) == ("m.encoder.onnx", "m.decoder.onnx")
    enc = ort.InferenceSession(encoder, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(decoder, providers=["CPUExecutionProvider"])
    given = enc.run(None, {"src": x[:, :4]})
    found = dict(zip([o.name for o in enc.get_outputs()], given, strict=True))
    feeds = {k: v for k, v in found.items() if k.startswith("enc_")}
    states = {i.name: np.zeros((len(x), i.shape[1]), np.float32) for i in dec.get_inputs()
              if i.name[0] in "hc"}
    states.update({k[len("init_"):]: v for k, v in found.items() if k.startswith("init_")})
    token, out = x[:, 4:5], []
    for _ in range(net.plan.run.generate[1]):
        names = [o.name for o in dec.get_outputs()]
        result = dict(zip(names, dec.run(names, {"token": token, **feeds, **states}),
                          strict=True))
        token = result["output"].argmax(axis=1)[:, None].astype(np.int64)
        out.append(token[:, 0])
        states = {k: result[f"{k}.next"] for k in states}
    np.testing.assert_array_equal(np.stack(out, axis=1), greedy(net, x))


def test_onnx_seq2seq_step_export_needs_a_generate_spec(tmp_path):
    net = netc.compile("input: tokens(5), steps=3\nembed(2) -> lstm(3) -> affine(5) -> "
                       "softmax_ce")
    with pytest.raises(netc.errors.DataError, match="generate: greedy"):
        net.export_onnx_steps(tmp_path / "m.onnx")
