"""`netc compile --emit python`: the standalone module runs alone and matches the network."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.runtime.gradcheck import random_batch

TOL = 1e-12
ALL_LAYERS = ("affine(6) -> batchnorm -> relu -> matmul(6) -> sigmoid -> leaky_relu(0.1)"
              " -> repeat(2) -> tanh -> sum(3) -> softmax -> affine(3)")
SPECS = {
    "all_layers_softmax_ce": f"input: 4\n{ALL_LAYERS} -> softmax_ce",
    "all_layers_sigmoid_ce": f"input: 4\n{ALL_LAYERS} -> sigmoid_ce",
    "all_layers_mse": f"input: 4\n{ALL_LAYERS} -> mse",
    "dropout": "input: 4\naffine(5) -> dropout(0.3) -> relu -> affine(3) -> softmax_ce",
    "spiral_like": "input: 2\naffine(10) -> sigmoid -> affine(3) -> softmax_ce",
    # Graphs: merges, a value read twice, an image input, shared and tied weights.
    "graph": "input: 1x2x2\nflatten -> affine(6)@E => h\nh -> residual(tanh -> affine(6)) "
             "-> concat(h, affine(tied=E) -> affine(2), tanh) -> affine(6) -> affine(6)@F -> "
             "add(tanh, affine(6)@F) -> affine(3) -> softmax_ce",
    # Every image kernel the passes may call: the general conv backward (more filters than
    # channels, stride 2), the correlation one (stride 1), pool2 (2x2 tiling max), the
    # general pool (overlapping, avg), batchnorm per channel and global_avg_pool.
    "images": "input: 2x8x8\nconv(3, 3, pad=1) -> tanh -> conv(3, 3, pad=1) -> pool(2) "
              "-> batchnorm -> conv(4, 2, stride=2) -> pool(2, stride=1) -> "
              "pool(1, mode=\"avg\") -> global_avg_pool -> affine(3) -> softmax_ce",
    # DLFS-2: token ids, every recurrent kernel, a per-step softmax over a tied embedding,
    # h.last; and CBOW's mean with negative sampling.
    "language_model": "input: tokens(7), steps=4\nembed(5)@E -> lstm(4) -> gru(5) -> rnn(5) "
                      "=> h\nh -> affine(tied=E) -> softmax_ce",
    "last_step": "input: tokens(7), steps=4\nembed(5) -> lstm(4) => h\nh.last -> affine(3) "
                 "-> softmax_ce",
    "cbow": "input: tokens(9), steps=2\nembed(4) -> mean -> ns_loss(k=3)",
    # peeky (its concat folded into the decoder's LSTM) and attention, two token inputs
    "seq2seq": "input: src: tokens(9, steps=4), tgt: tokens(9, steps=3)\n"
               "src -> embed(4) -> lstm(5) => h\n"
               "concat(tgt[:-1] -> embed(4), h.last) -> lstm(5, init=h.last) => d\n"
               "concat(attention(d, h), d) -> affine -> softmax_ce(tgt[1:])\n"
               "generate: greedy(tgt)",
}

DRIVER = textwrap.dedent("""
    import importlib.util
    import sys

    import numpy as np

    spec = importlib.util.spec_from_file_location("emitted", sys.argv[1])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with np.load(sys.argv[2], allow_pickle=False) as d:
        data = dict(d)
    x, t = data.pop("__x"), data.pop("__t")
    net = mod.Net(data, "float64")
    out = {"__loss": np.array(net.loss(x, t)), "__predict": net.predict(x)}
    out.update({"grad/" + k: v for k, v in net.gradients(x, t).items()})
    assert not [m for m in sys.modules if m.split(".")[0] in ("netc", "lark", "pydantic")]
    np.savez(sys.argv[3], **out)
