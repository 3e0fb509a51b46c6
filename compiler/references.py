"""Stage 2, expand (a part of unroll): the tensor references of teacher forcing (DLFS-2 ch. 7).

    tgt[:-1] -> embed(16)     a `steps` node: the sequence `tgt` without its last step
    softmax_ce(tgt[1:])       the loss's targets are the steps 1.. of the token input `tgt`

A slice may start a pipeline (or a merge's branch) from any named sequence. A loss's target is
a slice (or the whole) of a named token input: the data row already holds it, so the targets
are carved from it (`plan.NetPlan.target`) and no graph edge is needed. The canonical text of
a target, `tgt[1:]`, is what the loss's `target` argument holds, and `target_slice` reads it
back.
"""

from __future__ import annotations

import re
from typing import Any

from ..dsl.nodes import Arg, Call, TensorRef

TARGETED = ("softmax_ce",)  # losses that may take their targets from a token input


def slice_text(ref: TensorRef) -> str:
    """`tgt[1:]`, `tgt[:-1]`, `tgt` (no slice): as written, spaces dropped."""
    if not ref.sliced:
        return ref.name
    start = "" if ref.start is None else str(ref.start)
    stop = "" if ref.stop is None else str(ref.stop)
    return f"{ref.name}[{start}:{stop}]"


def target_slice(text: str) -> tuple[str, int | None, int | None]:
    """The input's name and the slice's bounds of a loss's `target` (`slice_text`'s form)."""
    found = re.fullmatch(r"(\w+)(?:\[(-?\d*):(-?\d*)\])?", text)
    assert found, text
    name, start, stop = found.groups()
    return name, int(start) if start else None, int(stop) if stop else None


def slice_start(b: Any, ref: TensorRef, via: Any, name_ref: Any) -> None:
    """`tgt[:-1] -> ...`: the named value, then a `steps` node keeping the slice's steps."""
    name_ref(b, Call(ref.name, (), ref.name_span, ref.name_span, False), True)
    args = tuple(Arg(key, value, ref.span, ref.span) for key, value in
                 (("start", ref.start), ("stop", ref.stop)) if value is not None)
    b.emit(Call("steps", args, ref.span, ref.span, False), via, (b.cur,))


def loss_target(b: Any, call: Call) -> Call:
    """`softmax_ce(tgt[1:])`: the reference checked (a token input, by name) and made the
    loss's `target` argument, in its canonical text."""
    refs = [a for a in call.args if isinstance(a.value, TensorRef)]
    if len(refs) > 1:
        b.fail("bad_target", f"{call.name} takes one target, got {len(refs)}", refs[1].span,
               hint=f"write {call.name}(tgt[1:]) with the input that holds the targets")
    arg = refs[0]
    ref = arg.value
    assert isinstance(ref, TensorRef)
    inputs = {n: v for n, v in b.names.items() if v.index < 0}
    found = b.names.get(ref.name)
    if found is None or found.index >= 0:
        from .registry import suggest

        last = list(inputs)[-1] if inputs else "tgt"  # the answer comes last, by custom
        hint = f"name a token input: {call.name}({last}[1:])"
        if not inputs:
            hint = "declare the targets' input: input: src: tokens, tgt: tokens"
        elif found is None:
            hint = suggest(ref.name, inputs) or hint
        what = f"'{ref.name}' is a value computed by the network" if found else \
            f"unknown input '{ref.name}'"
        b.fail("bad_target", f"{call.name}'s targets come from an input, but {what}",
               ref.name_span, hint=hint)
    found.used = True
    target = Arg("target", slice_text(ref), arg.span, arg.value_span)
    return Call(call.name, tuple(target if a is arg else a for a in call.args), call.span,
                call.name_span, call.has_parens, call.label, call.label_span, call.depth)
