"""Dropout (DLFS-1 6.4.3) and batch normalisation (DLFS-1 6.3)."""

from __future__ import annotations

from typing import Any

from .. import spec as s
from ..descriptor import OpDef, ParamRule, Scratch, Shape, vectors_only


def _per_feature(x: Shape, y: Shape) -> Shape:
    return (y[-1],)


def _vectors(shapes: tuple[Shape, ...], op: Any) -> Shape:
    # Why: statistics per feature of a vector; per channel of an image comes with conv.
    vectors_only(shapes[0], op.op)
    return shapes[0]


def _batchnorm_onnx(g: Any, lp: Any) -> None:
    names = [g.param(lp, k) for k in ("gamma", "beta", "running_mean", "running_var")]
    g.node("BatchNormalization", names, lp.label, epsilon=float(lp.attr("eps", 1e-5)))


OPS = (
    # No ONNX node: dropout is the identity at inference.
    OpDef("dropout", s.DropoutSpec, ((), ("p",)),
          forward="dropout_forward({x}, {y}, {mask}, {p}, rng, train)",
          backward="dropout_backward({dy}, {mask}, {dx})", scratch=(Scratch("mask"),),
          grad_in_place=True, onnx=lambda g, lp: None, init_hint="pass"),
    OpDef("batchnorm", s.BatchNormSpec, shape=_vectors,
          forward="batchnorm_forward({x}, {gamma}, {beta}, {running_mean}, {running_var}, "
                  "{y}, {xhat}, {inv_std}, {momentum}, {eps}, train)",
          backward="batchnorm_backward({dy}, {xhat}, {inv_std}, {gamma}, {dx}, {dgamma}, "
                   "{dbeta})",
          params=(ParamRule("gamma", _per_feature, "ones"),
                  ParamRule("beta", _per_feature, "zeros")),
          state=(ParamRule("running_mean", _per_feature, "zeros"),
                 ParamRule("running_var", _per_feature, "ones")),
          scratch=(Scratch("xhat"), Scratch("inv_std", per_row=False)), grad_in_place=True,
          init_hint="pass",
          onnx=_batchnorm_onnx),
)
