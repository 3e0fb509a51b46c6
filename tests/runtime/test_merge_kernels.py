"""The graph ops' kernels (add, concat, flatten) against numeric gradients, and their shape
rules (`OpDef.shape`): what they accept, and what they refuse with which message and fix."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from netc.compiler import spec as s
from netc.compiler.descriptor import ShapeError
from netc.compiler.ops import OPS
from netc.runtime import generated, kernels

H = 1e-6
TOL = 1e-7
NEW = ("add", "concat", "flatten")


def numeric_grad(f: Callable[[], float], a: NDArray) -> NDArray:
    """Central difference of the scalar f() for every entry of `a`, perturbed in place."""
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        orig = a[idx]
        a[idx] = orig + H
        up = f()
        a[idx] = orig - H
        down = f()
        a[idx] = orig
        grad[idx] = (up - down) / (2 * H)
    return grad


def rel_error(got: NDArray, want: NDArray) -> float:
    scale = max(float(np.max(np.abs(got))), float(np.max(np.abs(want))), 1e-12)
    return float(np.max(np.abs(got - want))) / scale


def _inputs(*shapes: tuple[int, ...], dtype: Any = np.float64) -> list[NDArray]:
    rng = np.random.default_rng(0)
    return [rng.normal(size=shape).astype(dtype) for shape in shapes]


# op -> (input shapes, output shape, forward, backward, reference), forward(xs, y) and
# backward(dy, xs, dxs) call the kernels as the generated code does.
CASES: dict[str, tuple[Any, ...]] = {
    "add2": ([(3, 4), (3, 4)], (3, 4), lambda xs, y: kernels.add_forward(tuple(xs), y),
             lambda dy, xs, dxs: kernels.add_backward(dy, tuple(dxs)), lambda xs: xs[0] + xs[1]),
    "add3": ([(2, 5), (2, 5), (2, 5)], (2, 5), lambda xs, y: kernels.add_forward(tuple(xs), y),
             lambda dy, xs, dxs: kernels.add_backward(dy, tuple(dxs)), lambda xs: sum(xs)),
    "add_image": ([(2, 1, 3, 3), (2, 1, 3, 3)], (2, 1, 3, 3),
                  lambda xs, y: kernels.add_forward(tuple(xs), y),
                  lambda dy, xs, dxs: kernels.add_backward(dy, tuple(dxs)),
                  lambda xs: xs[0] + xs[1]),
    "concat2": ([(3, 2), (3, 5)], (3, 7), lambda xs, y: kernels.concat_forward(tuple(xs), y),
                lambda dy, xs, dxs: kernels.concat_backward(dy, tuple(xs), tuple(dxs)),
                lambda xs: np.concatenate(xs, axis=-1)),
    # Images are channel-major (C, n, H, W) in the passes: concat joins the channels.
    "concat3_image": ([(1, 2, 3, 3), (4, 2, 3, 3), (2, 2, 3, 3)], (7, 2, 3, 3),
                      lambda xs, y: kernels.concat_forward(tuple(xs), y),
                      lambda dy, xs, dxs: kernels.concat_backward(dy, tuple(xs), tuple(dxs)),
                      lambda xs: np.concatenate(xs, axis=0)),
    # (C=2, n=3, 3, 4) images -> 3 rows of 24 values in (c, h, w) order.
    "flatten": ([(2, 3, 3, 4)], (3, 24), lambda xs, y: kernels.flatten_forward(xs[0], y),
                lambda dy, xs, dxs: kernels.flatten_backward(dy, dxs[0]),
                lambda xs: xs[0].transpose(1, 0, 2, 3).reshape(3, -1)),
    "flatten_sequence": ([(3, 2, 4)], (3, 8), lambda xs, y: kernels.flatten_forward(xs[0], y),
                         lambda dy, xs, dxs: kernels.flatten_backward(dy, dxs[0]),
                         lambda xs: xs[0].reshape(3, -1)),
}


def _forward(case: tuple[Any, ...], xs: list[NDArray]) -> NDArray:
    _, y_shape, forward, _, _ = case
    y = np.full(y_shape, np.nan, xs[0].dtype)  # NaN: a value the kernel forgot shows
    forward(xs, y)
    return y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", CASES)
def test_merge_kernels_forward_matches_reference_and_keeps_dtype(name: str, dtype: Any) -> None:
    case = CASES[name]
    xs = _inputs(*case[0], dtype=dtype)
    y = _forward(case, xs)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, case[4](xs))


@pytest.mark.parametrize("name", CASES)
def test_merge_kernels_backward_matches_numeric_gradient(name: str) -> None:
    case = CASES[name]
    xs = _inputs(*case[0])
    w = np.random.default_rng(1).normal(size=case[1])
    dxs = [np.full_like(x, np.nan) for x in xs]
    case[3](w.copy(), xs, dxs)
    for k, x in enumerate(xs):
        want = numeric_grad(lambda: float(np.sum(_forward(case, xs) * w)), x)
        assert rel_error(dxs[k], want) < TOL, k


@pytest.mark.parametrize("name", CASES)
def test_merge_kernels_backward_skips_a_none_dx(name: str) -> None:
    case = CASES[name]
    xs = _inputs(*case[0])
    dy = np.random.default_rng(2).normal(size=case[1])
    full = [np.empty_like(x) for x in xs]
    case[3](dy, xs, full)
    # The first gradient nobody needs (the network's input): the others are still written.
    part = [None, *(np.empty_like(x) for x in xs[1:])]
    case[3](dy, xs, part)
    for got, want in zip(part[1:], full[1:], strict=True):
        np.testing.assert_array_equal(got, want)


def test_merge_kernels_add_backward_may_write_over_dy() -> None:
    dy = np.arange(6.0).reshape(2, 3)
    other = np.empty_like(dy)
    kernels.add_backward(dy, (dy, other))
    np.testing.assert_array_equal(dy, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(other, dy)


@pytest.mark.parametrize("name", [f"{op}_{d}" for op in NEW for d in ("forward", "backward")])
def test_merge_kernels_are_registered_and_standalone(name: str) -> None:
    fn = kernels.KERNELS[name]
    assert generated._KERNELS[name] is fn
    code = fn.__code__
    assert not set(code.co_names) & (set(vars(kernels)) - {"np"})
    # Emitted modules copy each kernel's source: it must compile alone beside numpy.
    namespace: dict[str, Any] = {"np": np}
    exec(compile(f"from __future__ import annotations\n\n{inspect.getsource(fn)}",  # noqa: S102
                 name, "exec", dont_inherit=True), namespace)
    assert callable(namespace[name])


def test_merge_kernels_templates_render_to_the_kernels() -> None:
    names = {"xs": "(y2, y5)", "dxs": "(dy2, None)", "y": "y6", "dy": "dy6", "x": "y1",
             "dx": "dy1"}
    calls = [OPS[op].forward.format_map(names) + "\n" + OPS[op].backward.format_map(names)
             for op in NEW]
    assert calls == ["add_forward((y2, y5), y6)\nadd_backward(dy6, (dy2, None))",
                     "concat_forward((y2, y5), y6)\nconcat_backward(dy6, (y2, y5), (dy2, None))",
                     "flatten_forward(y1, y6)\nflatten_backward(dy6, dy1)"]
    assert generated.used_kernels("\n".join(calls)) == [
        "add_forward", "add_backward", "concat_forward", "concat_backward", "flatten_forward",
        "flatten_backward"]


def test_merge_ops_are_described() -> None:
    assert [OPS[op].variadic for op in NEW] == [True, True, False]
    assert [OPS[op].kind for op in NEW] == ["merge", "merge", "reshape"]
    assert all(OPS[op].description for op in NEW)
    assert not OPS["flatten"].grad_in_place
    assert [OPS[op].schema().op for op in NEW] == list(NEW)
    with pytest.raises(ValueError, match="extra"):
        s.FlattenSpec(op="flatten", n=2)


@pytest.mark.parametrize(("op", "shapes", "out"), [
    ("add", ((50,), (50,)), (50,)),
    ("add", ((8,), (8,), (8,)), (8,)),
    ("add", ((1, 28, 28), (1, 28, 28)), (1, 28, 28)),
    ("concat", ((3,), (8,)), (11,)),
    ("concat", ((4, 3), (4, 1), (4, 2)), (4, 6)),
    ("concat", ((1, 4, 4), (3, 4, 4)), (4, 4, 4)),
    ("concat", ((4, 3), (12,)), (4, 15)),  # peeky: the vector at every step
    ("concat", ((5,), (4, 3), (2,)), (4, 10)),
    ("flatten", ((1, 28, 28),), (784,)),
    ("flatten", ((30, 12, 12),), (4320,)),
    ("flatten", ((7,),), (7,)),
])
def test_shape_rules_accept(op: str, shapes: tuple[tuple[int, ...], ...],
                            out: tuple[int, ...]) -> None:
    rule = OPS[op].shape
    assert rule is not None
    assert rule(shapes, OPS[op].schema()) == out


@pytest.mark.parametrize(("op", "shapes", "reason", "hint"), [
    ("add", ((50,), (30,)), "add needs inputs of one shape, but receives (batch, 50) and "
     "(batch, 30)", "make both branches end in the same width, e.g. affine(50)"),
    ("add", ((8,), (8,), (3,)), "add needs inputs of one shape, but receives (batch, 8), "
     "(batch, 8) and (batch, 3)", "make every branch end in the same width, e.g. affine(8)"),
    ("add", ((1, 28, 28), (784,)), "but receives (batch, 1, 28, 28) and (batch, 784)",
     "make both branches end in the same shape"),
    ("add", ((5,),), "add merges two or more branches, but receives 1",
     "give it a second branch"),
    ("concat", ((1, 28, 28), (1, 14, 28)), "concat joins its inputs on the channels, so the "
     "others must agree, but receives (batch, 1, 28, 28) and (batch, 1, 14, 28)", "flatten"),
    ("concat", ((4, 3), (5, 3)), "concat joins sequences step by step, so their steps must "
     "agree, but receives (batch, 4, 3) and (batch, 5, 3)", "slice one"),
    ("concat", ((4, 3), (1, 28, 28)), "receives (batch, 4, 3) and (batch, 1, 28, 28)",
     "flatten"),
])
def test_shape_rules_refuse_with_reason_and_fix(op: str, shapes: tuple[tuple[int, ...], ...],
                                                reason: str, hint: str) -> None:
    with pytest.raises(ShapeError) as info:
        OPS[op].shape(shapes, OPS[op].schema())  # type: ignore[misc]
    assert reason in info.value.reason
    assert hint in info.value.hint
