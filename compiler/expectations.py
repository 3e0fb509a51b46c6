"""Stage 2, expand (a spec's own assertions): `expect(30, 12, 12)` in a pipeline.

An author states the shape they expect a value to have at that point; the assertion is no
layer (it adds no node, no index, no parameter key, so adding one renames nothing). The walk
(`unroll.py`) attaches it to the node whose value it follows (`Expanded.expects`), and shape
inference (`shapes.infer`) compares it with the inferred shape and, when they differ, reports
a located `expect_mismatch` naming both.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..dsl.nodes import Call

NAME = "expect"
USAGE = "expect lists the dimensions the value should have, e.g. expect(30, 12, 12)"


def attach(b: Any, call: Call) -> None:
    """Record `call` (an `expect`) on the node whose value flows on (`b.cur`)."""
    dims = []
    for a in call.args:
        v = a.value
        if a.name is not None or isinstance(v, bool) or not isinstance(v, int) or v < 1:
            b.fail("bad_expect", f"expect takes whole numbers of at least 1, the dimensions "
                   f"of a shape; got {'a keyword ' if a.name else ''}argument "
                   f"{b.source.text[a.span.start:a.span.end]!r}", a.span, hint=USAGE)
        dims.append(v)
    if not dims or not call.has_parens:
        b.fail("bad_expect", "expect needs the shape it checks", call.span, hint=USAGE)
    if b.cur is None or b.cur < 0:
        b.fail("bad_expect", "expect checks the value a layer gives; an input's shape is the "
               "one `input:` declares", call.span,
               hint="put expect after a layer: conv(30, 5) -> relu -> expect(30, 24, 24)")
    node = b.out[b.cur]
    b.out[b.cur] = replace(node, expects=(*node.expects, (tuple(dims), call.span)))


def mismatch(dims: tuple[int, ...], shape: tuple[int, ...], after: str) -> tuple[str, str]:
    """(message, hint) of an expectation the inferred `shape` does not meet; `after` names
    the layer whose value it checks (`pool at 4:24`)."""
    return (f"expect({', '.join(map(str, dims))}) does not hold: {after} gives "
            f"{_text(shape)}, not {_text(dims)}",
            f"fix the layers before it, or the expectation: expect({', '.join(map(str, shape))})"
            " is what netc infers")


def _text(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)
