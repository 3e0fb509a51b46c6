"""Tests for runtime/kernels.py: references, numeric gradients, dtype, aliasing, standalone."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from netc.runtime import image_kernels, kernels, sampling_kernels, sequence_kernels

H = 1e-6
TOL = 1e-7
# Every registered kernel by name, as the generated passes look them up: the image kernels
# live in image_kernels.py and are reached through the registry, not as `kernels` attributes.
K = SimpleNamespace(**kernels.KERNELS)
Arrays = dict[str, NDArray]


def numeric_grad(f: Callable[[], float], a: NDArray, h: float = H) -> NDArray:
    """Central difference of the scalar f() for every entry of `a`, perturbed in place."""
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        orig = a[idx]
        a[idx] = orig + h
        f_plus = f()
        a[idx] = orig - h
        f_minus = f()
        a[idx] = orig
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(got: NDArray, want: NDArray) -> float:
    """Max abs difference relative to the larger array's magnitude (robust to near-zero entries)."""
    scale = max(float(np.max(np.abs(got))), float(np.max(np.abs(want))), 1e-12)
    return float(np.max(np.abs(got - want))) / scale


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> NDArray:
    # Kinks at 0 (relu, leaky relu) would spoil the central difference.
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.0, size=shape)


@dataclass
class Case:
    """One layer op, as data: input shapes, output shape, and the kernels' argument names."""

    inputs: dict[str, tuple[int, ...]]
    y_shape: tuple[int, ...]
    fwd: str
    bwd: str
    reference: Callable[[Arrays], NDArray]
    elementwise: bool = False
    extras: dict[str, tuple[int, ...]] = field(default_factory=dict)
    consts: dict[str, Any] = field(default_factory=dict)  # this case's non-array arguments
    backward: str = ""  # the backward kernel, where not `<op>_backward`

    @property
    def backward_kernel(self) -> str:
        return self.backward or f"{self.fwd.split()[0]}_backward"


BOOL_EXTRAS = {"right", "lower"}  # pool2's winners: the passes allocate them as bool
# Non-array arguments, shared by every case; "rng" is re-seeded on every run so masks repeat.
CONSTS = {"alpha": 0.1, "p": 0.5, "train": True, "momentum": 0.9, "eps": 1e-5, "n": 3}


def run(case: Case, k: Any, a: Arrays, dy: NDArray | None = None, inplace: bool = False,
        **overrides: Any) -> dict[str, Any]:
    """Forward (and backward when dy is given) through namespace `k`; returns every buffer."""
    dtype = a["x"].dtype
    buf = {**CONSTS, **case.consts, **a, "rng": np.random.default_rng(7),
           "y": np.empty(case.y_shape, dtype), "ones": np.ones(len(a["x"]), dtype),
           "running_mean": np.zeros(4, dtype), "running_var": np.ones(4, dtype)}
    buf.update({name: np.empty(shape, bool if name in BOOL_EXTRAS else dtype)
                for name, shape in case.extras.items()}, **overrides)
    op = case.fwd.split()[0]
    getattr(k, f"{op}_forward")(*(buf[name] for name in case.fwd.split()[1:]))
    if dy is None:
        return buf
    buf["dy"] = dy
    # inplace: the backward gets dx is dy, as the generated passes may arrange.
    buf.update({f"d{n}": dy if inplace and n == "x" else np.empty_like(v) for n, v in a.items()})
    getattr(k, case.backward_kernel)(*(buf[name] for name in case.bwd.split()))
    return buf


def grads(case: Case, buf: dict[str, Any]) -> Arrays:
    return {name: buf[f"d{name}"] for name in case.inputs}


def _bn_ref(a: Arrays) -> NDArray:
    x = a["x"]
    return a["gamma"] * (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5) + a["beta"]


