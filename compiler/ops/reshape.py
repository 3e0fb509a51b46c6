"""DLFS-2's Repeat and Sum nodes (ch. 1.3): n copies side by side, and their sum."""

from __future__ import annotations

from typing import Any

from .. import spec as s
from ..descriptor import OpDef


def _repeat_onnx(g: Any, lp: Any) -> None:
    # (b, d) -> (b, n*d): n copies side by side, as `repeat_forward`.
    g.node("Tile", [g.ints(f"{lp.label}.repeats", [1, lp.attr("n")])], lp.label)


def _sum_onnx(g: Any, lp: Any) -> None:
    # (b, n*d) -> (b, n, d) -> sum over the blocks; shape 0 keeps the batch dimension.
    g.node("Reshape", [g.ints(f"{lp.label}.shape", [0, lp.attr("n"), -1])],
           f"{lp.label}.reshape")
    g.node("ReduceSum", [g.ints(f"{lp.label}.axes", [1])], lp.label, keepdims=0)


OPS = tuple(
    OpDef(name, schema, ((), ("n",)), forward=f"{name}_forward({{x}}, {{y}}, {{n}})",
          backward=f"{name}_backward({{dy}}, {{dx}}, {{n}})", onnx=onnx)
    for name, schema, onnx in (("repeat", s.RepeatSpec, _repeat_onnx),
                               ("sum", s.SumSpec, _sum_onnx)))