""")


def _emit(tmp_path, name: str, text: str):
    spec = tmp_path / f"{name}.net"
    spec.write_text(text)
    module = tmp_path / f"{name}_net.py"
    assert main(["compile", str(spec), "--emit", "python", "-o", str(module)]) == 0
    return spec, module


def _imports(source: str) -> set[str]:
    tree = ast.parse(source)
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return names | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}


@pytest.mark.parametrize("name", list(SPECS))
def test_standalone_module_matches_network(tmp_path, name):
    spec, module = _emit(tmp_path, name, SPECS[name])
    net = netc.load(spec, dtype="float64")
    rng = np.random.default_rng(1)
    for v in net.params.values():  # non-trivial values, so every term of the math counts
        v[...] = rng.standard_normal(v.shape)
    x, t = random_batch(net, 7, seed=2)
    data = tmp_path / "in.npz"
    np.savez(data, __x=x, __t=t, **dict(net.params))
    result = tmp_path / "out.npz"
    run = subprocess.run([sys.executable, "-c", DRIVER, str(module), str(data), str(result)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr
    with np.load(result, allow_pickle=False) as d:
        out = dict(d)
    np.testing.assert_allclose(out["__predict"], net.predict(x), rtol=TOL, atol=TOL)
    if "ns_loss" in SPECS[name]:
        return  # the negatives are drawn from different generators
    assert float(out["__loss"]) == pytest.approx(net.loss(x, t), rel=TOL, abs=TOL)
    if "dropout" in SPECS[name]:
        return  # the masks come from different generators
    grads = net.gradients(x, t)
    assert sorted(k[5:] for k in out if k.startswith("grad/")) == sorted(grads)
    for k, g in grads.items():
        np.testing.assert_allclose(out["grad/" + k], g, rtol=TOL, atol=TOL, err_msg=k)


@pytest.mark.parametrize("name", list(SPECS))
def test_standalone_module_imports_only_numpy(tmp_path, name):
    _, module = _emit(tmp_path, name, SPECS[name])
    source = module.read_text()
    assert _imports(source) <= {"numpy", "__future__", "argparse"}
    assert "numpy" in _imports(source)
    compile(source, str(module), "exec")


def test_standalone_module_is_printed_without_output_file(tmp_path, capsys):
    spec = tmp_path / "a.net"
    spec.write_text(SPECS["spiral_like"])
    assert main(["compile", str(spec)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith('"""Generated by netc')
    assert "def bind(" in printed and "class Net" in printed
    from netc.runtime.generated import standalone_module

    assert printed == standalone_module(netc.plan_file(spec))


def test_standalone_module_carries_only_used_kernels(tmp_path):
    _, module = _emit(tmp_path, "spiral_like", SPECS["spiral_like"])
    defined = {n.name for n in ast.parse(module.read_text()).body if isinstance(n, ast.FunctionDef)}
    assert "sigmoid_forward" in defined and "softmax_ce_backward" in defined
    assert "batchnorm_forward" not in defined and "relu_forward" not in defined


# Specs whose training the emitted module must repeat exactly: each optimizer path of
# `plan_update` (sgd folded into the loss gradient, a kernel with state, Adam's step count,
# weight decay), and dropout and batchnorm, which draw from or keep state in the network.
TRAINED = {
    "sgd": "input: 2\naffine(10) -> sigmoid -> affine(3) -> softmax_ce\n"
           "optimizer: sgd(lr=1.0)\ntrain: epochs=3, batch_size=30, seed=4\n",
    "adam_dropout": "input: 2\naffine(20, init=he) -> relu -> dropout(0.2) -> affine(3)"
                    " -> softmax_ce\noptimizer: adam(lr=0.01)\ntrain: epochs=3, batch_size=32\n",
    "momentum_wd_batchnorm": "input: 2\naffine(10) -> batchnorm -> tanh -> affine(3) -> mse\n"
                             "optimizer: momentum(lr=0.05, wd=0.001)\n"
                             "train: epochs=2, batch_size=50, seed=1, dtype=float64\n",
    # netc's default weight decay skips biases (DLFS); subset and validation_split as `fit`.
    "sgd_wd_subset_split": "input: 2\naffine(10) -> relu -> affine(3) -> softmax_ce\n"
                           "optimizer: sgd(lr=0.5, wd=0.01)\n"
                           "train: epochs=3, batch_size=32, seed=2, subset=250, "
                           "validation_split=0.2\n",
    "adam_wd_all": "input: 2\naffine(10) -> batchnorm -> relu -> affine(3) -> softmax_ce\n"
                   "optimizer: adam(lr=0.01, wd=0.05)\ntrain: epochs=2, batch_size=40, "
                   "wd_all=1\n",
    "momentum_wd": "input: 2\naffine(10) -> tanh -> affine(3) -> softmax_ce\n"
                   "optimizer: momentum(lr=0.1, wd=0.05)\ntrain: epochs=2, batch_size=40\n",
}


def _spiral_npz(tmp_path, one_hot: bool):
    (x, t), _ = netc.datasets.load_spiral()
    if one_hot:
        t = np.eye(3, dtype=np.float32)[t]
    path = tmp_path / "spiral.npz"
    np.savez(path, x_train=x, t_train=t)
    return path, x, t


def _figures(stdout: str, name: str) -> list[float]:
    """The `name` figure of each epoch line the module printed ("epoch 1/3: loss 1.0986")."""
    return [float(m.group(1)) for m in re.finditer(rf"^epoch .*?: (?:.*, )?{name} ([0-9.]+)",
                                                   stdout, re.M)]


