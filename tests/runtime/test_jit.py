"""The compiled (Numba) backend against the NumPy one: same results op by op, optimizer by
optimizer and for the shipped specs it covers; deterministic; checkpoints that move between
the two; the disk cache; the fallback for what it does not compile; `--emit numba`."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import netc
from netc.errors import MissingDependencyError, NetcError, NetcWarning

pytest.importorskip("numba", reason="the numba backend needs the jit extra (netc[jit])")
pytest.importorskip("scipy", reason="Numba's np.dot needs SciPy (netc[jit])")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    """A cache folder of this module's own: each CI run compiles from nothing."""
    folder = tmp_path_factory.mktemp("netc-cache")
    old = os.environ.get("NETC_CACHE_DIR")
    os.environ["NETC_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        del os.environ["NETC_CACHE_DIR"]
    else:
        os.environ["NETC_CACHE_DIR"] = old


def _data(width: int, classes: int, n: int = 70, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, width)), rng.integers(0, classes, n)


# Every op the backend compiles, each in a network the two backends train side by side.
OPS = {
    "affine+sigmoid": "input: 5\naffine(7) -> sigmoid -> affine(3) -> softmax_ce",
    "tanh+relu+leaky": "input: 5\naffine(9) -> tanh -> affine(8) -> relu -> affine(6) -> "
                       "leaky_relu(0.1) -> affine(3) -> softmax_ce",
    "matmul": "input: 5\nmatmul(6) -> relu -> affine(3) -> softmax_ce",
    "residual add": "input: 5\nblock = residual(affine(5) -> relu -> affine(5)) -> relu\n"
                    "affine(5) -> block * 2 -> affine(3) -> softmax_ce",
    "wide (BLAS products)": "input: 40\naffine(64) -> relu -> affine(48) -> relu -> affine(3) "
                            "-> softmax_ce",
    "conv+pool2+flatten": "input: 2x8x8\nconv(3, 3) -> relu -> pool(2) -> flatten -> "
                          "affine(3) -> softmax_ce",
    "conv pad, stride": "input: 1x9x9\nconv(4, 3, pad=1) -> tanh -> conv(2, 3, stride=2) -> "
                        "flatten -> affine(3) -> softmax_ce",
    "dropout": "input: 5\naffine(8) -> relu -> dropout(0.3) -> affine(3) -> softmax_ce",
    "dropout on images": "input: 2x6x6\nconv(3, 3) -> dropout(0.5) -> flatten -> affine(3) -> "
                         "softmax_ce",
    "batchnorm": "input: 5\naffine(8) -> batchnorm -> relu -> affine(3) -> softmax_ce",
    "batchnorm on images": "input: 2x5x5\nconv(3, 3) -> batchnorm -> relu -> flatten -> "
                           "affine(3) -> softmax_ce",
    "sigmoid_ce": "input: 5\naffine(6) -> tanh -> affine(2) -> sigmoid_ce",
    "mse": "input: 5\naffine(6) -> tanh -> affine(2) -> mse",
}


