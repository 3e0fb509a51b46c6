"""Ops with a weight matrix: `affine` (x @ W + b) and `matmul` (x @ W), DLFS-1 5.6."""

from __future__ import annotations

from typing import Any

from .. import spec as s
from ..descriptor import OpDef, ParamRule, Shape, ShapeError, vectors_only

# Why two forms: `affine(10)` after a known width reads naturally, and `affine(784, 10)` is
# DLFS's explicit (in, out) form; both are common in the book's nets.
SIZED = ((), ("n_out",), ("n_in", "n_out"))


def _weight(x: Shape, y: Shape, op: Any) -> Shape:
    return (x[-1], y[-1])


def _bias(x: Shape, y: Shape, op: Any) -> Shape:
    return (y[-1],)


def _fan_in(x: Shape, y: Shape, op: Any) -> int:
    return x[-1]


def _label(lp: Any) -> str:
    """`affine(784, 50)`: the weight's (in, out), whoever owns it (a tied layer reads
    another's); on a sequence, the per-step sizes."""
    w = next(p for p in (*lp.params, *lp.uses) if p.name == "W")
    return f"{lp.op}({', '.join([f'{w.shape[0]}, {w.shape[1]}', *lp.shown_attrs()])})"


def _affine_onnx(g: Any, lp: Any) -> None:
    if lp.steps:  # Gemm takes matrices only; MatMul broadcasts over the time steps
        g.node("MatMul", [g.param(lp, "W")], f"{lp.label}.matmul")
        g.node("Add", [g.param(lp, "b")], lp.label)
    else:
        g.node("Gemm", [g.param(lp, "W"), g.param(lp, "b")], lp.label)


def _matmul_onnx(g: Any, lp: Any) -> None:
    g.node("MatMul", [g.param(lp, "W")], lp.label)


def _shape(shapes: tuple[Shape, ...], op: Any) -> Shape:
    """n_out per row, or per time step of a sequence; n_in, where given, must fit."""
    (x,) = shapes
    vectors_only(x, op.op, sequences=True)
    out = (*x[:-1], op.n_out)
    if op.n_in is not None and op.n_in != x[-1]:
        raise ShapeError(f"{op.op} expects {op.n_in} inputs but receives {x[-1]} from {{origin}}",
                         hint=f"write {op.op}({x[-1]}, {op.n_out}) or {op.op}({op.n_out})",
                         at="n_in", notes="widths", then=out)
    return out


W = ParamRule("W", _weight, "weight", _fan_in)
DENSE = {"shape": _shape, "sets_width": True, "per_step": True}

OPS = (
    OpDef("affine", s.AffineSpec, SIZED, **DENSE,
          forward="affine_forward({x}, {W}, {b}, {y})",
          backward="affine_backward({dy}, {x}, {W}, {dx}, {dW}, {db}, {ones})",
          params=(W, ParamRule("b", _bias, "zeros")), constants=("ones",),
          onnx=_affine_onnx, torch="{x} @ {W} + {b}", label=_label),
    OpDef("matmul", s.MatMulSpec, SIZED, **DENSE,
          forward="matmul_forward({x}, {W}, {y})",
          backward="matmul_backward({dy}, {x}, {W}, {dx}, {dW})",
          params=(W,), onnx=_matmul_onnx, torch="{x} @ {W}", label=_label),
)
