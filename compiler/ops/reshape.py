"""DLFS-2's Repeat and Sum nodes (ch. 1.3): n copies side by side, and their sum."""

from __future__ import annotations

from typing import Any

from .. import spec as s
from ..descriptor import OpDef, Shape, ShapeError, vectors_only


def _repeat_onnx(g: Any, lp: Any) -> None:
    # (b, d) -> (b, n*d): n copies side by side, as `repeat_forward`.
    g.node("Tile", [g.ints(f"{lp.label}.repeats", [1, lp.attr("n")])], lp.label)


def _sum_onnx(g: Any, lp: Any) -> None:
    # (b, n*d) -> (b, n, d) -> sum over the blocks; shape 0 keeps the batch dimension.
    g.node("Reshape", [g.ints(f"{lp.label}.shape", [0, lp.attr("n"), -1])],
           f"{lp.label}.reshape")
    g.node("ReduceSum", [g.ints(f"{lp.label}.axes", [1])], lp.label, keepdims=0)


def _repeat_shape(shapes: tuple[Shape, ...], op: Any) -> Shape:
    (x,) = shapes
    vectors_only(x, "repeat")
    width, out = x[0], x[0] * op.n
    if out > s.MAX_WIDTH:
        raise ShapeError(f"repeat({op.n}) turns width {width:,} into {out:,}; a width may be "
                         f"at most {s.MAX_WIDTH:,} (2**31), as for affine",
                         hint="repeat fewer times, or narrow the layers before it",
                         code="too_wide", notes="widths")
    return (out,)


def _sum_shape(shapes: tuple[Shape, ...], op: Any) -> Shape:
    (x,) = shapes
    vectors_only(x, "sum")
    if x[0] % op.n:
        raise ShapeError(f"sum({op.n}) adds {op.n} equal blocks, but its input width {x[0]} is "
                         f"not divisible by {op.n}", notes="widths")
    return (x[0] // op.n,)


# PyTorch: n copies side by side (Tensor.repeat tiles so), and the sum of the n blocks.
_TORCH = {"repeat": "{x}.repeat(1, {n})", "sum": "{x}.reshape(len({x}), {n}, -1).sum(1)"}

OPS = tuple(
    OpDef(name, schema, ((), ("n",)), forward=f"{name}_forward({{x}}, {{y}}, {{n}})",
          backward=f"{name}_backward({{dy}}, {{dx}}, {{n}})", onnx=onnx, shape=shape,
          sets_width=True, torch=_TORCH[name])
    for name, schema, onnx, shape in (("repeat", s.RepeatSpec, _repeat_onnx, _repeat_shape),
                                      ("sum", s.SumSpec, _sum_onnx, _sum_shape)))