def _targets(spec: str, t: np.ndarray) -> np.ndarray:
    if spec.endswith("sigmoid_ce"):
        return np.stack([t % 2, t // 2 % 2], axis=1).astype(float)
    if spec.endswith("mse"):
        return np.stack([t * 0.5, -t * 0.25], axis=1)
    return t


def _fit_both(spec: str, width: int, **options):
    x, t = _data(width, 3)
    t = _targets(spec, t)
    nets, histories = {}, {}
    for backend in ("numpy", "numba"):
        net = netc.compile(spec, dtype="float64", backend=backend)
        histories[backend] = net.fit(x, t, epochs=3, batch_size=16, verbose=0, **options)
        nets[backend] = net
    return nets, histories


def _assert_same(nets, histories, rtol=1e-9):
    for key, p in nets["numpy"].params.items():
        np.testing.assert_allclose(nets["numba"].params[key], p, rtol=rtol, atol=1e-12,
                                   err_msg=key)
    a, b = histories["numpy"].history, histories["numba"].history
    np.testing.assert_allclose(b["train_loss"], a["train_loss"], rtol=rtol)
    if "train_acc" in a:
        assert b["train_acc"] == a["train_acc"]


@pytest.mark.parametrize("name", OPS)
def test_jit_each_op_trains_as_numpy_does(name):
    spec = OPS[name]
    width = {"wide (BLAS products)": 40, "conv+pool2+flatten": 128, "conv pad, stride": 81,
             "dropout on images": 72, "batchnorm on images": 50}
    nets, histories = _fit_both(spec, width.get(name, 5), optimizer="sgd", lr=0.1)
    _assert_same(nets, histories)


@pytest.mark.parametrize("optimizer,options", [
    ("momentum", {}), ("nesterov", {}), ("adagrad", {}), ("rmsprop", {}), ("adam", {}),
    ("sgd", {"weight_decay": 0.01}),  # DLFS's decay, weights only: the mask
    ("adam", {"weight_decay": 0.01, "wd_all": True}),  # in the kernel
    ("sgd", {"clip": 0.05}),
])
def test_jit_each_optimizer_updates_as_numpy_does(optimizer, options):
    nets, histories = _fit_both(OPS["affine+sigmoid"], 5, optimizer=optimizer, lr=0.05,
                                **options)
    _assert_same(nets, histories)


def test_jit_spiral_float32_agrees_within_rounding_and_is_deterministic():
    path = str(ROOT / "specs" / "spiral.net")
    (x, t), _ = netc.datasets.load_spiral()
    runs = {}
    for backend in ("numpy", "numba", "numba"):
        net = netc.load(path, backend=backend)
        history = net.fit(x, t, verbose=0, epochs=60)
        runs.setdefault(backend, []).append((net.flat_params.copy(), history.last))
    (numpy_params, numpy_last), = runs["numpy"]
    (first, last1), (second, last2) = runs["numba"]
    assert np.array_equal(first, second) and last1["train_loss"] == last2["train_loss"]
    np.testing.assert_allclose(first, numpy_params, rtol=2e-3, atol=2e-5)
    assert abs(last1["train_loss"] - numpy_last["train_loss"]) < 1e-4
    assert abs(last1["train_acc"] - numpy_last["train_acc"]) <= 1 / 300


def test_jit_checkpoints_move_between_backends(tmp_path):
    spec, (x, t) = OPS["tanh+relu+leaky"], _data(5, 3)
    whole = netc.compile(spec, dtype="float64")
    whole.fit(x, t, epochs=4, batch_size=16, optimizer="adam", verbose=0)
    for first, then in (("numba", "numpy"), ("numpy", "numba")):
        ck = tmp_path / f"{first}.npz"
        net = netc.compile(spec, dtype="float64", backend=first)
        net.fit(x, t, epochs=2, batch_size=16, optimizer="adam", verbose=0, checkpoint=ck)
        resumed = netc.compile(spec, dtype="float64", backend=then)
        resumed.fit(x, t, epochs=4, batch_size=16, optimizer="adam", verbose=0, resume=ck)
        np.testing.assert_allclose(resumed.flat_params, whole.flat_params, rtol=1e-9)


def test_jit_falls_back_to_numpy_for_an_op_it_does_not_compile_and_says_so_once():
    spec = "input: 5\naffine(6) -> repeat(2) -> sum(2) -> affine(3) -> softmax_ce"
    x, t = _data(5, 3)
    ref = netc.compile(spec)
    ref.fit(x, t, epochs=2, batch_size=16, verbose=0)
    net = netc.compile(spec, backend="numba")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.fit(x, t, epochs=2, batch_size=16, verbose=0)
        net.fit(x, t, epochs=1, batch_size=16, verbose=0)
    notes = [str(w.message) for w in caught if issubclass(w.category, NetcWarning)]
    assert len(notes) == 1 and "repeat_forward (1.repeat at <string>:2:" in notes[0]
    assert "trains this network on NumPy" in notes[0]
    net2 = netc.compile(spec, backend="numba")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net2.fit(x, t, epochs=2, batch_size=16, verbose=0)
    assert np.array_equal(net2.flat_params, ref.flat_params)  # NumPy's run, bit for bit


def test_jit_language_model_on_streams_trains_on_numpy_and_says_why():
    spec = ("input: tokens(40)\ntrain: bptt=5, batch_size=4\noptimizer: sgd(lr=1)\n"
            "embed(8) -> lstm(8) -> affine(40) -> softmax_ce\n")
    ids = np.random.default_rng(0).integers(0, 40, 400)
    ref = netc.compile(spec)
    ref.fit(ids, epochs=1, verbose=0)
    net = netc.compile(spec, backend="numba")
    with pytest.warns(NetcWarning, match=r"truncated BPTT \(train: bptt=\) is not compiled"):
        net.fit(ids, epochs=1, verbose=0)
    assert np.array_equal(net.flat_params, ref.flat_params)


@pytest.mark.parametrize("case", ["bad input", "diverged"])
def test_jit_divergence_is_reported_as_numpy_reports_it(case):
    spec = OPS["wide (BLAS products)"].replace("affine(3) -> softmax_ce", "affine(2) -> mse")
    x, t = _data(40, 3)
    t = _targets(spec, t) * 1e3
    if case == "bad input":
        x[37, 2] = np.inf  # in the third mini-batch of the first epoch
    messages = []
    for backend in ("numpy", "numba"):
        net = netc.compile(spec, dtype="float64", backend=backend)
        with pytest.raises(NetcError) as e:
            net.fit(x, t, epochs=30, batch_size=16, optimizer="sgd", lr=1e3, verbose=0)
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    assert ("sample 37" if case == "bad input" else "training diverged") in messages[0]


def test_jit_backend_from_the_spec_and_refused_when_unknown():
    net = netc.compile("input: 2\ntrain: backend=numba\naffine(3) -> softmax_ce")
    assert net.backend == "numba"
    with pytest.raises(NetcError) as e:
        netc.compile("input: 2\ntrain: backend=numbaa\naffine(3) -> softmax_ce")
    assert "2:" in str(e.value) and "backend" in str(e.value)
    with pytest.raises(ValueError, match="backend must be one of numpy, numba"):
        netc.compile("input: 2\naffine(3) -> softmax_ce", backend="jax")
    x, t = _data(2, 3)
    with pytest.raises(ValueError, match="fit: backend must be one of"):
        netc.compile("input: 2\naffine(3) -> softmax_ce").fit(x, t, backend="cuda", verbose=0)


def test_jit_missing_numba_says_how_to_install(monkeypatch):
    from netc.runtime import jit

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"pip install 'netc\[jit\]'"):
        jit.load_module("x = 1\n")


def _cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "netc", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)


