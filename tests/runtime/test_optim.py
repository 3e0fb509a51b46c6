"""Update kernels against hand-computed DLFS updates, plus the Optimizer wrapper."""

from __future__ import annotations

import dataclasses
import dis
import inspect
import math

import numpy as np
import pytest

from netc.runtime import optim
from netc.runtime.optim import OPTIMIZERS, Optimizer

P0 = [1.0, -2.0]
GRADS = ([0.5, -1.0], [0.2, 0.4], [-0.3, 0.1])


def _run(name: str, steps: int, dtype=np.float64, **hyper) -> tuple[np.ndarray, Optimizer]:
    p = np.array(P0, dtype=dtype)
    opt = Optimizer(name, **hyper)
    for g in GRADS[:steps]:
        opt.update({"w": p}, {"w": np.array(g, dtype=dtype)})
    return p, opt


def _close(actual: np.ndarray, expected: list[float]) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


def test_sgd_update_hand_computed():
    p, _ = _run("sgd", 2, lr=0.1)
    _close(p, [1.0 - 0.1 * 0.5 - 0.1 * 0.2, -2.0 + 0.1 * 1.0 - 0.1 * 0.4])


def test_momentum_update_hand_computed():
    p, opt = _run("momentum", 3, lr=0.1, momentum=0.9)
    expected, vs = [], []
    for x, g_seq in zip(P0, zip(*GRADS, strict=True), strict=True):
        v = 0.0
        for g in g_seq:
            v = 0.9 * v - 0.1 * g
            x += v
        expected.append(x)
        vs.append(v)
    _close(p, expected)
    _close(opt.state["v"]["w"], vs)


def test_nesterov_update_hand_computed():
    p, _ = _run("nesterov", 3, lr=0.1, momentum=0.9)
    expected = []
    for x, g_seq in zip(P0, zip(*GRADS, strict=True), strict=True):
        v = 0.0
        for g in g_seq:
            v = 0.9 * v - 0.1 * g
            x += 0.9 * 0.9 * v - (1 + 0.9) * 0.1 * g
        expected.append(x)
    _close(p, expected)


def test_nesterov_update_first_step_numbers():
    p, _ = _run("nesterov", 1, lr=0.1, momentum=0.5)
    # v = -0.05, 0.1; p += 0.25*v - 1.5*0.1*g
    _close(p, [1.0 - 0.0125 - 0.075, -2.0 + 0.025 + 0.15])


def test_adagrad_update_hand_computed():
    p, opt = _run("adagrad", 3, lr=0.1, eps=1e-7)
    expected, hs = [], []
    for x, g_seq in zip(P0, zip(*GRADS, strict=True), strict=True):
        h = 0.0
        for g in g_seq:
            h += g * g
            x -= 0.1 * g / (math.sqrt(h) + 1e-7)
        expected.append(x)
        hs.append(h)
    _close(p, expected)
    _close(opt.state["h"]["w"], hs)


def test_rmsprop_update_hand_computed():
    p, _ = _run("rmsprop", 3, lr=0.01, decay=0.9, eps=1e-7)
    expected = []
    for x, g_seq in zip(P0, zip(*GRADS, strict=True), strict=True):
        h = 0.0
        for g in g_seq:
            h = 0.9 * h + 0.1 * g * g
            x -= 0.01 * g / (math.sqrt(h) + 1e-7)
        expected.append(x)
    _close(p, expected)


def test_adam_update_hand_computed():
    p, opt = _run("adam", 3, lr=0.01)
    expected = []
    for x, g_seq in zip(P0, zip(*GRADS, strict=True), strict=True):
        m = v = 0.0
        for t, g in enumerate(g_seq, start=1):
            lr_t = 0.01 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
            m += 0.1 * (g - m)
            v += 0.001 * (g * g - v)
            x -= lr_t * m / (math.sqrt(v) + 1e-7)
        expected.append(x)
    _close(p, expected)
    assert opt.step == 3


