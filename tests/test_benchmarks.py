"""The benchmark suite runs (PyTorch optional) and its measurement helpers do what they say.

Speed itself is never asserted here (machines are noisy); `python -m benchmarks` measures it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from benchmarks import contenders, lm, measure, seq2seq
from benchmarks.__main__ import training
from benchmarks.cases import CASES, LMCase, Seq2seqCase


def test_interleaved_takes_turns_and_times_every_round(monkeypatch):
    monkeypatch.setattr(measure, "PAUSE_S", 0.0)
    calls: list[str] = []

    def runner(name: str):
        return lambda: calls.append(name) or float(len(calls))

    times = measure.interleaved({"a": runner("a"), "b": runner("b")}, rounds=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert times == {"a": [3.0, 5.0, 7.0], "b": [4.0, 6.0, 8.0]}


def test_median_ratio_pairs_rounds():
    assert measure.median_ratio([2.0, 9.0, 4.0], [1.0, 3.0, 1.0]) == 3.0
    assert measure.ratio_range([2.0, 9.0, 4.0], [1.0, 3.0, 1.0]) == (2.0, 4.0)


def test_cases_describe_the_issue_networks():
    assert CASES["mlp"].spec == "input: 784\naffine(50) -> sigmoid -> affine(10) -> softmax_ce\n"
    x, t = CASES["tiny"].data()
    assert x.shape == (300, 2) and x.dtype == np.float32 and set(np.unique(t)) <= {0, 1, 2}
    # The batch order is the permutation netc's trainer draws from seed 0.
    assert np.array_equal(CASES["tiny"].orders()[0], np.random.default_rng(0).permutation(300))


def test_netc_and_plain_numpy_contenders_train_the_case():
    short = dataclasses.replace(CASES["tiny"], epochs=3)
    assert contenders.netc_runner(short)() > 0
    assert contenders.numpy_runner(short)() > 0


def test_training_reports_samples_per_second_and_efficiency(monkeypatch, capsys):
    monkeypatch.setattr(measure, "PAUSE_S", 0.0)
    monkeypatch.setitem(CASES, "tiny", dataclasses.replace(CASES["tiny"], epochs=3))
    row = training(["tiny"], rounds=1, threads=1)["tiny"]
    assert row["samples_per_s"]["netc"] > 0 and row["samples_per_s"]["gemm"] > 0
    assert 0 < row["efficiency"] < 10 and row["netc_over_numpy"] > 0
    out = capsys.readouterr().out
    assert out.startswith("tiny  netc") and "efficiency" in out


def test_gemm_bound_multiplies_the_case_shapes():
    assert contenders.gemm_runner(CASES["mlp"])() > 0


def test_residual_case_is_a_chain_of_skip_blocks_in_the_dsl():
    case = CASES["residual"]
    assert case.spec == (
        "input: 784\n"
        "block = residual(affine(256) -> relu -> affine(256)) -> relu\n"
        "affine(256) -> relu -> block * 2 -> affine(10) -> softmax_ce\n")
    # Each block's two affine layers are products like any others; the skip adds none.
    assert case.dims == (784, 256, 256, 256, 256, 256, 10)
    assert CASES["big"].dims == CASES["big"].widths


def test_pytorch_contender_has_the_same_layers_as_netc():
    pytest.importorskip("torch")
    import netc

    # The language model's and seq2seq's layers differ in layout (gate order, embedding);
    # their tests below check the stronger thing, that both sides train to the same weights.
    for case in (c for c in CASES.values() if not isinstance(c, (LMCase, Seq2seqCase))):
        model = contenders.torch_model(case)
        net = netc.compile(case.spec, seed=0)
        torch_shapes = sorted(tuple(p.shape) for p in model.parameters())
        # torch.nn.Linear stores W as (out, in); netc as (in, out). Conv W is (F, C, kh, kw)
        # in both.
        netc_shapes = sorted(v.shape[::-1] if v.ndim == 2 else v.shape
                             for v in net.params.values())
        assert torch_shapes == netc_shapes, case.name
    model = contenders.torch_model(CASES["residual"])
    import torch

    x = torch.rand(3, 256)
    block = model[2]
    # The block's output is its input plus its branch: x + f(x), not f(x).
    assert torch.allclose(block(x + 1), x + 1 + block.f(x + 1))


def test_residual_case_trains_without_the_plain_numpy_loop(monkeypatch, capsys):
    monkeypatch.setattr(measure, "PAUSE_S", 0.0)
    short = dataclasses.replace(CASES["residual"], samples=300)
    monkeypatch.setitem(CASES, "residual", short)
    with pytest.raises(ValueError, match="residual"):
        contenders.numpy_runner(short)
    row = training(["residual"], rounds=1, threads=1)["residual"]
    assert set(row["samples_per_s"]) >= {"netc", "gemm"} and "numpy" not in row["samples_per_s"]
    assert "netc_over_numpy" not in row and 0 < row["efficiency"] < 10
    assert "plain-NumPy" not in capsys.readouterr().out


def test_conv_cases_are_the_book_convnets_in_the_dsl():
    assert CASES["conv"].spec == (
        "input: 1x28x28\n"
        "conv(30, 5) -> relu -> pool(2) -> flatten -> affine(100) -> relu -> affine(10)"
        " -> softmax_ce\n")
    deep = CASES["deepconv"]
    assert deep.spec.count("conv(") == 6 and "conv(32, 3, pad=2)" in deep.spec
    assert "dropout" not in deep.spec  # left out on both sides (see cases.py)
    assert deep.shapes()[-3:] == [(64, 4, 4), (50,), (10,)]
    x, t = deep.data()
    assert x.shape == (1_000, 784) and x.dtype == np.float32 and set(np.unique(t)) <= set(range(10))
    # netc's shapes: filters (F, C*kh*kw) @ columns (C*kh*kw, n*OH*OW); affine x @ W.
    assert CASES["conv"].products() == [("conv", 30, 25, 576), ("affine", 4320, 100, 1),
                                        ("affine", 100, 10, 1)]
    assert deep.products()[3] == ("conv", 32, 32 * 9, 16 * 16)  # pad 2: 14 -> 16


@pytest.mark.parametrize("name", ["conv", "deepconv"])
def test_pytorch_convnet_computes_netcs_step(name):
    """Same weights, same batch: the same loss and the same gradients, so the two contenders
    time one computation (layout: conv W (F, C, kh, kw) in both, affine W transposed)."""
    torch = pytest.importorskip("torch")
    import netc

    case = CASES[name]
    net = netc.compile(case.spec, seed=0)
    model = contenders.torch_model(case)
    weighted = [m for m in model if hasattr(m, "weight")]
    keys = [k for k in net.params if k.endswith(".W")]
    assert len(weighted) == len(keys)
    for module, key in zip(weighted, keys, strict=True):
        w = net.params[key]
        module.weight.data = torch.from_numpy(w.T.copy() if w.ndim == 2 else w.copy())
        module.bias.data = torch.from_numpy(net.params[key[:-1] + "b"].copy())
    x, t = case.data()
    x, t = x[:8], t[:8]
    loss = torch.nn.CrossEntropyLoss()(
        model(torch.from_numpy(x).reshape(8, *case.input_shape)), torch.from_numpy(t))
    loss.backward()
    assert loss.item() == pytest.approx(net.loss(x, t), rel=1e-4)
    grads = net.gradients(x, t)
    for module, key in zip(weighted, keys, strict=True):
        dw = module.weight.grad.numpy()
        np.testing.assert_allclose(dw.T if dw.ndim == 2 else dw, grads[key], rtol=1e-3,
                                   atol=1e-6)


def test_conv_case_trains_with_gemm_bound_and_no_plain_numpy_loop(monkeypatch, capsys):
    monkeypatch.setattr(measure, "PAUSE_S", 0.0)
    monkeypatch.setitem(CASES, "conv", dataclasses.replace(CASES["conv"], samples=150))
    with pytest.raises(ValueError, match="no images"):
        contenders.numpy_runner(CASES["conv"])
    row = training(["conv"], rounds=1, threads=1)["conv"]
    assert "numpy" not in row["samples_per_s"] and row["samples_per_s"]["gemm"] > 0
    assert row["outside_gemm_share"] == pytest.approx(1 - row["efficiency"])
    assert "outside GEMMs" in capsys.readouterr().out


# A few windows of a small language model: the same code paths as `rnnlm`, in milliseconds.
SMALL_LM = dataclasses.replace(CASES["rnnlm"], vocab=50, embed=8, hidden=6, bptt=5, batch=4,
                               windows=3)


def test_rnnlm_case_is_the_dlfs2_rnnlm_in_the_dsl():
    case = CASES["rnnlm"]
    assert case.spec == (
        "input: tokens(10000)\n"
        "train: bptt=35, batch_size=20, clip=0.25\n"
        "optimizer: sgd(lr=20)\n"
        "embed(100) -> lstm(100) -> affine(10000) -> softmax_ce\n")
    ids = case.data()
    assert ids.shape == (20 * 20 * 35 + 1,) and ids.min() >= 0 and ids.max() < 10_000
    assert case.samples == 14_000  # tokens a run, each one prediction
    # The windows are netc's streams: row i starts at i * (tokens // batch), the targets are
    # the next tokens, and window k continues where window k - 1 stopped.
    small = SMALL_LM.data()
    windows = lm.windows(SMALL_LM, small)
    assert len(windows) == 3 and windows[0][0].shape == (4, 5)
    x0, t0 = windows[0]
    assert np.array_equal(x0[1], small[15:20]) and np.array_equal(t0[1], small[16:21])
    assert np.array_equal(windows[1][0][1], small[20:25])


def test_pytorch_rnnlm_trains_to_netcs_weights():
    """From the same weights over the same windows, PyTorch's loop (clip, SGD at lr 20, the
    state carried with .detach()) and netc's fit end at the same weights: one computation."""
    torch = pytest.importorskip("torch")
    import netc

    net = netc.compile(SMALL_LM.spec, seed=0)
    model = contenders.torch_model(SMALL_LM)
    lm.copy_netc_weights(model, dict(net.params))
    ids = SMALL_LM.data()
    before = net.params["2.affine.b"].copy()
    net.fit(ids, epochs=1, bptt=5, batch_size=4, clip=0.25, optimizer="sgd", lr=20.0, seed=0,
            eval_train=False, verbose=0)
    batches = [(torch.from_numpy(x), torch.from_numpy(t)) for x, t in lm.windows(SMALL_LM, ids)]
    lm.torch_lm_train(SMALL_LM, model, batches)
    # The steps are large (lr 20): the weights moved, and moved alike.
    assert np.abs(net.params["2.affine.b"] - before).max() > 0.1
    trained = contenders.torch_model(SMALL_LM)
    lm.copy_netc_weights(trained, dict(net.params))
    for (name, ours), theirs in zip(trained.named_parameters(), model.parameters(), strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-3,
                                   atol=1e-5, err_msg=name)


