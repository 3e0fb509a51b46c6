"""Layout ops: `flatten`, an image's row `(C, H, W)` as one vector `(C*H*W,)` (DLFS-1 ch. 7
before the first affine). The values and their order stay; only the shape changes.
"""

from __future__ import annotations

from typing import Any

from .. import spec as s
from ..descriptor import OpDef, Shape, size


def flatten_shape(shapes: tuple[Shape, ...], op: Any) -> Shape:
    """One vector per row: (1, 28, 28) -> (784,); a vector stays as it is."""
    return (size(shapes[0]),)


def _flatten_onnx(g: Any, lp: Any) -> None:
    # axis=1 keeps the batch dimension and joins all the others, row-major as numpy's reshape.
    g.node("Flatten", [], lp.label, axis=1)


OPS = (
    # Why no grad_in_place: dx (C, H, W) and dy (C*H*W,) differ in shape.
    OpDef("flatten", s.FlattenSpec, shape=flatten_shape, sets_width=True,
          forward="flatten_forward({x}, {y})", backward="flatten_backward({dy}, {dx})",
          grad_in_place=False,
          onnx=_flatten_onnx, torch="{x}.flatten(1)"),
)
