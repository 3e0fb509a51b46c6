"""`netc compile --emit torch`: the PyTorch module computes netc's loss, gradients and
optimizer steps (float64, rtol 1e-9) for every shipped spec and a spec per op family."""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.compiler.ops import OPS
from netc.runtime.gradcheck import random_batch
from netc.runtime.optim import OPTIMIZERS

torch = pytest.importorskip("torch", reason="torch is a test dependency only (netc[bench])")

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "specs").glob("*.net"))
RTOL = 1e-9
# Every op but those of the shipped specs' forms; dropout's masks are made equal below.
SMALL = {
    # Why no batchnorm: the bias before it has a zero gradient, all roundoff, which
    # AdaGrad's and RMSprop's scaling would blow up to the step's size.
    "optimizers": "input: 4\naffine(6) -> tanh -> affine(5) -> relu -> affine(3) -> softmax_ce",
    "activations": "input: 4\naffine(6) -> batchnorm -> relu -> matmul(6) -> sigmoid -> "
                   "leaky_relu(0.1) -> repeat(2) -> tanh -> sum(3) -> softmax -> affine(3) "
                   "-> softmax_ce",
    "sigmoid_ce": "input: 4\naffine(5) -> dropout(0.3) -> tanh -> affine(3) -> sigmoid_ce",
    "mse": "input: 4\naffine(5) -> leaky_relu -> affine(2) -> mse",
    "graph": "input: 1x2x2\nflatten -> affine(6)@E => h\nh -> residual(tanh -> affine(6)) "
             "-> concat(h, affine(tied=E) -> affine(2), tanh) -> affine(6) -> affine(6)@F -> "
             "add(tanh, affine(6)@F) -> affine(3) -> softmax_ce",
    "images": "input: 2x8x8\nconv(3, 3, pad=1) -> tanh -> dropout(0.5) -> conv(3, 3, pad=1) "
              "-> pool(2) -> batchnorm -> concat(tanh, relu) -> conv(4, 2, stride=2) -> "
              "pool(2, stride=1) -> pool(1, mode=\"avg\") -> global_avg_pool -> affine(3) "
              "-> softmax_ce",
    "recurrent": "input: tokens(7), steps=4\nembed(5)@E -> lstm(4) -> gru(5) -> rnn(5) "
                 "=> h\nh -> affine(tied=E) -> softmax_ce",
    "seq2seq": "input: src: tokens(9, steps=4), tgt: tokens(9, steps=3)\n"
               "src -> embed(4) -> gru(5) => h\n"
               "concat(tgt[:-1] -> embed(4), h.last) -> rnn(5, init=h.last) => d\n"
               "concat(attention(d, h), d) -> affine -> softmax_ce(tgt[1:])\n",
}


def _emit(tmp_path: Path, spec: Path) -> object:
    out = tmp_path / f"{spec.stem}_torch.py"
    assert main(["compile", str(spec), "--emit", "torch", "-o", str(out)]) == 0
    loader = importlib.util.spec_from_file_location(f"emitted_{spec.stem}", out)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


def _spec(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.net"
    path.write_text(SMALL[name])
    return path


def _close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-12 * scale, err_msg=what)


def _same_draws(net: object, model: object) -> None:
    """The module draws dropout's and negative sampling's uniforms from a copy of netc's
    generator, in netc's order, so both see the same masks and negatives."""
    draws = np.random.default_rng()
    draws.bit_generator.state = net.rng.bit_generator.state
    model.uniform = lambda shape: torch.from_numpy(draws.random(shape))


def _check_loss_and_gradients(tmp_path: Path, spec: Path, onehot: bool = False) -> None:
    net = netc.load(spec, dtype="float64")
    for key, table in net.buffers.items():  # ns_loss: a unigram table, drawn by searchsorted
        if key.endswith(".table"):
            table[...] = np.cumsum(np.random.default_rng(3).random(len(table)))
    x, t = random_batch(net, 3, seed=1)
    if onehot:  # softmax_ce's other form of targets: rows of k values
        t = np.eye(net.plan.n_outputs)[t]
    module = _emit(tmp_path, spec)
    model = module.Net.from_netc(net)
    state, buffers = net.rng.bit_generator.state, {k: v.copy() for k, v in net.buffers.items()}
    want_loss = net.loss(x, t, train=True)
    net.rng.bit_generator.state = state
    for k, v in buffers.items():
        net.buffers[k][...] = v
    want = net.gradients(x, t)
    net.rng.bit_generator.state = state
    _same_draws(net, model)
    model.train()
    loss = model(model.inputs(x), model.targets(t))
    loss.backward()
    _close(np.array(loss.item()), np.array(want_loss), f"{spec.name}: loss")
    got = {k: p.grad.numpy() for k, p in model.named_parameters()}
    assert list(got) == list(want)
    for k in want:
        _close(got[k], want[k], f"{spec.name}: d{k}")
    for k, b in model.netc_buffers().items():  # batchnorm's running statistics moved alike
        if not k.endswith(".table"):
            _close(b, net.buffers[k], f"{spec.name}: {k}")