def _bn_image_ref(a: Arrays) -> NDArray:
    # Channel-major (c, n, h, w): statistics per channel over the batch and every position.
    x, per = a["x"], (slice(None), None, None, None)
    mu, var = x.mean(axis=(1, 2, 3), keepdims=True), x.var(axis=(1, 2, 3), keepdims=True)
    return a["gamma"][per] * (x - mu) / np.sqrt(var + 1e-5) + a["beta"][per]


def _windows(x: NDArray, size: tuple[int, int], stride: tuple[int, int],
             pad: tuple[int, int] = (0, 0)) -> NDArray:
    """Every window of channel-major images (c, n, h, w) as (c, n, oh, ow, kh, kw), by NumPy's
    sliding_window_view rather than the kernels' slab copies; windows past the edge drop."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    view = np.lib.stride_tricks.sliding_window_view(xp, size, axis=(2, 3))
    return view[:, :, ::stride[0], ::stride[1]]


def _conv_ref(a: Arrays, stride: tuple[int, int], pad: tuple[int, int]) -> NDArray:
    cols = _windows(a["x"], a["W"].shape[2:], stride, pad)
    return np.einsum("cnhwij,fcij->fnhw", cols, a["W"]) + a["b"][:, None, None, None]


def _pool_ref(a: Arrays, size: tuple[int, int], stride: tuple[int, int], mode: str) -> NDArray:
    cols = _windows(a["x"], size, stride)
    return cols.max(axis=(4, 5)) if mode == "max" else cols.mean(axis=(4, 5))


def _dropout_ref(a: Arrays) -> NDArray:
    u = np.random.default_rng(7).random(a["x"].shape, dtype=a["x"].dtype)
    return a["x"] * (u >= 0.5) / 0.5


def _sigmoid(x: NDArray) -> NDArray:
    return 1 / (1 + np.exp(-x))


def _softmax(x: NDArray) -> NDArray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ACT = {"x": (4, 5)}
CASES: dict[str, Case] = {
    "affine": Case({"x": (4, 3), "W": (3, 5), "b": (5,)}, (4, 5), "affine x W b y",
                   "dy x W dx dW db ones", lambda a: a["x"] @ a["W"] + a["b"]),
    "matmul": Case({"x": (4, 3), "W": (3, 5)}, (4, 5), "matmul x W y", "dy x W dx dW",
                   lambda a: a["x"] @ a["W"]),
    "sigmoid": Case(ACT, (4, 5), "sigmoid x y", "dy y dx", lambda a: _sigmoid(a["x"]), True),
    "tanh": Case(ACT, (4, 5), "tanh x y", "dy y dx", lambda a: np.tanh(a["x"]), True),
    "relu": Case(ACT, (4, 5), "relu x y", "dy y dx", lambda a: np.maximum(a["x"], 0), True),
    "leaky_relu": Case(ACT, (4, 5), "leaky_relu x y alpha", "dy x dx alpha",
                       lambda a: np.where(a["x"] > 0, a["x"], 0.1 * a["x"]), True),
    "softmax": Case(ACT, (4, 5), "softmax x y", "dy y dx", lambda a: _softmax(a["x"]), True),
    "dropout": Case(ACT, (4, 5), "dropout x y mask p rng train", "dy mask dx", _dropout_ref, True,
                    {"mask": (4, 5)}),
    "batchnorm": Case({"x": (6, 4), "gamma": (4,), "beta": (4,)}, (6, 4),
                      "batchnorm x gamma beta running_mean running_var y xhat inv_std momentum eps "
                      "train", "dy xhat inv_std gamma dx dgamma dbeta", _bn_ref, True,
                      {"xhat": (6, 4), "inv_std": (4,)}),
    "repeat": Case({"x": (2, 4)}, (2, 12), "repeat x y n", "dy dx n",
                   lambda a: np.tile(a["x"], (1, 3))),
    "sum": Case({"x": (2, 12)}, (2, 4), "sum x y n", "dy dx n",
                lambda a: a["x"][:, :4] + a["x"][:, 4:8] + a["x"][:, 8:]),
    # Image kernels (image_kernels.py) take channel-major images: x (c, n, h, w).
    "batchnorm_image": Case({"x": (4, 3, 2, 2), "gamma": (4,), "beta": (4,)}, (4, 3, 2, 2),
                            "batchnorm x gamma beta running_mean running_var y xhat inv_std "
                            "momentum eps train", "dy xhat inv_std gamma dx dgamma dbeta",
                            _bn_image_ref, True, {"xhat": (4, 3, 2, 2), "inv_std": (4,)}),
    # 2x3 kernels, stride 2x1 and pad 1: 6x6 images -> (6 + 2 - 2) / 2 + 1 = 4 rows, 6 columns.
    "conv": Case({"x": (2, 3, 6, 6), "W": (4, 2, 2, 3), "b": (4,)}, (4, 3, 4, 6),
                 "conv x W b y col xpad stride pad", "dy col W dx dW db xpad stride pad",
                 lambda a: _conv_ref(a, (2, 1), (1, 1)),
                 extras={"col": (12, 3, 24), "xpad": (2, 3, 8, 8)},
                 consts={"stride": (2, 1), "pad": (1, 1)}),
    "conv_unpadded": Case({"x": (3, 2, 5, 5), "W": (2, 3, 3, 3), "b": (2,)}, (2, 2, 3, 3),
                          "conv x W b y col xpad stride pad", "dy col W dx dW db xpad stride pad",
                          lambda a: _conv_ref(a, (1, 1), (0, 0)),
                          extras={"col": (27, 2, 9), "xpad": (0,)},
                          consts={"stride": (1, 1), "pad": (0, 0)}),
    # Stride 1: dx as the padded gradient correlated with the flipped filters. A 2x3 kernel
    # with pad 1x2 (gradient border 0 rows, 0 columns) and one with pad 0 (border 1x2); col
    # holds the larger of the two column sets (forward: 2*2*3 rows of 5*6 per image; backward
    # 4*2*3 rows of 5*6).
    "conv_stride1": Case({"x": (2, 3, 5, 6), "W": (4, 2, 2, 3), "b": (4,)}, (4, 3, 6, 8),
                         "conv x W b y col xpad stride pad", "dy col W dx dW db gpad pad",
                         lambda a: _conv_ref(a, (1, 1), (1, 2)),
                         extras={"col": (3, 4 * 2 * 3 * 30), "xpad": (2, 3, 7, 10),
                                 "gpad": (0,)},
                         consts={"stride": (1, 1), "pad": (1, 2)},
                         backward="conv_backward_stride1"),
    "conv_stride1_unpadded": Case({"x": (3, 2, 5, 6), "W": (2, 3, 2, 3), "b": (2,)},
                                  (2, 2, 4, 4), "conv x W b y col xpad stride pad",
                                  "dy col W dx dW db gpad pad",
                                  lambda a: _conv_ref(a, (1, 1), (0, 0)),
                                  extras={"col": (2, 2 * 2 * 3 * 30), "xpad": (0,),
                                          "gpad": (2, 2, 6, 8)},
                                  consts={"stride": (1, 1), "pad": (0, 0)},
                                  backward="conv_backward_stride1"),
    # Overlapping windows (3, stride 2); 7x6 images, so the last column is in no window.
    "pool_max": Case({"x": (2, 3, 7, 6)}, (2, 3, 3, 2), "pool x y size stride mode",
                     "dy x y dx size stride mode", lambda a: _pool_ref(a, (3, 3), (2, 2), "max"),
                     consts={"size": (3, 3), "stride": (2, 2), "mode": "max"}),
    # Windows that tile the input exactly (the kernel may then write dx without zeroing it).
    "pool_tiled": Case({"x": (2, 3, 4, 6)}, (2, 3, 2, 3), "pool x y size stride mode",
                       "dy x y dx size stride mode", lambda a: _pool_ref(a, (2, 2), (2, 2), "max"),
                       consts={"size": (2, 2), "stride": (2, 2), "mode": "max"}),
    # pool(2) on even sizes runs as pool2: winners kept in bool buffers instead of x and y.
    "pool2": Case({"x": (2, 3, 4, 6)}, (2, 3, 2, 3), "pool2 x y lower right",
                  "dy lower right dx", lambda a: _pool_ref(a, (2, 2), (2, 2), "max"),
                  extras={"lower": (2, 3, 2, 6), "right": (2, 3, 2, 3)}),
    "pool_avg_floor": Case({"x": (2, 2, 5, 5)}, (2, 2, 2, 2), "pool x y size stride mode",
                           "dy x y dx size stride mode",
                           lambda a: _pool_ref(a, (2, 2), (2, 2), "avg"),
                           consts={"size": (2, 2), "stride": (2, 2), "mode": "avg"}),
    "pool_avg": Case({"x": (2, 2, 4, 5)}, (2, 2, 3, 2), "pool x y size stride mode",
                     "dy x y dx size stride mode", lambda a: _pool_ref(a, (2, 3), (1, 2), "avg"),
                     consts={"size": (2, 3), "stride": (1, 2), "mode": "avg"}),
    "global_avg_pool": Case({"x": (3, 2, 4, 5)}, (2, 3), "global_avg_pool x y", "dy dx",
                            lambda a: a["x"].mean(axis=(2, 3)).T),
}


def make_inputs(case: Case, dtype: type = np.float64) -> Arrays:
    r = np.random.default_rng(0)
    return {name: away_from_zero(r, shape).astype(dtype) for name, shape in case.inputs.items()}


def test_numeric_grad_divides_by_two_h() -> None:
    a = np.array([[1.0, -2.0], [3.0, 0.5]])
    assert np.allclose(numeric_grad(lambda: float(np.sum(a**3)), a), 3 * a**2, rtol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", CASES)
def test_kernels_forward_matches_reference_and_keeps_dtype(name: str, dtype: type) -> None:
    case = CASES[name]
    a = make_inputs(case, dtype)
    buf = run(case, K, a, dy=np.ones(case.y_shape, dtype))
    arrays = [v for k, v in buf.items() if isinstance(v, np.ndarray) and k not in BOOL_EXTRAS]
    assert all(v.dtype == dtype for v in arrays)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(buf["y"], case.reference(a), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", CASES)
def test_kernels_backward_matches_numeric_gradient(name: str) -> None:
    case = CASES[name]
    a = make_inputs(case)
    w = np.random.default_rng(1).normal(size=case.y_shape)
    got = grads(case, run(case, K, a, dy=w.copy()))
    for key in case.inputs:
        want = numeric_grad(lambda: float(np.sum(run(case, K, a)["y"] * w)), a[key])
        assert rel_error(got[key], want) < TOL, key


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.elementwise])
def test_kernels_inplace_backward_matches_separate(name: str) -> None:
    case = CASES[name]
    a = make_inputs(case)
    dy = np.random.default_rng(2).normal(size=case.y_shape)
    separate = grads(case, run(case, K, a, dy=dy.copy()))
    dy_buf = dy.copy()
    inplace = grads(case, run(case, K, a, dy=dy_buf, inplace=True))
    assert inplace["x"] is dy_buf
    for key in separate:
        np.testing.assert_array_equal(inplace[key], separate[key])


def test_affine_backward_skips_dx_when_none() -> None:
    r = np.random.default_rng(3)
    x, W, dy = r.normal(size=(4, 3)), r.normal(size=(3, 5)), r.normal(size=(4, 5))
    dW, db = np.empty_like(W), np.empty(5)
    kernels.affine_backward(dy, x, W, None, dW, db, np.ones(4))
    np.testing.assert_allclose(dW, x.T @ dy)
    np.testing.assert_allclose(db, dy.sum(axis=0))


@pytest.mark.parametrize("name", CASES)
def test_kernels_backward_writes_every_gradient_element(name: str) -> None:
    # Gradient buffers are reused across steps: a value a kernel leaves unwritten is stale.
    case = CASES[name]
    a = make_inputs(case)
    buf = run(case, K, a)
    buf["dy"] = np.random.default_rng(6).normal(size=case.y_shape)
    buf.update({f"d{n}": np.full_like(v, np.nan) for n, v in a.items()})
    getattr(K, case.backward_kernel)(*(buf[arg] for arg in case.bwd.split()))
    for n in a:
        assert not np.isnan(buf[f"d{n}"]).any(), n


@pytest.mark.parametrize("name", ["conv", "conv_unpadded", "conv_stride1",
                                  "conv_stride1_unpadded", "pool_max", "pool_tiled", "pool2",
                                  "pool_avg", "pool_avg_floor", "global_avg_pool",
                                  "batchnorm_image"])
def test_image_kernels_backward_skips_dx_when_none(name: str) -> None:
    # The first layer's input gradient is never needed: None skips it, the rest is unchanged.
    case = CASES[name]
    a = make_inputs(case)
    dy = np.random.default_rng(3).normal(size=case.y_shape)
    full = run(case, K, a, dy=dy.copy())
    buf = run(case, K, a)
    buf.update({"dy": dy.copy(), "dx": None},
               **{f"d{n}": np.empty_like(v) for n, v in a.items() if n != "x"})
    getattr(K, case.backward_kernel)(*(buf[arg] for arg in case.bwd.split()))
    for key in case.inputs:
        if key != "x":
            np.testing.assert_array_equal(buf[f"d{key}"], full[f"d{key}"])


@pytest.mark.parametrize("train", [True, False])
def test_dropout_forward_drops_about_p_in_train_only(train: bool) -> None:
    x = np.ones((200, 100), np.float32)
    ys = [np.empty_like(x) for _ in range(2)]
    for y in ys:
        mask = np.empty_like(x)
        kernels.dropout_forward(x, y, mask, 0.3, np.random.default_rng(42), train)
    np.testing.assert_array_equal(ys[0], ys[1])  # same seed, same mask
    if not train:
        np.testing.assert_array_equal(ys[0], x)
        return
    assert abs(np.mean(ys[0] == 0) - 0.3) < 0.02
    np.testing.assert_allclose(ys[0][ys[0] != 0], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(ys[1], x * mask)


def test_dropout_backward_uses_mask() -> None:
    mask = np.array([[0.0, 2.0], [2.0, 0.0]])
    dx = np.empty_like(mask)
    kernels.dropout_backward(np.array([[1.0, 2.0], [3.0, 4.0]]), mask, dx)
    np.testing.assert_array_equal(dx, [[0.0, 4.0], [6.0, 0.0]])


def test_batchnorm_train_normalises_batch_and_updates_running_stats() -> None:
    case = CASES["batchnorm"]
    a = make_inputs(case)
    a["gamma"][:], a["beta"][:] = 1.0, 0.0
    buf = run(case, K, a)
    np.testing.assert_allclose(buf["y"].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(buf["y"].var(axis=0), 1.0, rtol=1e-4)
    np.testing.assert_allclose(buf["running_mean"], 0.1 * a["x"].mean(axis=0))
    np.testing.assert_allclose(buf["running_var"], 0.9 + 0.1 * a["x"].var(axis=0))


def test_batchnorm_eval_uses_running_stats() -> None:
    case = CASES["batchnorm"]
    a = make_inputs(case)
    stats = {"running_mean": np.full(4, 0.5), "running_var": np.full(4, 4.0)}
    buf = run(case, K, a, train=False, **stats)
    want = a["gamma"] * (a["x"] - 0.5) / np.sqrt(4.0 + 1e-5) + a["beta"]
    np.testing.assert_allclose(buf["y"], want, rtol=1e-12)
    np.testing.assert_allclose(buf["inv_std"], 1 / np.sqrt(4.0 + 1e-5))
    np.testing.assert_array_equal(buf["running_mean"], 0.5)
    assert not np.allclose(buf["y"], run(case, K, a)["y"])


@pytest.mark.parametrize(("fwd", "bwd"), [("sum", "repeat"), ("repeat", "sum")])
def test_repeat_and_sum_backward_is_the_others_forward(fwd: str, bwd: str) -> None:
    width = 12 if fwd == "sum" else 4
    x = np.random.default_rng(0).normal(size=(3, width))
    got, want = np.empty((3, 48 // width)), np.empty((3, 48 // width))
    getattr(kernels, f"{bwd}_backward")(x, got, 3)
    getattr(kernels, f"{fwd}_forward")(x, want, 3)
    np.testing.assert_array_equal(got, want)


LOSS_CASES: dict[str, tuple[str, int, Callable[[np.random.Generator], NDArray]]] = {
    "softmax_ce_index": ("softmax_ce", 3, lambda r: r.integers(0, 3, 4)),
    "softmax_ce_onehot": ("softmax_ce", 3, lambda r: np.eye(3)[r.integers(0, 3, 4)]),
    "softmax_ce_soft": ("softmax_ce", 3, lambda r: _softmax(r.normal(size=(4, 3)))),
    "sigmoid_ce": ("sigmoid_ce", 3, lambda r: r.integers(0, 2, (4, 3)).astype(float)),
    "sigmoid_ce_column": ("sigmoid_ce", 1, lambda r: r.integers(0, 2, 4).astype(float)),
    "mse": ("mse", 3, lambda r: r.normal(size=(4, 3))),
    "mse_column": ("mse", 1, lambda r: r.normal(size=4)),
}


def loss_inputs(name: str, dtype: type = np.float64) -> tuple[str, NDArray, NDArray]:
    loss, k, make_t = LOSS_CASES[name]
    r = np.random.default_rng(5)
    x, t = r.normal(size=(4, k)).astype(dtype), make_t(r)
    return loss, x, (t if t.dtype.kind == "i" else t.astype(dtype))


def loss_forward(k: Any, loss: str, x: NDArray, t: NDArray, y: NDArray) -> float:
    """Call a loss kernel with the per-batch constants the generated code passes it."""
    n, width = x.shape
    extra = (np.arange(n), np.ones((width, 1), x.dtype)) if loss == "softmax_ce" else ()
    return getattr(k, f"{loss}_forward")(x, t, y, *extra)


def loss_backward(k: Any, loss: str, y: NDArray, t: NDArray, dx: NDArray,
                  scale: float | None = None) -> None:
    n = y.shape[0]
    extra = (np.arange(n),) if loss == "softmax_ce" else ()
    getattr(k, f"{loss}_backward")(y, t, dx, 1.0 / n if scale is None else scale, *extra)


def run_loss(k: Any, loss: str, x: NDArray, t: NDArray,
             scale: float | None = None) -> tuple[float, NDArray, NDArray]:
    y, dx = np.empty_like(x), np.empty_like(x)
    value = loss_forward(k, loss, x, t, y)
    loss_backward(k, loss, y, t, dx, scale)
    return value, y, dx


def loss_reference(loss: str, x: NDArray, t: NDArray) -> tuple[float, NDArray]:
    n = x.shape[0]
    if loss == "softmax_ce":
        onehot = np.eye(x.shape[1])[t] if t.ndim == 1 else t
        return float(-np.sum(onehot * np.log(_softmax(x))) / n), _softmax(x)
    t = t.reshape(x.shape)
    if loss == "sigmoid_ce":
        s = _sigmoid(x)
        return float(-np.sum(t * np.log(s) + (1 - t) * np.log(1 - s)) / n), s
    return float(0.5 * np.sum((x - t) ** 2) / n), x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", LOSS_CASES)
def test_losses_forward_matches_reference_and_keeps_dtype(name: str, dtype: type) -> None:
    loss, x, t = loss_inputs(name, dtype)
    value, y, dx = run_loss(kernels, loss, x, t)
    want_value, want_y = loss_reference(*loss_inputs(name))
    assert isinstance(value, float)
    assert y.dtype == dx.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert value == pytest.approx(want_value, rel=tol)
    np.testing.assert_allclose(y, want_y, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", LOSS_CASES)
def test_losses_backward_matches_numeric_gradient(name: str) -> None:
    loss, x, t = loss_inputs(name)
    _, _, dx = run_loss(kernels, loss, x, t)
    want = numeric_grad(lambda: loss_forward(kernels, loss, x, t, np.empty_like(x)), x)
    assert rel_error(dx, want) < TOL


@pytest.mark.parametrize("name", LOSS_CASES)
def test_loss_backward_scale_multiplies_the_mean_gradient(name: str) -> None:
    # Plain SGD passes scale = lr / n so the gradients arrive multiplied by the learning rate.
    loss, x, t = loss_inputs(name)
    _, _, mean = run_loss(kernels, loss, x, t)
    _, _, scaled = run_loss(kernels, loss, x, t, scale=0.3 / len(x))
    np.testing.assert_allclose(scaled, 0.3 * mean, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_large_scores_are_finite_and_perfect_prediction_costs_zero(dtype: type) -> None:
    x = np.array([[1000.0, 0.0, 0.0], [-1000.0, 999.0, 1000.0]], dtype)
    y = np.empty_like(x)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        kernels.softmax_forward(x, y)
        perfect = loss_forward(kernels, "softmax_ce", x[:1], np.array([0]), np.empty_like(x[:1]))
        loss = loss_forward(kernels, "softmax_ce", x, np.array([0, 2]), np.empty_like(x))
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    assert perfect == pytest.approx(0.0, abs=1e-12)
    assert loss == pytest.approx(np.log1p(np.exp(-1.0)) / 2, rel=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_extreme_scores_are_finite(dtype: type) -> None:
    x = np.array([[1000.0, -1000.0]], dtype)
    y = np.empty_like(x)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        kernels.sigmoid_forward(x, y)
        right = kernels.sigmoid_ce_forward(x, np.array([[1.0, 0.0]], dtype), np.empty_like(x))
        wrong = kernels.sigmoid_ce_forward(x, np.array([[0.0, 1.0]], dtype), np.empty_like(x))
    np.testing.assert_array_equal(y, [[1.0, 0.0]])
    assert right == pytest.approx(0.0, abs=1e-6)
    assert wrong == pytest.approx(2000.0)


def test_softmax_ce_index_and_onehot_labels_agree() -> None:
    _, x, t = loss_inputs("softmax_ce_index")
    by_index = run_loss(kernels, "softmax_ce", x, t)
    by_onehot = run_loss(kernels, "softmax_ce", x, np.eye(3)[t])
    assert by_index[0] == pytest.approx(by_onehot[0], rel=1e-14)
    np.testing.assert_allclose(by_index[2], by_onehot[2], rtol=1e-14)


def test_mse_forward_hand_computed() -> None:
    x, t = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.0, 2.0], [1.0, 1.0]])
    y = np.empty_like(x)
    # squared errors 1 + 0 + 4 + 9 = 14; 0.5 * 14 / n=2
    assert kernels.mse_forward(x, t, y) == 3.5
    np.testing.assert_array_equal(y, x)


# The graph ops' kernels (variadic merges, flatten) are tested in test_merge_kernels.py, the
# sequence ops' in test_sequence_kernels.py, seq2seq's in test_attention_kernels.py.
GRAPH_KERNELS = {f"{op}_{d}" for d in ("forward", "backward")
                 for op in ("add", "concat", "flatten", "embed", "lstm", "gru", "rnn", "last",
                            "seq_mean", "ns_loss", "steps", "attention", "peek")}
EXPECTED_KERNELS = {
    f"{op}_{d}" for d in ("forward", "backward")
    for op in ("affine", "matmul", "sigmoid", "tanh", "relu", "leaky_relu", "softmax", "dropout",
               "batchnorm", "repeat", "sum", "softmax_ce", "sigmoid_ce", "mse",
               "conv", "pool", "global_avg_pool")
} | GRAPH_KERNELS | {"conv_backward_stride1", "pool2_forward", "pool2_backward"}


def test_kernels_registry_lists_every_kernel() -> None:
    assert set(kernels.KERNELS) == EXPECTED_KERNELS
    assert all(fn.__name__ == name for name, fn in kernels.KERNELS.items())


def standalone(name: str) -> Callable[..., Any]:
    """Re-create a kernel from its source alone, in a namespace holding only `np`."""
    source = inspect.getsource(kernels.KERNELS[name])
    # Exactly the head an emitted module has: the future import keeps hints unevaluated.
    module = f"from __future__ import annotations\n\n{source}"
    namespace: dict[str, Any] = {"np": np}
    exec(compile(module, f"<standalone {name}>", "exec", dont_inherit=True), namespace)
    return namespace[name]


class Recorder(SimpleNamespace):
    """A kernel namespace that remembers which kernels were looked up."""

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_"):
            object.__getattribute__(self, "_used").add(name)
        return object.__getattribute__(self, name)


def test_kernels_source_is_self_contained() -> None:
    k = Recorder(_used=set(), **{name: standalone(name) for name in kernels.KERNELS})
    for case in CASES.values():
        a = make_inputs(case)
        dy = np.random.default_rng(4).normal(size=case.y_shape)
        got, want = run(case, k, a, dy=dy.copy()), run(case, K, a, dy=dy.copy())
        for key, value in want.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(got[key], value)
    for name in LOSS_CASES:
        loss, x, t = loss_inputs(name)
        mine, module = run_loss(k, loss, x, t), run_loss(kernels, loss, x, t)
        for got_part, want_part in zip(mine, module, strict=True):
            np.testing.assert_array_equal(got_part, want_part)
    assert k._used == set(kernels.KERNELS) - GRAPH_KERNELS


@pytest.mark.parametrize("name", sorted(EXPECTED_KERNELS))
def test_kernels_reference_no_module_globals_but_np(name: str) -> None:
    code = kernels.KERNELS[name].__code__
    # Either module's helpers would be missing from an emitted module that copies the kernel.
    module_globals = (set(vars(kernels)) | set(vars(image_kernels)) |
                      set(vars(sequence_kernels)) | set(vars(sampling_kernels))) - {"np"}
    assert not set(code.co_names) & module_globals
    assert not code.co_freevars
    assert not any(inspect.iscode(c) for c in code.co_consts)


def test_pool2_routes_ties_as_the_general_pool() -> None:
    # Values from {0, 1, 2}: most windows hold ties, in every arrangement. pool2 (rows first)
    # must pick the same element as the general kernel's row-major first maximum.
    rng = np.random.default_rng(11)
    x = rng.integers(0, 3, (3, 50, 6, 8)).astype(np.float64)
    dy = rng.uniform(1, 2, (3, 50, 3, 4))
    y, y2 = np.empty_like(dy), np.empty_like(dy)
    lower, right = np.empty((3, 50, 3, 8), bool), np.empty((3, 50, 3, 4), bool)
    K.pool_forward(x, y, (2, 2), (2, 2), "max")
    K.pool2_forward(x, y2, lower, right)
    np.testing.assert_array_equal(y2, y)
    dx, dx2 = np.empty_like(x), np.empty_like(x)
    K.pool_backward(dy, x, y, dx, (2, 2), (2, 2), "max")
    K.pool2_backward(dy, lower, right, dx2)
    np.testing.assert_array_equal(dx2, dx)
    assert ((dx2 != 0).reshape(3, 50, 3, 2, 4, 2).sum(axis=(3, 5)) == 1).all()