@pytest.mark.parametrize("name", list(TRAINED))
def test_standalone_module_trains_like_netc(tmp_path, name):
    """Run as a script with the spec's settings, the module ends with netc's parameters bit
    for bit: same init draws, same permutations, same kernels in the same order, the same
    weight decay (weights only unless wd_all=1), subset and validation split."""
    spec, module = _emit(tmp_path, name, TRAINED[name])
    data, x, t = _spiral_npz(tmp_path, one_hot="mse" in TRAINED[name])
    saved = tmp_path / "trained.npz"
    run = subprocess.run([sys.executable, str(module), "--data", str(data), "--save", str(saved)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    losses = _figures(run.stdout, "loss")
    plan = netc.plan_file(spec)
    assert len(losses) == plan.run.epochs
    net = netc.load(spec)
    history = net.fit(x, t, verbose=0)  # every setting from the spec, as the module takes them
    assert losses == pytest.approx([r["train_loss"] for r in history], abs=1e-4)  # as printed
    if "validation_split" in TRAINED[name]:
        held = _figures(run.stdout, "val loss")
        assert len(held) == plan.run.epochs
        assert held == pytest.approx([r["val_loss"] for r in history], abs=1e-4)
    with np.load(saved) as d:
        trained = dict(d)
    assert sorted(trained) == sorted(net.params)
    for k, v in net.params.items():
        assert trained[k].dtype == v.dtype
        np.testing.assert_array_equal(trained[k], v, err_msg=k)


def test_standalone_module_loss_falls_on_spiral(tmp_path):
    spec, module = _emit(tmp_path, "spiral", "input: 2\naffine(30, init=he) -> relu -> "
                         "affine(3) -> softmax_ce\noptimizer: adam(lr=0.05)\n"
                         "train: epochs=30, batch_size=30\n")
    data, _, _ = _spiral_npz(tmp_path, one_hot=False)
    run = subprocess.run([sys.executable, str(module), "--data", str(data)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    losses = [float(line.rsplit(" ", 1)[1]) for line in run.stdout.splitlines()
              if line.startswith("epoch ")]
    assert len(losses) == 30
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("name", ["all_layers_softmax_ce", "language_model", "cbow", "seq2seq"])
def test_standalone_module_has_help_and_passes_ruff(tmp_path, name):
    _, module = _emit(tmp_path, "all", SPECS[name])
    help_text = subprocess.run([sys.executable, str(module), "--help"], capture_output=True,
                               text=True, cwd=tmp_path, timeout=60)
    assert help_text.returncode == 0, help_text.stderr
    assert "--data" in help_text.stdout and "--epochs" in help_text.stdout
    assert "Generated by netc" in help_text.stdout
    assert ast.get_docstring(ast.parse(module.read_text()))
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e .[test])")
    # Ruff's defaults, and netc's own rules but the line length: generated calls are long.
    for args in ([], ["--isolated", "--extend-select", "W,I,B,UP"]):
        lint = subprocess.run([ruff, "check", *args, str(module)], capture_output=True,
                              text=True, cwd=tmp_path, timeout=60)
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_standalone_module_without_train_arrays_says_so(tmp_path):
    _, module = _emit(tmp_path, "s", SPECS["spiral_like"])
    np.savez(tmp_path / "bad.npz", x=np.zeros((2, 2)))
    run = subprocess.run([sys.executable, str(module), "--data", "bad.npz"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip() == "bad.npz: no x_train or t_train array"


def _module(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"emitted_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_standalone_module_scales_uint8_pixels_as_netc(tmp_path):
    spec, module = _emit(tmp_path, "mnist_like", "data: mnist\ninput: 784\naffine(10) -> "
                         "softmax_ce\n")
    mod, net = _module(module), netc.load(spec)
    images = np.random.default_rng(0).integers(0, 256, (5, 1, 28, 28), dtype=np.uint8)
    emitted = mod.Net({k: v for k, v in net.params.items()})
    np.testing.assert_array_equal(emitted.predict(images), net.predict(images))
    _, other = _emit(tmp_path, "spiral", SPECS["spiral_like"])
    with pytest.raises(ValueError, match="uint8 inputs"):
        _module(other).Net(seed=0).predict(np.zeros((2, 2), np.uint8))


@pytest.mark.parametrize("name", ["sgd", "adam_dropout", "sgd_wd_subset_split",
                                  "momentum_wd"])
def test_standalone_module_flags_override_the_spec_as_netc_run_does(tmp_path, name):
    spec, module = _emit(tmp_path, name, TRAINED[name])
    data, x, t = _spiral_npz(tmp_path, one_hot=False)
    saved = tmp_path / "trained.npz"
    run = subprocess.run([sys.executable, str(module), "--data", str(data), "--save", str(saved),
                          "--lr", "0.003", "--epochs", "2", "--batch-size", "64", "--seed", "7"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("epoch ") == 2
    net = netc.load(spec, seed=7)
    net.fit(x, t, epochs=2, batch_size=64, seed=7, lr=0.003, verbose=0)
    with np.load(saved) as d:
        for k, v in net.params.items():
            np.testing.assert_array_equal(d[k], v, err_msg=k)


def test_standalone_module_refuses_an_unknown_hyper_parameter(tmp_path):
    _, module = _emit(tmp_path, "adam", TRAINED["adam_dropout"])
    net = _module(module).Net(seed=0)
    with pytest.raises(ValueError, match="adam has no hyper-parameter 'momentum'"):
        net.fit(np.zeros((4, 2)), np.zeros(4, np.int64), 1, 2, 0, {"momentum": 0.9})
