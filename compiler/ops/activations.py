"""Elementwise activations (DLFS-1 3.2, 5.5) and the inference-only softmax."""

from __future__ import annotations

from typing import Any

from .. import spec as s
from ..descriptor import OpDef, Shape, ShapeError, shown


def _unary(onnx_name: str, **attrs: Any) -> Any:
    def add(g: Any, lp: Any) -> None:
        g.node(onnx_name, [], lp.label, **attrs)
    return add


def _leaky_onnx(g: Any, lp: Any) -> None:
    g.node("LeakyRelu", [], lp.label, alpha=float(lp.attr("alpha", 0.01)))


def _own_output(name: str, schema: type, onnx_name: str, **flags: Any) -> OpDef:
    """An activation whose backward reads only its output: `name_backward(dy, y, dx)`;
    in PyTorch `torch.<name>` (softmax over the last axis)."""
    torch = f"torch.{name}({{x}}{', -1' if name == 'softmax' else ''})"
    return OpDef(name, schema, forward=f"{name}_forward({{x}}, {{y}})", torch=torch,
                 backward=f"{name}_backward({{dy}}, {{y}}, {{dx}})", needs_output=True,
                 onnx=_unary(onnx_name, **({"axis": -1} if name == "softmax" else {})),
                 **flags)


def _softmax_shape(shapes: tuple[Shape, ...], op: Any) -> Shape:
    """Over the last axis: each vector, or each time step of a sequence. Not an image: its
    last axis is a row of pixels, and no one means that."""
    (x,) = shapes
    if len(x) == 3:
        raise ShapeError(f"softmax takes vectors or sequences per row, but receives {shown(x)} "
                         f"from {{origin}}", hint="insert flatten before softmax",
                         notes="shapes")
    return x


# Why in place: their backward needs only the output, so the output may overwrite the input;
# and dx may overwrite dy (the kernels promise it). Softmax's backward is not elementwise.
_ELEMENTWISE = {"in_place": True, "grad_in_place": True}

OPS = (
    _own_output("sigmoid", s.SigmoidSpec, "Sigmoid", **_ELEMENTWISE),
    _own_output("relu", s.ReluSpec, "Relu", init_hint="he", **_ELEMENTWISE),
    _own_output("tanh", s.TanhSpec, "Tanh", **_ELEMENTWISE),
    OpDef("leaky_relu", s.LeakyReluSpec, ((), ("alpha",)),
          forward="leaky_relu_forward({x}, {y}, {alpha})",
          backward="leaky_relu_backward({dy}, {x}, {dx}, {alpha})", grad_in_place=True,
          init_hint="he",
          onnx=_leaky_onnx, torch="torch.nn.functional.leaky_relu({x}, {alpha})"),
    _own_output("softmax", s.SoftmaxSpec, "Softmax", shape=_softmax_shape),
)
