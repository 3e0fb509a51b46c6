"""Tooling (`netc fmt --annotate` / `--strip`): the inferred shape after each stage, as comments.

`annotate` plans the spec, then writes `#: 30x12x12` after every stage of its pipelines
(the shape of the value that stage ends in, per row, the batch left out) and formats the
result with `netc fmt`'s printer, which puts a pipeline with comments inside one stage per
line. `strip` removes those comments and formats again. The `#:` marks a comment as netc's,
so a second `--annotate` replaces the old shapes and `--strip` keeps the author's comments.
Stages inside block definitions are not annotated: a block's shapes differ from use to use.
"""

from __future__ import annotations

import re
from typing import Any

from .source import Source

MARK = "#:"
_ANNOTATION = re.compile(r"[ \t]*#:[^\n]*")


def strip(source: Source) -> str:
    """The spec without netc's shape comments, formatted."""
    from .dsl.printer import format_source

    return format_source(Source.from_text(_ANNOTATION.sub("", source.text), source.path))


def annotate(source: Source) -> str:
    """The spec with the inferred shape after each pipeline stage, formatted. A spec that
    does not compile raises its `SpecError`, as `netc check` would report it."""
    from .api import _planned
    from .dsl.parser import parse
    from .dsl.printer import format_source

    clean = Source.from_text(_ANNOTATION.sub("", source.text), source.path)
    plan, smap = _planned(clean)
    tops = [_top_span(ex) for ex in smap.layers]
    inserts = []
    for pipeline in parse(clean).pipelines:
        for stage in pipeline.stages:
            span = stage.span
            inside = [lp for lp in plan.layers if lp.index < len(tops) and
                      span.start <= tops[lp.index].start and tops[lp.index].end <= span.end]
            if inside:
                shape = "x".join(str(d) for d in inside[-1].shape)
                inserts.append((span.end, f"  {MARK} {shape}\n"))
    text = clean.text
    for at, note in sorted(inserts, reverse=True):
        end = text.find("\n", at)
        end = len(text) if end < 0 else end
        if text[at:end].lstrip().startswith("#"):  # the author's comment: ours goes after it
            text = text[:end] + note.rstrip("\n") + text[end:]
        else:
            text = text[:at] + note + text[at:].lstrip(" \t")
    return format_source(Source.from_text(text, source.path))


def _top_span(expanded: Any) -> Any:
    """Where a graph node was written at the top level: its outermost block use, else its
    own call (a block's layers are annotated where the block is used)."""
    via = expanded.via
    if via is None:
        return expanded.call.span
    while via.parent is not None:
        via = via.parent
    return via.span
