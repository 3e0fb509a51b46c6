"""Diagrams of a `NetPlan` (stage 5's output) for `netc graph`: terminal text, Mermaid and DOT.

Pure functions from plan to text: no numpy, no files, no subprocesses (the CLI writes files and
runs Graphviz). Every diagram shows the input, then each layer with its output shape and its
parameter count, top to bottom, so it reads like the table of `netc check`.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from .terminal import shown

if TYPE_CHECKING:
    from .compiler.plan import LayerPlan, NetPlan


def _title(layer: LayerPlan) -> str:
    """`2 affine(10, 3)`: position, op and its sizes/attributes as in `netc check`."""
    args = [f"{layer.n_in}, {layer.n_out}"] if layer.op in ("affine", "matmul") else []
    args += [f"{k}={v}" for k, v in layer.attrs]
    return f"{layer.index} {layer.op}" + (f"({', '.join(args)})" if args else "")


def _detail(layer: LayerPlan, later: LayerPlan | None = None) -> str:
    """Output shape, and the parameter count where there are parameters; `later` is the same
    layer in the next copy of a repeat, whose count differs when its input width does."""
    count = sum(p.size for p in layer.params)
    text = f"(batch, {layer.n_out})"
    if count:
        text += f" · {count:,} params"
        other = sum(p.size for p in later.params) if later is not None else count
        if other != count:
            text += f" ({other:,} in the other copies)"
    return text


# Longest run of layers tried as the unit of a repeat. Why bounded: the search costs
# O(layers * MAX_UNIT) comparisons of slices, and a longer unit is not read as one anyway.
MAX_UNIT = 64


def _key(layer: LayerPlan) -> tuple[object, ...]:
    # Why the span: copies of `(...) * 4` or of a block used twice come from the same spec
    # text, so equal spans group only what the spec wrote once; two `relu`s typed one after
    # the other stay two boxes. Why not n_in: the first copy takes the width before it.
    return (layer.op, layer.attrs, layer.n_out, layer.span)


def _repeat_at(keys: list[tuple[object, ...]], i: int) -> tuple[int, int]:
    """(unit length, copies) of the repeat covering most layers from `i`; (1, 1) if none."""
    best = (1, 1)
    for size in range(1, min(MAX_UNIT, (len(keys) - i) // 2) + 1):
        if keys[i + size] != keys[i]:
            continue
        copies = 1
        while keys[i + copies * size:i + (copies + 1) * size] == keys[i:i + size]:
            copies += 1
        if copies > 1 and size * copies > best[0] * best[1]:
            best = (size, copies)
    return best


Node = tuple[str, str, str]
Segment = tuple[int, list[Node]]  # (copies, the nodes of one copy); 1: plain layers


def _segments(plan: NetPlan) -> list[Segment]:
    """The input, then the layers with each run of repeated copies as one segment: the
    first copy's nodes and the number of copies (`hidden * 4` draws its layers once, ×4)."""
    layers, keys = plan.layers, [_key(lp) for lp in plan.layers]
    out: list[Segment] = [(1, [("input", "input", f"(batch, {plan.input_width})")])]
    i = 0
    while i < len(layers):
        size, copies = _repeat_at(keys, i)
        if copies == 1:
            out.append((1, [(f"L{i}", _title(layers[i]), _detail(layers[i]))]))
        else:
            out.append((copies, [(f"L{j}", _title(layers[j]), _detail(layers[j], layers[j + size]))
                                 for j in range(i, i + size)]))
        i += size * copies
    return out


def _group_label(copies: int, nodes: list[Node]) -> str:
    first = int(nodes[0][0][1:])
    last = first + copies * len(nodes) - 1
    return f"× {copies} · layers {first}-{last}"


def _nodes(plan: NetPlan) -> list[Node]:
    """(id, title, detail) of every drawn node, in order (a repeat's first copy only)."""
    return [node for _, nodes in _segments(plan) for node in nodes]


def _footer(plan: NetPlan) -> str:
    return f"{plan.param_count:,} parameters"


