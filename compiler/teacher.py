"""Stage 5, lower (a part): teacher forcing and greedy generation checked against the graph.

A seq2seq spec (DLFS-2 ch. 7-8) reads the answer twice: the decoder gets `tgt[:-1]` (the
start symbol and every answer token but the last) and the loss scores `tgt[1:]` (every answer
token). `generate: greedy(tgt, steps=N)` then answers a question by feeding the decoder its own
output: step k's most likely token becomes input k + 1. That works only when the target is the
decoder's input shifted by one, so this module checks it, and returns what the runtime needs:

    target    (input index k, start, stop): the targets are columns of input k's slice
    generate  (input index k, steps, first): decode `steps` tokens; the decoder's input
              starts at column `first` of input k
"""

from __future__ import annotations

from typing import Any

from ..errors import Diagnostic, SpecShapeError
from ..source import Source
from .references import target_slice


def teacher_forcing(layers: tuple[Any, ...], parts: tuple[tuple[str, tuple[int, ...]], ...],
                    generate: Any, smap: Any, source: Source | None
                    ) -> tuple[tuple[int, int, int] | None, tuple[int, int, int] | None]:
    """(target, generate) as the module docstring says; raises `SpecShapeError`."""
    loss = layers[-1]
    text = loss.attr("target")
    if text is None:
        if generate is not None:
            _fail("bad_generate", "generate: needs a loss that scores an input's tokens",
                  smap.args.get(("run", "generate", "method")), source,
                  "write the loss as softmax_ce(tgt[1:]): the answer without its start symbol")
        return None, None
    name, start, stop = target_slice(text)
    k = next(k for k, (n, _) in enumerate(parts) if n == name)
    steps = parts[k][1][0]
    first, last, _ = slice(start, stop).indices(steps)
    where = smap.arg_span(loss.index, "target")
    kept, scored = max(0, last - first), loss.in_shape[0] if len(loss.in_shape) > 1 else 1
    if kept != scored:
        _fail("shape_mismatch", f"{loss.op} scores {scored} steps, but its targets {text} "
              f"hold {kept} of {name}'s {steps}", where, source,
              f"slice the targets to {scored} steps, e.g. {name}[1:] when the decoder reads "
              f"{name}[:-1]")
    target = (k, first, last)
    if generate is None:
        return target, None
    return target, _generate(layers, parts, generate, target, smap, source)


def _generate(layers: tuple[Any, ...], parts: tuple[tuple[str, tuple[int, ...]], ...],
              generate: Any, target: tuple[int, int, int], smap: Any,
              source: Source | None) -> tuple[int, int, int]:
    where = smap.args.get(("run", "generate", "input"))
    k, first, last = target
    if generate.input != parts[k][0]:
        _fail("bad_generate", f"generate: reads '{generate.input}', but the loss's targets "
              f"come from '{parts[k][0]}'", where, source,
              f"write generate: greedy({parts[k][0]}): the decoder feeds its answers back "
              "into the input the targets come from")
    # The decoder's input: a slice of input k that starts one step before the targets.
    starts = [lp.attr("start") or 0 for lp in layers if lp.op == "steps" and
              lp.inputs[0] == -1 - k]
    if first - 1 not in starts:
        _fail("bad_generate", f"generate: feeds each answer token back as the next input, so "
              f"the decoder must read {parts[k][0]} one step behind its targets", where,
              source, f"read {parts[k][0]}[:-1] into the decoder and score "
              f"{parts[k][0]}[1:]")
    most = last - first
    steps = generate.steps or most
    if steps > most:
        _fail("bad_generate", f"generate: asks for {steps} steps, but the decoder reads "
              f"{most} (the targets' length)", smap.args.get(("run", "generate", "steps"),
                                                                where),
              source, f"generate at most {most} steps: greedy({parts[k][0]}, steps={most})")
    return k, steps, first - 1


def _fail(code: str, message: str, span: Any, source: Source | None, hint: str) -> None:
    raise SpecShapeError([Diagnostic(code, message, span, hint=hint)], source)