def test_adam_update_first_step_moves_by_lr():
    # Bias correction makes Adam's first step lr * sign(g), up to eps.
    p, _ = _run("adam", 1, lr=0.001)
    np.testing.assert_allclose(p, [1.0 - 0.001, -2.0 + 0.001], rtol=1e-6)


def _call(info, p, g, state, step=1, wd=0.0):
    hyper = [v for k, v in info.hyper if k != "wd"]
    tail = [step, wd] if info.counts_steps else [wd]
    info.kernel(p, g, *state, *hyper, *tail)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_kernel_updates_in_place(name):
    info = OPTIMIZERS[name]
    p = np.array(P0)
    state = [np.full_like(p, 0.25) for _ in info.state]
    ids = [id(p)] + [id(s) for s in state]
    before = p.copy()
    _call(info, p, np.array(GRADS[0]), state)
    assert [id(p)] + [id(s) for s in state] == ids
    assert not np.array_equal(p, before)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_kernel_keeps_float32(name):
    p, opt = _run(name, 3, dtype=np.float32, wd=0.01)
    assert p.dtype == np.float32
    for arrays in opt.state.values():
        assert arrays["w"].dtype == np.float32
    p64, _ = _run(name, 3, wd=0.01)
    np.testing.assert_allclose(p, p64, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_kernel_weight_decay_adds_wd_times_p(name):
    wd = 0.1
    with_wd, _ = _run(name, 2, wd=wd)
    # Same run with the decay folded into the gradients by hand.
    p = np.array(P0)
    opt = Optimizer(name)
    for g in GRADS[:2]:
        opt.update({"w": p}, {"w": np.array(g) + wd * p})
    np.testing.assert_array_equal(with_wd, p)
    without, _ = _run(name, 2)
    assert not np.allclose(with_wd, without)


def test_sgd_update_weight_decay_numbers():
    p, _ = _run("sgd", 1, lr=0.1, wd=0.5)
    _close(p, [1.0 - 0.1 * (0.5 + 0.5 * 1.0), -2.0 - 0.1 * (-1.0 + 0.5 * -2.0)])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_kernel_source_runs_standalone(name):
    kernel = OPTIMIZERS[name].kernel
    namespace = {"np": np, "__builtins__": {}}
    exec(inspect.getsource(kernel), namespace)
    copy = namespace[kernel.__name__]
    info = OPTIMIZERS[name]
    p1, p2 = np.array(P0), np.array(P0)
    s1 = [np.full_like(p1, 0.25) for _ in info.state]
    s2 = [s.copy() for s in s1]
    _call(info, p1, np.array(GRADS[0]), s1, step=2, wd=0.1)
    _call(dataclasses.replace(info, kernel=copy), p2, np.array(GRADS[0]), s2, step=2, wd=0.1)
    np.testing.assert_array_equal(p1, p2)
    for a, b in zip(s1, s2, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_kernel_references_only_np(name):
    code = OPTIMIZERS[name].kernel.__code__
    loads = ("LOAD_GLOBAL", "LOAD_NAME")
    globals_used = {ins.argval for ins in dis.get_instructions(code) if ins.opname in loads}
    assert globals_used <= {"np"}
    module_globals = set(vars(optim)) - {"np"}
    assert not (set(code.co_names) - set(dir(np)) - {"np"}) & module_globals
    assert not any(inspect.iscode(c) for c in code.co_consts)


def test_optimizer_table_matches_kernel_signatures():
    for name, info in OPTIMIZERS.items():
        params = list(inspect.signature(info.kernel).parameters)
        hyper = [k for k, _ in info.hyper]
        assert hyper[-1] == "wd" and dict(info.hyper)["wd"] == 0.0
        step = ["step"] if info.counts_steps else []
        assert params == ["p", "g", *info.state, *hyper[:-1], *step, "wd"], name
        assert info.name == name and info.description


def test_optimizer_defaults_follow_dlfs():
    assert dict(OPTIMIZERS["adam"].hyper) == {
        "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "wd": 0.0
    }
    assert dict(OPTIMIZERS["rmsprop"].hyper) == {"lr": 0.01, "decay": 0.99, "eps": 1e-7, "wd": 0.0}
    assert dict(OPTIMIZERS["momentum"].hyper)["momentum"] == 0.9


def test_optimizer_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'.*adagrad, adam, momentum"):
        Optimizer("adamw")


def test_optimizer_unknown_hyper_lists_valid():
    with pytest.raises(ValueError, match="'beta3'.*lr, beta1, beta2, eps, wd"):
        Optimizer("adam", beta3=0.5)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_state_dict_round_trip_continues_identically(name):
    p_ref, ref = _run(name, 2, lr=0.05)
    p = np.array(P0)
    first = Optimizer(name, lr=0.05)
    first.update({"w": p}, {"w": np.array(GRADS[0])})
    saved = first.state_dict()
    assert saved["step"].shape == () and saved["step"].dtype == np.int64
    assert sorted(saved) == sorted([f"{s}/w" for s in OPTIMIZERS[name].state] + ["step"])
    resumed = Optimizer(name, lr=0.05)
    resumed.load_state_dict(saved)
    first.update({"w": p.copy()}, {"w": np.array(GRADS[1])})  # must not touch `saved`
    resumed.update({"w": p}, {"w": np.array(GRADS[1])})
    np.testing.assert_array_equal(p, p_ref)
    for key, array in ref.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], array)


