"""The op catalogue: one `OpDef` per op, gathered from the family modules beside this one.

`OPS` maps a DSL name to its descriptor, in the order `netc layers` lists them; `register`
adds one. Validate, lower (parameters), codegen, ONNX export and the summary read `OPS`.
"""

from __future__ import annotations

from ..descriptor import OpDef
from . import (
    activations,
    dense,
    images,
    layout,
    losses,
    merge,
    regularizers,
    reshape,
    seq2seq,
    sequences,
)

OPS: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    """Add `op` to the catalogue (replacing an op of the same name); returns it."""
    OPS[op.name] = op
    return op


for _module in (dense, images, sequences, seq2seq, activations, regularizers, reshape, layout,
                merge, losses):
    for _op in _module.OPS:
        register(_op)

__all__ = ["OPS", "OpDef", "register"]