def test_rnnlm_case_reports_tokens_per_second(monkeypatch, capsys):
    monkeypatch.setattr(measure, "PAUSE_S", 0.0)
    monkeypatch.setitem(CASES, "rnnlm", SMALL_LM)
    with pytest.raises(ValueError, match="affine chains"):
        contenders.numpy_runner(SMALL_LM)
    row = training(["rnnlm"], rounds=1, threads=1)["rnnlm"]
    assert row["unit"] == "tokens" and "numpy" not in row["samples_per_s"]
    assert row["samples_per_s"]["netc"] > 0 and row["samples_per_s"]["gemm"] > 0
    assert 0 < row["efficiency"] < 10
    if "torch" in row["samples_per_s"]:  # the spread of the per-round ratios brackets it
        low, high = row["netc_over_torch_range"]
        assert low <= row["netc_over_torch"] <= high
    out = capsys.readouterr().out
    assert out.startswith("rnnlm netc") and "tokens/s" in out


# Three batches of four problems through small layers: the same code paths as `seq2seq`.
SMALL_S2S = dataclasses.replace(CASES["seq2seq"], embed=4, hidden=8, batch=4, batches=3)


def test_seq2seq_case_is_the_peeky_spec_on_the_addition_rows():
    case = CASES["seq2seq"]
    spec = Path(__file__).resolve().parents[1] / "specs" / "addition_peeky.net"
    layers = [line for line in spec.read_text().splitlines() if "->" in line]
    # The network lines of the spec file, as the case writes them (sizes given, no data:).
    assert case.spec.splitlines()[-3:] == layers
    assert case.spec.startswith("input: src: tokens(13, steps=7), tgt: tokens(13, steps=5)\n")
    rows = SMALL_S2S.data()
    assert rows.shape == (12, 12) and rows.dtype == np.int64 and rows.max() < 13
    assert SMALL_S2S.samples == 12 and len(SMALL_S2S.orders()[0]) == 12
    assert (rows[:, 7] == rows[0, 7]).all()  # every answer starts with the start symbol
    with pytest.raises(ValueError, match="samples"):
        dataclasses.replace(SMALL_S2S, batches=20_000).data()


