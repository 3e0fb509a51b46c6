"""Merges: `add` (x + f(x) in a residual block, DLFS-1's Add node) and `concat` (branches side
by side on the feature axis). Each reads two or more values (`OpDef.variadic`): its templates
see `xs` and `dxs`, tuples of buffer names, and its shape rule checks the shapes that meet.
"""

from __future__ import annotations

from typing import Any

from .. import spec as s
from ..descriptor import OpDef, Shape, ShapeError, shown


def _listed(shapes: tuple[Shape, ...]) -> str:
    """`(batch, 50) and (batch, 30)`, or `a, b and c` for three."""
    names = [shown(shape) for shape in shapes]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _two_or_more(op: str, shapes: tuple[Shape, ...]) -> None:
    if len(shapes) < 2:
        raise ShapeError(f"{op} merges two or more branches, but receives {len(shapes)}",
                         hint=f"give it a second branch, e.g. {op}(affine(10), relu)")


def add_shape(shapes: tuple[Shape, ...], op: Any) -> Shape:
    """All inputs of one shape: the output has it too."""
    _two_or_more("add", shapes)
    if any(shape != shapes[0] for shape in shapes):
        which = "both branches" if len(shapes) == 2 else "every branch"
        # Why the first input's width in the hint: it is the one written first.
        fix = (f"the same width, e.g. affine({shapes[0][-1]})"
               if all(len(x) == 1 for x in shapes) else "the same shape")
        raise ShapeError(f"add needs inputs of one shape, but receives {_listed(shapes)}",
                         hint=f"make {which} end in {fix}")
    return shapes[0]


def concat_shape(shapes: tuple[Shape, ...], op: Any) -> Shape:
    """Inputs equal but for the last axis; the output's last axis is the sum of theirs.
    Images join on the channels (inception's and DenseNet's concat): equal heights and widths."""
    _two_or_more("concat", shapes)
    if any(len(x) == 2 for x in shapes) and all(len(x) <= 2 for x in shapes):
        return _peeky(shapes)
    axis = 0 if all(len(x) == 3 for x in shapes) else len(shapes[0]) - 1
    rest = [x[:axis] + x[axis + 1:] for x in shapes]
    if any(len(x) != len(shapes[0]) for x in shapes) or any(r != rest[0] for r in rest):
        joined = "channels" if axis == 0 else "last axis"
        raise ShapeError(
            f"concat joins its inputs on the {joined}, so the others must agree, but receives "
            f"{_listed(shapes)}",
            hint="make the branches end in shapes that differ only in the "
                 f"{'channels' if axis == 0 else 'last axis'}, e.g. insert flatten at the end "
                 "of each")
    out = list(shapes[0])
    out[axis] = sum(x[axis] for x in shapes)
    return tuple(out)


def _peeky(shapes: tuple[Shape, ...]) -> Shape:
    """Sequences (steps, d), and vectors (h,) among them: each vector repeated at every step
    (DLFS-2's peeky decoder); the sequences' steps must agree and the widths add up."""
    steps = {x[0] for x in shapes if len(x) == 2}
    if len(steps) > 1:
        raise ShapeError(f"concat joins sequences step by step, so their steps must agree, but "
                         f"receives {_listed(shapes)}", hint="concatenate sequences of the same "
                         "steps (slice one: h[1:]); a vector (h.last) is repeated at every step")
    return (steps.pop(), sum(x[-1] for x in shapes))


def _add_onnx(g: Any, lp: Any) -> None:
    # ONNX's Add takes two inputs: a chain of them, in the kernel's order of summation.
    first, *rest = g.inputs
    g.inputs = [first]
    for k, x in enumerate(rest):
        g.node("Add", [x], lp.label if k == len(rest) - 1 else f"{lp.label}.add{k}")


def _concat_onnx(g: Any, lp: Any) -> None:
    shapes = lp.in_shapes
    if any(len(x) == 1 for x in shapes) and any(len(x) == 2 for x in shapes):
        _repeat_vectors(g, lp, shapes)
    g.node("Concat", [], lp.label, axis=1 if len(lp.shape) == 3 else -1)


def _repeat_vectors(g: Any, lp: Any, shapes: tuple[Shape, ...]) -> None:
    """Peeky concat: each vector (n, h) -> Unsqueeze (n, 1, h) -> Expand to (n, steps, h),
    the steps read from a sequence input at run time (so a one-step decoder works too)."""
    values = list(g.inputs)
    g.inputs = [values[next(k for k, x in enumerate(shapes) if len(x) == 2)]]
    g.node("Shape", [], f"{lp.label}.steps", start=1, end=2)
    one = g.ints(f"{lp.label}.one", [1])
    g.inputs = [one, g.inputs[0], one]
    g.node("Concat", [], f"{lp.label}.tiles", axis=0)
    tiles = g.inputs[0]
    for k, x in enumerate(shapes):
        if len(x) == 1:
            g.inputs = [values[k]]
            g.node("Unsqueeze", [one], f"{lp.label}.vector{k}")
            g.node("Expand", [tiles], f"{lp.label}.repeated{k}")
            values[k] = g.inputs[0]
    g.inputs = values


OPS = (
    OpDef("add", s.AddSpec, shape=add_shape, variadic=True, sets_width=True, stepwise=True,
          forward="add_forward({xs}, {y})", backward="add_backward({dy}, {dxs})",
          onnx=_add_onnx, torch="add({xs})"),
    # Why xs in the backward: a dx may be None, and the slices of dy need every width.
    OpDef("concat", s.ConcatSpec, shape=concat_shape, variadic=True, sets_width=True,
          stepwise=True,
          forward="concat_forward({xs}, {y})", backward="concat_backward({dy}, {xs}, {dxs})",
          onnx=_concat_onnx, torch="concat({xs})"),
)
