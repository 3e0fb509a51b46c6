"""Seq2seq ops (DLFS-2 ch. 7-8): `steps` (a slice of a sequence's steps, `tgt[:-1]`, for
teacher forcing) and `attention(hd, hs)`.

`attention` is DLFS-2's AttentionWeight + WeightSum: for each decoder step t, the weights
a_t = softmax_s(hd_t . hs_s) over the encoder's steps, and the output c_t = sum_s a_ts hs_s,
one `(steps of hd, H)` context per row. The weights stay in the scratch buffer `a` (the
backward reads them, and `netc attention` draws them). No scaling by sqrt(H), as the book.

A `steps` node over token ids keeps their integer type (`dataflow.Flow.dtypes`): it slices
the ids an `embed` then reads.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ..descriptor import OpDef, Scratch, Shape, ShapeError, shown
from ..spec import OpSpec


class StepsSpec(OpSpec):
    op: Literal["steps"] = "steps"
    start: int | None = Field(None, description="first step kept (negative: from the end)")
    stop: int | None = Field(None, description="step to stop before (negative: from the end)")
    kind: ClassVar[str] = "reshape"
    description: ClassVar[str] = "a slice of a sequence's steps (`tgt[:-1]`): teacher forcing"


class AttentionSpec(OpSpec):
    op: Literal["attention"] = "attention"
    kind: ClassVar[str] = "merge"
    description: ClassVar[str] = ("DLFS-2 ch. 8 attention(hd, hs): for each step of hd, the "
                                  "softmax(hd . hs) weighted sum of hs's steps")


def _kept(steps: int, op: Any) -> int:
    return len(range(steps)[slice(op.start, op.stop)])


def _steps_shape(shapes: tuple[Shape, ...], op: Any) -> Shape:
    (x,) = shapes
    if not x:
        raise ShapeError(f"a slice keeps some steps of a sequence, but receives {shown(x)} "
                         "from {origin}", hint="slice a token input or a recurrent layer's "
                         "output: tgt[:-1]", notes="shapes")
    kept = _kept(x[0], op)
    if kept == 0:
        bounds = f"[{'' if op.start is None else op.start}:{'' if op.stop is None else op.stop}]"
        raise ShapeError(f"the slice {bounds} keeps none of the {x[0]} steps of {{origin}}",
                         hint="keep at least one step, e.g. [:-1] (all but the last)",
                         notes="")
    return (kept, *x[1:])


def _attention_shape(shapes: tuple[Shape, ...], op: Any) -> Shape:
    if len(shapes) != 2:
        raise ShapeError(f"attention reads two sequences, the decoder's and the encoder's, "
                         f"but receives {len(shapes)}", hint="write attention(hd, hs)")
    hd, hs = shapes
    if len(hd) != 2 or len(hs) != 2 or hd[1] != hs[1]:
        raise ShapeError(f"attention compares each step of its first input with every step of "
                         f"its second, so both must be sequences of one width, but receives "
                         f"{shown(hd)} and {shown(hs)}",
                         hint="give both recurrent layers the same hidden size, e.g. "
                              "lstm(256) in the encoder and the decoder")
    return hd


def _weights(lp: Any) -> tuple[int | str, ...]:
    """a, (n, decoder steps, encoder steps)."""
    return ("n", lp.shape[0], lp.in_shapes[1][0])


def _attention_onnx(g: Any, lp: Any) -> None:
    """s = MatMul(hd, Transpose(hs)), a = Softmax(s) on the last axis, c = MatMul(a, hs)."""
    hd, hs = g.inputs
    g.inputs = [hs]
    g.node("Transpose", [], f"{lp.label}.keys", perm=[0, 2, 1])
    keys = g.inputs[0]
    g.inputs = [hd]
    g.node("MatMul", [keys], f"{lp.label}.scores")
    g.node("Softmax", [], f"{lp.label}.weights", axis=-1)
    g.node("MatMul", [hs], lp.label)


def _steps_onnx(g: Any, lp: Any) -> None:
    """Slice on axis 1 (ONNX clamps the bounds as Python does)."""
    big = 2**62
    start = 0 if lp.attr("start") is None else lp.attr("start")
    stop = big if lp.attr("stop") is None else lp.attr("stop")
    g.node("Slice", [g.ints(f"{lp.label}.starts", [start]), g.ints(f"{lp.label}.ends", [stop]),
                     g.ints(f"{lp.label}.axes", [1])], lp.label)


OPS = (
    OpDef("steps", StepsSpec, shape=_steps_shape,
          forward="steps_forward({x}, {start}, {stop}, {y})",
          backward="steps_backward({dy}, {start}, {stop}, {dx})",
          label=lambda lp: f"{lp.op}[{'' if lp.attr('start') is None else lp.attr('start')}:"
                           f"{'' if lp.attr('stop') is None else lp.attr('stop')}]",
          onnx=_steps_onnx, torch="{x}[:, {start}:{stop}]"),
    # Two inputs, not a variadic merge: the keys reach the templates as the second
    # operand `s`/`ds`, as a recurrent layer's `init=` state does.
    OpDef("attention", AttentionSpec, shape=_attention_shape, sets_width=True, stepwise=True,
          forward="attention_forward({x}, {s}, {y}, {a})",
          backward="attention_backward({dy}, {x}, {s}, {a}, {dx}, {ds}, {da})",
          scratch=(Scratch("a", per_row=False, shape=_weights),
                   Scratch("da", per_row=False, shape=_weights)),
          onnx=_attention_onnx, torch="attention({x}, {s})"),
)