def test_pytorch_seq2seq_computes_netcs_step_and_trains_to_its_weights():
    """Same weights: the same loss and gradients on a batch; the same rows in the same order
    (Adam, clipping): the same weights after, so the two contenders time one computation."""
    torch = pytest.importorskip("torch")
    import netc

    case = SMALL_S2S
    # Why float64: Adam's step m / sqrt(v) of a gradient near zero turns float32's rounding
    # differences into visible ones; in float64 both sides agree to many digits.
    net = netc.compile(case.spec, seed=0, dtype="float64")
    model = contenders.torch_model(case).double()
    seq2seq.copy_netc_weights(model, dict(net.params))
    rows = case.data()
    x, t = rows[:4], rows[:4, 8:]
    loss = torch.nn.CrossEntropyLoss()(model(torch.from_numpy(x)).reshape(-1, 13),
                                       torch.from_numpy(t).reshape(-1))
    loss.backward()
    assert loss.item() == pytest.approx(net.loss(x, t), rel=1e-10)
    grads = contenders.torch_model(case).double()  # netc's gradients in PyTorch's layout
    seq2seq.copy_netc_weights(grads, net.gradients(x, t))
    for (name, ours), theirs in zip(grads.named_parameters(), model.parameters(), strict=True):
        if theirs.requires_grad:
            np.testing.assert_allclose(ours.detach().numpy(), theirs.grad.numpy(), rtol=1e-8,
                                       atol=1e-12, err_msg=name)
    seq2seq.copy_netc_weights(model, dict(net.params))
    before = {k: v.copy() for k, v in net.params.items()}
    # Why eps all but 0 on both sides: PyTorch adds it after the bias correction, netc (DLFS)
    # before, which parts the steps of gradients near eps (some here are 1e-10); the rest of
    # Adam is one formula.
    net.fit(rows, None, epochs=1, batch_size=4, optimizer="adam", lr=case.lr, clip=case.clip,
            seed=0, eval_train=False, verbose=0, eps=1e-30)
    opt = seq2seq.torch_seq2seq_optimizer(case, model)
    opt.param_groups[0]["eps"] = 1e-30
    seq2seq.torch_seq2seq_train(case, model, opt, torch.from_numpy(rows),
                                torch.from_numpy(case.orders()[0]))
    # Three Adam steps move a weight by up to 3 lr: the moves are what is compared.
    bias = next(k for k in net.params if k.endswith(".affine.b"))
    assert np.abs(net.params[bias] - before[bias]).max() > 2e-3
    start = contenders.torch_model(case).double()
    seq2seq.copy_netc_weights(start, before)
    moved = contenders.torch_model(case).double()
    seq2seq.copy_netc_weights(moved, dict(net.params))
    for (name, ours), theirs, first in zip(moved.named_parameters(), model.parameters(),
                                           start.parameters(), strict=True):
        np.testing.assert_allclose((ours - first).detach().numpy(),
                                   (theirs - first).detach().numpy(), atol=1e-9, err_msg=name)


def test_seq2seq_case_reports_samples_per_second(monkeypatch, capsys):
    monkeypatch.setattr(measure, "PAUSE_S", 0.0)
    monkeypatch.setitem(CASES, "seq2seq", SMALL_S2S)
    with pytest.raises(ValueError, match="affine chains"):
        contenders.numpy_runner(SMALL_S2S)
    row = training(["seq2seq"], rounds=1, threads=1)["seq2seq"]
    assert row["unit"] == "samples" and "numpy" not in row["samples_per_s"]
    assert row["samples_per_s"]["netc"] > 0 and row["samples_per_s"]["gemm"] > 0
    assert 0 < row["efficiency"] < 10
    if "torch" in row["samples_per_s"]:
        low, high = row["netc_over_torch_range"]
        assert low <= row["netc_over_torch"] <= high
    assert capsys.readouterr().out.startswith("seq2seq netc")
