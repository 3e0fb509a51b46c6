"""Jupyter's view of a `NetPlan` (stage 5's output) or a `Network`: the table and an SVG diagram.

`_repr_html_` of both calls `plan_html`. The table is the one `netc check` prints; the diagram
is drawn here as inline SVG (boxes and arrows, top to bottom, like `netc graph`; an edge that
skips boxes, such as a residual's, is an arc on the right in `netc graph`'s lane), so a
notebook needs neither Graphviz nor a network connection. Pure functions from plan to text:
no numpy. Every piece of text passes `shown` (no control characters) and `html.escape`,
since a spec's path is the user's and ends up inside the page.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

# The same grouping of repeats, edges and lanes as `netc graph`.
from .graph import Lane, _group_label, _lanes, _reads, _segments
from .terminal import shown

if TYPE_CHECKING:
    from .compiler.plan import NetPlan

BOX_W, BOX_H, GAP = 230, 38, 18  # pixels: box size and the arrow's length between boxes
LANE = 14  # pixels between the boxes and a skip arc's first lane, and between lanes
# Fill by kind of op, so the eye finds the parameter layers and the loss at once.
_FILLS = {"param": "#dbe8fb", "loss": "#fde3cf", "input": "#eeeeee", "other": "#e3f4e1"}
_FONT = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace"


def esc(text: object) -> str:
    """`text` safe inside HTML or SVG, as text or a quoted attribute."""
    return html.escape(shown(text), quote=True)


def _kind(plan: NetPlan, node_id: str) -> str:
    if not node_id.startswith("L"):  # `input`, or `input_a` for a named input
        return "input"
    layer = plan.layers[int(node_id[1:])]
    if layer is plan.layers[-1]:
        return "loss"
    return "param" if layer.params else "other"


def plan_svg(plan: NetPlan) -> str:
    """The diagram: one rounded box per layer (title, output shape, parameters), arrows
    between them, a repeat drawn once in a dashed frame labelled `× 4 · layers 0-15` (the
    grouping of `netc graph`), an arc on the right for each edge that skips boxes, the total
    under the last box."""
    segments = _segments(plan)
    reads = _reads(plan, segments)
    lanes = _lanes(reads)
    nodes = [n for _, group in segments for n in group]
    longest = max(max(len(t), len(d)) for _, t, d in nodes)
    inset = 12 if any(copies > 1 for copies, _ in segments) else 0
    width = max(BOX_W, 7 * longest + 24)  # Why 7: about one monospace character at 12px
    x, y, mid = 2 + inset, 2, 2 + inset + width // 2
    parts: list[str] = []
    tops: list[int] = []  # each box's top edge
    for copies, group in segments:
        top, mark = y, len(parts)
        if copies > 1:
            y += 20  # room for the frame's label
        for node_id, title, detail in group:
            if y > 2 and len(tops) - 1 in reads[len(tops)]:  # it reads the box above
                parts.append(f'<line x1="{mid}" y1="{y - GAP}" x2="{mid}" y2="{y - 1}" '
                             'stroke="#555" marker-end="url(#netc-arrow)"/>')
            tops.append(y)
            parts += _box(x, y, width, title, detail, _FILLS[_kind(plan, node_id)])
            y += BOX_H + GAP
        if copies > 1:  # drawn first, under the boxes
            parts.insert(mark, _frame(top - 4, y - GAP + 10 - top, width + 2 * inset,
                                      _group_label(copies, group)))
            y += 8
    parts += _arcs(lanes, tops, x + width)
    height = y + 10
    wide = width + 2 * inset + 4 + LANE * (1 + max((c for _, _, c in lanes), default=-1))
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="netc-diagram" '
            f'width="{wide}" height="{height}" role="img" '
            f'aria-label="{esc(plan.path)}: network diagram"><defs><marker id="netc-arrow" '
            'viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>')
    foot = (f'<text x="2" y="{height - 4}" style="{_FONT};font-size:11px" fill="#333">'
            f'{plan.param_count:,} parameters</text></svg>')
    return head + "".join(parts) + foot


def _arcs(lanes: list[Lane], tops: list[int], right: int) -> list[str]:
    """One path per edge that skips boxes: out of the right side of its box's lower half, along
    its lane (the column `netc graph` gives it), into each reader's upper half with an arrow."""
    paths = []
    for src, readers, col in lanes:
        lane, start = right + LANE * (col + 1), tops[src] + 2 * BOX_H // 3
        for p in readers:
            end = tops[p] + BOX_H // 3
            paths.append(f'<path class="netc-skip" d="M{right},{start} H{lane - 6} '
                         f'Q{lane},{start} {lane},{start + 6} V{end - 6} Q{lane},{end} '
                         f'{lane - 6},{end} H{right + 1}" fill="none" stroke="#555" '
                         'marker-end="url(#netc-arrow)"/>')
    return paths


def _box(x: int, y: int, width: int, title: str, detail: str, fill: str) -> list[str]:
    return [f'<rect x="{x}" y="{y}" width="{width}" height="{BOX_H}" rx="6" fill="{fill}" '
            'stroke="#6b7a90"/>',
            f'<text x="{x + 10}" y="{y + 15}" style="{_FONT};font-size:12px" fill="#111">'
            f'{esc(title)}</text>',
            f'<text x="{x + 10}" y="{y + 30}" style="{_FONT};font-size:11px" fill="#444">'
            f'{esc(detail)}</text>']


def _frame(y: int, height: int, width: int, label: str) -> str:
    return (f'<rect x="2" y="{y}" width="{width}" height="{height}" rx="8" fill="none" '
            f'stroke="#8a6bb0" stroke-dasharray="5,3"/><text x="10" y="{y + 14}" '
            f'style="{_FONT};font-size:11px;font-weight:bold" fill="#5b3f86">{esc(label)}'
            '</text>')


def table_html(plan: NetPlan) -> str:
    """The layer table of `netc check` as an HTML table, totals beneath it."""
    header, *rows = plan.summary_rows()
    cell = "padding:2px 10px;text-align:{}"
    align = ["right", "left", "left", "right", "left"]
    head = "".join(f'<th style="{cell.format(a)};border-bottom:1px solid #999">{esc(h)}</th>'
                   for h, a in zip(header, align, strict=True))
    body = "".join("<tr>" + "".join(f'<td style="{cell.format(a)}">{esc(c)}</td>'
                                    for c, a in zip(row, align, strict=True)) + "</tr>"
                   for row in rows)
    # Why width 0 and min-width 100%: the long memory line wraps to the table's width
    # instead of widening the column and pushing the diagram below the table.
    totals = "".join(f'<div style="{_FONT};font-size:12px;width:0;min-width:100%;'
                     f'margin-top:4px">{esc(line)}</div>' for line in plan.summary_totals())
    return (f'<table class="netc-summary" style="{_FONT};font-size:12px;border-collapse:'
            f'collapse"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{totals}')


def plan_html(plan: NetPlan, heading: str | None = None) -> str:
    """Heading, then the table and the diagram side by side (wrapping on a narrow page)."""
    where = "" if plan.path == "<string>" else f" of {plan.path}"  # compiled from text
    top = heading if heading is not None else f"netc plan{where}: {plan.param_count:,} params"
    return (f'<div class="netc-plan"><div style="{_FONT};font-weight:bold;margin-bottom:6px">'
            f'{esc(top)}</div><div style="display:flex;flex-wrap:wrap;gap:28px;'
            f'align-items:flex-start"><div style="display:inline-block">{table_html(plan)}</div>'
            f'<div>{plan_svg(plan)}</div></div></div>')