def _box(title: str, detail: str, inner: int, bar: str) -> list[str]:
    return [f"{bar}┌" + "─" * inner + "┐", *[f"{bar}│ {t.ljust(inner - 2)} │" for t in
                                              (title, detail)], f"{bar}└" + "─" * inner + "┘"]


def to_text(plan: NetPlan) -> str:
    """Boxes joined by arrows, one per layer, for the terminal; a repeat's copies are drawn
    once, inside a bracket labelled with the number of copies and the layers they span."""
    segments = _segments(plan)
    inner = max(max(len(t), len(d)) for _, t, d in _nodes(plan)) + 2
    mid = " " * (inner // 2 + 1)
    lines: list[str] = []
    for copies, nodes in segments:
        bar = "┃ " if copies > 1 else "  " if any(c > 1 for c, _ in segments) else ""
        if lines:
            lines += [f"{'  ' if bar else ''}{mid}│", f"{'  ' if bar else ''}{mid}▼"]
        if copies > 1:
            lines.append(f"┏━ {_group_label(copies, nodes)} ━━")
        for k, (_, title, detail) in enumerate(nodes):
            if k:
                lines += [f"{bar}{mid}│", f"{bar}{mid}▼"]
            lines += _box(title, detail, inner, bar)
        if copies > 1:
            lines.append("┗━━")
    lines.append(_footer(plan))
    return "\n".join(lines) + "\n"


def _edges(segments: list[Segment]) -> list[tuple[str, str]]:
    ids = [node[0] for _, nodes in segments for node in nodes]
    return list(pairwise(ids))


def to_mermaid(plan: NetPlan) -> str:
    """A Mermaid `flowchart TD`: one node per layer labelled with its shape and parameters;
    a repeat's first copy sits in a subgraph labelled `× copies`."""
    segments = _segments(plan)
    lines = ["flowchart TD"]
    for g, (copies, nodes) in enumerate(segments):
        indent = "        " if copies > 1 else "    "
        if copies > 1:
            lines.append(f'    subgraph R{g}["{_mermaid_text(_group_label(copies, nodes))}"]')
        for node_id, title, detail in nodes:
            lines.append(f'{indent}{node_id}["{_mermaid_text(title)}<br/>'
                         f'{_mermaid_text(detail)}"]')
        if copies > 1:
            lines.append("    end")
    lines += [f"    {a} --> {b}" for a, b in _edges(segments)]
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    # Why: a double quote would end Mermaid's quoted label; its entity form does not.
    return shown(text).replace('"', "#quot;")


def to_dot(plan: NetPlan) -> str:
    """A Graphviz digraph, top to bottom, boxes labelled like the Mermaid nodes; a repeat's
    first copy in a dashed cluster labelled `× copies`."""
    segments = _segments(plan)
    name = _dot_text(plan.path)
    lines = [f'digraph "{name}" {{', "    rankdir=TB;",
             '    node [shape=box, style="rounded", fontname="Helvetica"];',
             f'    label="{_dot_text(_footer(plan))}"; labelloc=b;']
    for g, (copies, nodes) in enumerate(segments):
        indent = "        " if copies > 1 else "    "
        if copies > 1:
            lines += [f"    subgraph cluster_{g} {{", "        style=dashed;",
                      f'        label="{_dot_text(_group_label(copies, nodes))}";']
        for node_id, title, detail in nodes:
            lines.append(f'{indent}{node_id} [label="{_dot_text(title)}\\n{_dot_text(detail)}"];')
        if copies > 1:
            lines.append("    }")
    lines += [f"    {a} -> {b};" for a, b in _edges(segments)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    # Why `shown`: the spec's path names the graph, and a file name that is not UTF-8 (or
    # holds control characters) must neither break the UTF-8 file nor reach Graphviz raw.
    return shown(text).replace("\\", "\\\\").replace('"', '\\"')


FORMATS = {".mmd": to_mermaid, ".mermaid": to_mermaid, ".dot": to_dot, ".gv": to_dot,
           ".txt": to_text}
RENDERED = (".svg", ".png", ".pdf")