@pytest.mark.parametrize("spec", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_emit_torch_shipped_spec_matches_netc(tmp_path, spec):
    _check_loss_and_gradients(tmp_path, spec)


@pytest.mark.parametrize("name", list(SMALL))
def test_emit_torch_every_op_matches_netc(tmp_path, name):
    _check_loss_and_gradients(tmp_path, _spec(tmp_path, name))


def test_emit_torch_one_hot_targets_match_netc(tmp_path):
    _check_loss_and_gradients(tmp_path, _spec(tmp_path, "activations"), onehot=True)


def test_emit_torch_every_op_has_a_form_and_a_test(tmp_path):
    assert [name for name, op in OPS.items() if op.torch is None] == []
    tested = {lp.op for spec in [*SHIPPED, *(_spec(tmp_path, name) for name in SMALL)]
              for lp in netc.plan_file(spec).layers}
    assert tested == set(OPS)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_emit_torch_optimizer_steps_match_netc(tmp_path, name):
    """Two full-batch steps: state (momentum, Adam's m, v and step count), clipping and
    weight decay on the weights only, as netc's fit applies them."""
    spec = _spec(tmp_path, "optimizers")
    net = netc.load(spec, dtype="float64")
    x, t = random_batch(net, 8, seed=2)
    module = _emit(tmp_path, spec)
    model = module.Net.from_netc(net)
    hyper = {"lr": 0.05, "wd": 0.01}
    net.fit(x, t, epochs=2, batch_size=len(x), optimizer=name, clip=0.5, **hyper)
    opt = module.Optimizer(model, name, hyper=hyper, clip=0.5)
    for _ in range(2):
        model.zero_grad()
        model(model.inputs(x), model.targets(t)).backward()
        opt.step()
    got = model.netc_params()
    for k, want in net.params.items():
        _close(got[k], want, f"{name}: {k}")


def test_emit_torch_module_round_trips_and_inits_as_netc(tmp_path):
    spec = ROOT / "specs" / "mnist_two_layer.net"
    module = _emit(tmp_path, spec)
    net = netc.load(spec, dtype="float64", seed=4)
    model = module.Net(dtype="float64", seed=4)  # the same draws as netc's build
    for k, v in model.netc_params().items():
        np.testing.assert_array_equal(v, net.params[k])
    assert list(model.state_dict()) == list(net.params)
    model.load_netc_params({k: v * 2 for k, v in net.params.items()})
    assert np.array_equal(model.netc_params()["0.affine.W"], net.params["0.affine.W"] * 2)
    with pytest.raises(KeyError, match="nope"):
        model.load_netc_params({"nope": np.zeros(1)})
    x = np.random.default_rng(0).standard_normal((2, 784))
    model.load_netc_params(net.params)
    _close(model.predict(x), net.predict(x), "predict")


def test_emit_torch_trains_from_the_command_line(tmp_path):
    spec = tmp_path / "s.net"
    spec.write_text("input: 2\noptimizer: momentum(lr=0.5)\ntrain: epochs=30, batch_size=10\n"
                    "affine(8) -> tanh -> affine(2) -> softmax_ce")
    out = tmp_path / "model.py"
    assert main(["compile", str(spec), "--emit", "torch", "-o", str(out)]) == 0
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 2))
    np.savez(tmp_path / "d.npz", x_train=x, t_train=(x[:, 0] > 0).astype(np.int64))
    run = subprocess.run([sys.executable, str(out), "--data", "d.npz", "--save", "p.npz"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    losses = [float(line.rsplit(" ", 1)[1]) for line in run.stdout.splitlines()
              if line.startswith("epoch ")]
    assert len(losses) == 30 and losses[-1] < 0.5 * losses[0]
    with np.load(tmp_path / "p.npz") as saved:
        assert sorted(saved.files) == ["0.affine.W", "0.affine.b", "2.affine.W", "2.affine.b"]


def test_emit_torch_seq2seq_trains_on_inputs_alone(tmp_path):
    """Its targets are columns of the inputs (`softmax_ce(tgt[1:])`): x_train is enough."""
    out = tmp_path / "model.py"
    spec = _spec(tmp_path, "seq2seq")
    assert main(["compile", str(spec), "--emit", "torch", "-o", str(out)]) == 0
    x = np.random.default_rng(0).integers(0, 9, (40, 7))
    np.savez(tmp_path / "d.npz", x_train=x, x_test=x[:8])
    run = subprocess.run([sys.executable, str(out), "--data", "d.npz", "--epochs", "2"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "epoch 2/2" in run.stdout and "test loss" in run.stdout


@pytest.mark.parametrize("spec", [*SHIPPED[:1], ROOT / "specs" / "mnist_deep_convnet.net"],
                         ids=lambda p: p.stem)
def test_emit_torch_module_passes_ruff(tmp_path, spec):
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e .[test])")
    out = tmp_path / "model.py"
    assert main(["compile", str(spec), "--emit", "torch", "-o", str(out)]) == 0
    for args in (["--config", str(ROOT / "pyproject.toml")], ["--isolated"]):
        lint = subprocess.run([ruff, "check", *args, str(out)], capture_output=True,
                              text=True, cwd=tmp_path, timeout=60)
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_emit_torch_without_a_form_is_a_located_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(OPS, "tanh", dataclasses.replace(OPS["tanh"], torch=None))
    spec = tmp_path / "s.net"
    spec.write_text("input: 2\naffine(3) -> tanh -> affine(2) -> softmax_ce\n")
    assert main(["compile", str(spec), "--emit", "torch"]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:2:14: error: tanh (layer 1.tanh) has no PyTorch form" in err
    assert "Traceback" not in err and "--emit python" in err
