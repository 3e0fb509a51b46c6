"""Dropout (DLFS-1 6.4.3) and batch normalisation (DLFS-1 6.3): per feature of a vector,
per channel of an image (statistics over the batch and every position, as DLFS-1's
`BatchNormalization` on conv outputs and PyTorch's `BatchNorm2d`)."""

from __future__ import annotations

from typing import Any

from .. import spec as s
from ..descriptor import OpDef, ParamRule, Scratch, Shape, ShapeError, shown


def _channels(y: Shape) -> int:
    """What batchnorm keeps statistics of: a vector's features, an image's channels."""
    return y[0] if len(y) == 3 else y[-1]


def _per_feature(x: Shape, y: Shape, op: Any) -> Shape:
    return (_channels(y),)


def _features_or_channels(shapes: tuple[Shape, ...], op: Any) -> Shape:
    (x,) = shapes
    if len(x) == 2:  # Why: per step or per feature over steps is a choice netc leaves open
        raise ShapeError(f"batchnorm takes a vector or an image per row, but receives "
                         f"{shown(x)} from {{origin}}",
                         hint="insert flatten before batchnorm: ... -> flatten -> batchnorm",
                         notes="shapes")
    return x


def _batchnorm_onnx(g: Any, lp: Any) -> None:
    names = [g.param(lp, k) for k in ("gamma", "beta", "running_mean", "running_var")]
    g.node("BatchNormalization", names, lp.label, epsilon=float(lp.attr("eps", 1e-5)))


OPS = (
    # No ONNX node: dropout is the identity at inference.
    OpDef("dropout", s.DropoutSpec, ((), ("p",)),
          forward="dropout_forward({x}, {y}, {mask}, {p}, rng, train)",
          backward="dropout_backward({dy}, {mask}, {dx})", scratch=(Scratch("mask"),),
          grad_in_place=True, onnx=lambda g, lp: None, init_hint="pass",
          torch="dropout({x}, {p}, self.training, self.uniform)"),
    OpDef("batchnorm", s.BatchNormSpec, shape=_features_or_channels,
          forward="batchnorm_forward({x}, {gamma}, {beta}, {running_mean}, {running_var}, "
                  "{y}, {xhat}, {inv_std}, {momentum}, {eps}, train)",
          backward="batchnorm_backward({dy}, {xhat}, {inv_std}, {gamma}, {dx}, {dgamma}, "
                   "{dbeta})",
          params=(ParamRule("gamma", _per_feature, "ones"),
                  ParamRule("beta", _per_feature, "zeros")),
          state=(ParamRule("running_mean", _per_feature, "zeros"),
                 ParamRule("running_var", _per_feature, "ones")),
          scratch=(Scratch("xhat"),
                   Scratch("inv_std", shape=lambda lp: (_channels(lp.shape),))),
          grad_in_place=True,
          init_hint="pass",
          onnx=_batchnorm_onnx,
          torch="batchnorm({x}, {gamma}, {beta}, {running_mean}, {running_var}, {momentum}, "
                "{eps}, self.training)"),
)