def test_jit_cli_run_compiles_once_then_reads_the_cache(tmp_path):
    cache = {"NETC_CACHE_DIR": str(tmp_path)}
    first = _cli("run", "specs/spiral.net", "--backend", "numba", "--epochs", "20", "--quiet",
                 env_extra=cache)
    assert first.returncode == 0, first.stderr
    assert "compiling the numba backend" in first.stderr
    assert list((tmp_path / "jit" / "__pycache__").glob("*.nbi"))  # Numba's own index
    second = _cli("run", "specs/spiral.net", "--backend", "numba", "--epochs", "20",
                  "--quiet", env_extra=cache)
    assert second.returncode == 0 and "compiling" not in second.stderr
    numpy_run = _cli("run", "specs/spiral.net", "--epochs", "20", "--quiet")
    figures = [r.stdout.split(": ", 1)[1] for r in (first, second, numpy_run)]
    assert "train loss" in figures[0] and figures[0] == figures[1] == figures[2]
    info = _cli("cache", "info", env_extra=cache)
    assert "1 compiled module" in info.stdout
    cleared = _cli("cache", "clear", env_extra=cache)
    assert cleared.returncode == 0 and "removed 1 compiled module" in cleared.stdout
    assert not (tmp_path / "jit").exists()


def test_jit_emit_numba_is_the_module_that_trains(tmp_path):
    out = tmp_path / "spiral_jit.py"
    done = _cli("compile", "specs/spiral.net", "--emit", "numba", "-o", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "def train_steps(" in text and "from numba import njit" in text
    assert "netc" not in text.split('"""', 2)[2].split("def ")[0]  # imports numpy, numba only
    spec = importlib.util.spec_from_file_location("spiral_jit", out)
    module = importlib.util.module_from_spec(spec)
    sys.modules["spiral_jit"] = module
    spec.loader.exec_module(module)
    net = netc.load(ROOT / "specs" / "spiral.net")
    ref = netc.load(ROOT / "specs" / "spiral.net")
    (x, t), _ = netc.datasets.load_spiral()
    x = x.astype(np.float32)
    perm = np.arange(300)
    losses = np.empty(10)
    buffers = module.make_buffers(30, x, t)
    done_steps = module.train_steps(buffers, 30, tuple(net.params.values()),
                                    tuple(net.grads.values()), (), x, t, perm, 0, 10, 30,
                                    1.0 / 30, net.flat_params,
                                    net.flat_grads, (), np.zeros(0), 0, 0.0,
                                    np.zeros(0, np.float32), losses, np.zeros(0, np.intp),
                                    np.zeros(0), np.random.default_rng(0))
    assert done_steps == 10
    forward, loss, backward = ref.passes(30)[:3]
    for s in range(10):
        xb, tb = x[s * 30:(s + 1) * 30], t[s * 30:(s + 1) * 30]
        forward(xb, True)
        assert abs(loss(tb) - losses[s]) < 1e-5
        backward(xb, tb, None, 1.0 / 30)
        ref.flat_params -= ref.flat_grads
    np.testing.assert_allclose(net.flat_params, ref.flat_params, rtol=1e-4, atol=1e-6)


def test_jit_emit_numba_refuses_a_network_it_does_not_cover_with_the_place():
    done = _cli("compile", "specs/rnnlm.net", "--emit", "numba")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "embed_forward (0.embed at specs/rnnlm.net:8:1)" in done.stderr


SPECS = sorted((ROOT / "specs").glob("*.net"))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_jit_shipped_spec_trains_as_numpy_does_or_says_why_not(path):
    from netc.runtime.jit import unsupported

    plan = netc.plan(path.read_text(), path=f"specs/{path.name}")
    reason = unsupported(plan)
    if reason is not None:  # it trains on NumPy; the reason points into the spec
        assert f"at specs/{path.name}:" in reason and "has no compiled kernel yet" in reason
        return
    rng = np.random.default_rng(3)
    x = rng.random((48, plan.input_width))
    t = rng.integers(0, plan.loss.n_out, 48)
    nets, histories = {}, {}
    for backend in ("numpy", "numba"):
        net = netc.load(path, dtype="float64", backend=backend)
        histories[backend] = net.fit(x, t, epochs=2, batch_size=16, verbose=0)
        nets[backend] = net
    _assert_same(nets, histories)
