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


def _detail(layer: LayerPlan) -> str:
    count = sum(p.size for p in layer.params)
    return f"(batch, {layer.n_out}) · {count:,} params"


def _nodes(plan: NetPlan) -> list[tuple[str, str, str]]:
    """(id, title, detail) for the input and every layer, in order."""
    rows = [("input", "input", f"(batch, {plan.input_width})")]
    rows += [(f"L{lp.index}", _title(lp), _detail(lp)) for lp in plan.layers]
    return rows


def _footer(plan: NetPlan) -> str:
    return f"{plan.param_count:,} parameters"


def to_text(plan: NetPlan) -> str:
    """Boxes joined by arrows, one per layer, for the terminal."""
    rows = _nodes(plan)
    inner = max(max(len(t), len(d)) for _, t, d in rows) + 2
    mid = " " * (inner // 2 + 1)
    lines: list[str] = []
    for i, (_, title, detail) in enumerate(rows):
        if i:
            lines += [f"{mid}│", f"{mid}▼"]
        lines.append("┌" + "─" * inner + "┐")
        lines += [f"│ {text.ljust(inner - 2)} │" for text in (title, detail)]
        lines.append("└" + "─" * inner + "┘")
    lines.append(_footer(plan))
    return "\n".join(lines) + "\n"


def to_mermaid(plan: NetPlan) -> str:
    """A Mermaid `flowchart TD`: one node per layer labelled with its shape and parameters."""
    rows = _nodes(plan)
    lines = ["flowchart TD"]
    for node_id, title, detail in rows:
        lines.append(f'    {node_id}["{_mermaid_text(title)}<br/>{_mermaid_text(detail)}"]')
    lines += [f"    {a[0]} --> {b[0]}" for a, b in pairwise(rows)]
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    # Why: a double quote would end Mermaid's quoted label; its entity form does not.
    return shown(text).replace('"', "#quot;")


def to_dot(plan: NetPlan) -> str:
    """A Graphviz digraph, top to bottom, boxes labelled like the Mermaid nodes."""
    rows = _nodes(plan)
    name = _dot_text(plan.path)
    lines = [f'digraph "{name}" {{', "    rankdir=TB;",
             '    node [shape=box, style="rounded", fontname="Helvetica"];',
             f'    label="{_dot_text(_footer(plan))}"; labelloc=b;']
    for node_id, title, detail in rows:
        lines.append(f'    {node_id} [label="{_dot_text(title)}\\n{_dot_text(detail)}"];')
    lines += [f"    {a[0]} -> {b[0]};" for a, b in pairwise(rows)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    # Why `shown`: the spec's path names the graph, and a file name that is not UTF-8 (or
    # holds control characters) must neither break the UTF-8 file nor reach Graphviz raw.
    return shown(text).replace("\\", "\\\\").replace('"', '\\"')


FORMATS = {".mmd": to_mermaid, ".mermaid": to_mermaid, ".dot": to_dot, ".gv": to_dot,
           ".txt": to_text}
RENDERED = (".svg", ".png", ".pdf")