def test_optimizer_load_state_dict_rejects_foreign_state():
    state = Optimizer("adam").state_dict()
    state["m/w"] = np.zeros(2)
    with pytest.raises(ValueError, match="'m/w' does not belong to 'momentum'"):
        Optimizer("momentum").load_state_dict(state)
    with pytest.raises(ValueError, match="no 'step'"):
        Optimizer("adam").load_state_dict({})


def test_optimizer_update_rejects_state_of_wrong_shape():
    opt = Optimizer("momentum")
    opt.load_state_dict({"step": np.array(1), "v/w": np.zeros(3)})
    with pytest.raises(ValueError, match="v/w has shape"):
        opt.update({"w": np.zeros(2)}, {"w": np.zeros(2)})


def test_optimizer_update_keeps_param_order_keys():
    opt = Optimizer("adam")
    params = {"0.affine.W": np.ones((2, 2)), "0.affine.b": np.ones(2)}
    opt.update(params, {k: np.ones_like(v) for k, v in params.items()})
    assert list(opt.state_dict()) == [
        "m/0.affine.W", "m/0.affine.b", "v/0.affine.W", "v/0.affine.b", "step"
    ]


# --- the update plan the trainer generates ------------------------------------------------


def test_plain_sgd_plans_the_prescaled_update_and_folds_lr_into_the_gradient():
    plan = optim.plan_update(OPTIMIZERS["sgd"], {"lr": 0.25, "wd": 0.0})
    assert plan.kernel is optim.sgd_prescaled_update and plan.grad_scale == 0.25
    assert plan.state == () and plan.hyper == ()
    p, g = np.array(P0), np.array(GRADS[0]) * 0.25
    plan.kernel(p, g)
    _close(p, [1.0 - 0.125, -2.0 + 0.25])


@pytest.mark.parametrize(("name", "hyper"), [("sgd", {"lr": 0.1, "wd": 0.01}),
                                             ("momentum", {"lr": 0.1, "momentum": 0.9, "wd": 0})])
def test_other_updates_take_the_plain_gradient(name, hyper):
    plan = optim.plan_update(OPTIMIZERS[name], hyper)
    assert plan.kernel is OPTIMIZERS[name].kernel and plan.grad_scale == 1.0
    assert plan.hyper == tuple(float(v) for v in hyper.values())


def test_hyper_values_fill_defaults_and_name_an_unknown_setting():
    assert optim.hyper_values(OPTIMIZERS["adam"], 0.5, {"weight_decay": 0.1}) == {
        "lr": 0.5, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "wd": 0.1}
    with pytest.raises(ValueError, match="sgd has no hyper-parameter 'beta1'; it takes lr, wd"):
        optim.hyper_values(OPTIMIZERS["sgd"], None, {"beta1": 0.8})
