"""ONNX export of the sequence ops (embed, rnn, lstm, gru, last, mean, a per-step softmax_ce):
onnxruntime's own RNN/LSTM/GRU kernels, an implementation independent of netc's, reproduce
`Network.predict` on int64 token ids with random non-zero weights and biases, so the gate
reorder (LSTM f, g, i, o -> i, o, f, c), GRU's negated update gate and the transposes are
right; the per-step softmax normalises each step; the input is int64 ("batch", steps); a net
trained with truncated BPTT (carried state) still exports what predict computes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOKENS = "input: tokens(50)\ntrain: bptt=5\n"
# name: (spec, the ONNX node types in order). Widths differ layer to layer (8 -> 7 -> 6), so a
# transposed or misplaced weight cannot fit by chance.
SPECS = {
    "lstm": (TOKENS + "embed(8) -> lstm(7) -> affine(50) -> softmax_ce",
             ["Gather", "Transpose", "LSTM", "Transpose", "Squeeze", "MatMul", "Add", "Softmax",
              "Flatten"]),
    "gru": (TOKENS + "embed(8) -> gru(7) -> affine(50) -> softmax_ce",
            ["Gather", "Transpose", "GRU", "Transpose", "Squeeze", "MatMul", "Add", "Softmax",
             "Flatten"]),
    "rnn": (TOKENS + "embed(8) -> rnn(7) -> affine(50) -> softmax_ce",
            ["Gather", "Transpose", "RNN", "Transpose", "Squeeze", "MatMul", "Add", "Softmax",
             "Flatten"]),
    "stacked_tied": (TOKENS + "embed(8)@E -> lstm(7) -> gru(6) -> rnn(8) -> affine(tied=E)"
                     " -> softmax_ce", None),
    "last": (TOKENS + "embed(8) -> gru(7) => h\nh.last -> affine(50) -> softmax_ce",
             ["Gather", "Transpose", "GRU", "Transpose", "Squeeze", "Gather", "Gemm",
              "Softmax"]),
    "mean": ("input: tokens(50), steps=4\nembed(8) -> mean -> affine(50) -> softmax_ce",
             ["Gather", "ReduceMean", "Gemm", "Softmax"]),
    "dropout": (TOKENS + "embed(8) -> dropout(0.5) -> lstm(7) -> dropout(0.3) -> rnn(6)"
                " -> affine(50) -> softmax_ce", None),
    # init=: the encoder's last state is the decoders' initial_h
    "start_state": (TOKENS + "embed(8) -> gru(7) => enc\nembed(8) -> lstm(7, init=enc.last) "
                    "-> rnn(7, init=enc.last) -> gru(7, init=enc.last) -> affine(50) -> "
                    "softmax_ce", None),
}


def _randomise(net: Any, seed: int = 1) -> None:
    """Every parameter random, biases included (they start at zero), large enough that the
    gates saturate differently and a swapped gate shows."""
    rng = np.random.default_rng(seed)
    for array in net.params.values():
        array[...] = rng.normal(scale=0.6, size=array.shape)


def _ids(net: Any, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, net.plan.vocab, (n, net.plan.input_width))


def _run(ort: Any, net: Any, path: Path, ids: np.ndarray) -> np.ndarray:
    net.export_onnx(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": ids.astype(np.int64)})[0]


@pytest.mark.parametrize("name", SPECS)
def test_onnx_sequences_match_predict(ort: Any, tmp_path: Path, name: str) -> None:
    import onnx

    text, types = SPECS[name]
    net = netc.compile(text, seed=3)
    _randomise(net)
    for n in (1, 7):  # a dynamic batch, a single row too
        ids = _ids(net, n, seed=n)
        got = _run(ort, net, tmp_path / f"{name}.onnx", ids)
        assert got.shape == (n, net.plan.n_outputs)
        np.testing.assert_allclose(got, net.predict(ids), atol=1e-5, rtol=0)
    if types is not None:
        model = onnx.load(str(tmp_path / f"{name}.onnx"))
        assert [node.op_type for node in model.graph.node] == types


def test_onnx_sequences_token_input_and_per_step_softmax(ort: Any, tmp_path: Path) -> None:
    """The input is int64 ("batch", steps); the output (batch, steps * vocab) is a
    probability distribution per step (Softmax before Flatten, not over all steps)."""
    net = netc.compile(SPECS["lstm"][0], seed=3)
    _randomise(net)
    net.export_onnx(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    assert (given.name, given.type, given.shape) == ("input", "tensor(int64)", ["batch", 5])
    assert session.get_outputs()[0].shape == ["batch", 5 * 50]
    got = session.run(["output"], {"input": _ids(net, 4)})[0]
    np.testing.assert_allclose(got.reshape(4, 5, 50).sum(axis=-1), 1.0, atol=1e-5)


def test_onnx_sequences_gate_maps(ort: Any, tmp_path: Path) -> None:
    """The initializers themselves: LSTM's ONNX W is Wx's blocks i, o, f, g transposed; GRU's
    z rows are negated (weights and bias), r and h kept; Rb is zeros."""
    from onnx import load, numpy_helper

    net = netc.compile(TOKENS + "embed(4) -> lstm(3) -> gru(2) -> affine(50) -> softmax_ce",
                       seed=3)
    _randomise(net)
    net.export_onnx(tmp_path / "m.onnx")
    inits = {t.name: numpy_helper.to_array(t) for t in load(str(tmp_path / "m.onnx"))
             .graph.initializer}
    wx = net.params["1.lstm.Wx"]
    f, g, i, o = (wx[:, k * 3:(k + 1) * 3].T for k in range(4))
    np.testing.assert_allclose(inits["1.lstm.onnx_Wx"][0], np.vstack([i, o, f, g]), rtol=1e-6)
    gx, gb = net.params["2.gru.Wx"], net.params["2.gru.b"]
    np.testing.assert_allclose(inits["2.gru.onnx_Wx"][0],
                               np.vstack([-gx[:, :2].T, gx[:, 2:].T]), rtol=1e-6)
    np.testing.assert_allclose(inits["2.gru.onnx_B"][0],
                               np.concatenate([-gb[:2], gb[2:], np.zeros(6)]), rtol=1e-6)


def test_onnx_sequences_after_bptt_training(ort: Any, tmp_path: Path) -> None:
    """Training with truncated BPTT leaves a carried state behind; predict starts from zeros
    all the same, and so does the exported graph. A float64 net exports float32 weights."""
    net = netc.compile(SPECS["stacked_tied"][0], seed=2, dtype="float64")
    _randomise(net, seed=5)
    corpus = np.random.default_rng(4).integers(0, 50, 400)
    before = {k: a.copy() for k, a in net.params.items()}
    net.fit(corpus, epochs=1, batch_size=4, verbose=False)
    assert any(not np.array_equal(before[k], a) for k, a in net.params.items())
    ids = _ids(net, 6)
    np.testing.assert_allclose(_run(ort, net, tmp_path / "m.onnx", ids), net.predict(ids),
                               atol=1e-5, rtol=0)
