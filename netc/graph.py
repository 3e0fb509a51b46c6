"""Diagrams of a `NetPlan` (stage 5's output) for `netc graph`: terminal text, Mermaid and DOT.

Pure functions from plan to text: no numpy, no files, no subprocesses (the CLI writes files and
runs Graphviz). Every diagram shows the input (each named one), then each node with its output
shape (`(batch, 50)`, `(batch, 1, 28, 28)`) and its parameter count, top to bottom in
topological order, so it reads like the table of `netc check`. Mermaid and DOT draw one edge
per input of each node.

The text diagram of a graph with branches (a chain draws none of this):

    ┌─────────────────┐
    │ 1 relu          │
    │ (batch, 8)      ├─┐     `├─┐`: the value leaves on a lane to a node further down
    └─────────────────┘ │
             │          │     the arrow: the next box reads the one above it
             ▼          │
    ┌─────────────────┐ │
    │ 2 affine(8, 8)  │ │     a lane passes a box it does not enter
    ...
    ┌─────────────────┐ │
    │ 4 add ← 3, 1    │◀┘     `◀┘`: the lane enters; `◀┤`: one reader of several (fan-out)
    │ (batch, 8)      │

A title says `← 3, 1` (the inputs, in the op's argument order; `input` for the network's)
whenever a node reads anything but the box just above it; a network of several named inputs
(`input: a: 6, b: 1x2x2`) starts with one box per input, `input a` then `input b`, stacked in
the order declared, and its readers name them (`← input a`) and tap their lanes; no arrow
joins two boxes when the lower one does not read the upper. Shorter lanes sit nearer the
boxes, so nested skips do not cross. A repeat's copies are drawn once only where they form a
plain chain (no lane enters, leaves or passes them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# Why `describe_layer`: it is the one place that turns an op's catalogue label into the
# summary's text; plan.py's table and these diagrams must say the same.
from .compiler.plan import INPUT, describe_layer
from .terminal import shown

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .compiler.plan import LayerPlan, NetPlan


def _shape(shape: Iterable[int]) -> str:
    """`(batch, 50)`, `(batch, 1, 28, 28)`: one row's shape with the batch dimension first."""
    return f"(batch, {', '.join(str(d) for d in shape)})"


def _n_inputs(plan: NetPlan) -> int:
    """How many input boxes head the diagram: one per named input, else one."""
    return max(1, len(plan.input_parts))


def _above(plan: NetPlan, i: int) -> int:
    """The value drawn just above layer i: the layer before, or for layer 0 the last input
    (values -1, -2, ... are the inputs, stacked in that order)."""
    return i - 1 if i else INPUT - _n_inputs(plan) + 1


def _source(plan: NetPlan, j: int) -> str:
    """How a title names value j: its index, `input`, or `input a` for a named input."""
    if j >= 0:
        return str(j)
    return f"input {plan.input_name(j)}" if plan.input_parts else "input"


def _input_nodes(plan: NetPlan) -> list[Node]:
    """The input boxes: `input` and its shape, or `input a`, `input b`... in declared order.
    Why `input_a` as an id: names are identifiers, so the ids are distinct and valid in
    Mermaid and DOT, and none can be a layer's `L3`."""
    if not plan.input_parts:
        return [("input", "input", _shape(plan.input_shape))]
    return [(f"input_{name}", f"input {name}", _shape(shape)) for name, shape in plan.input_parts]


def _title(plan: NetPlan, layer: LayerPlan) -> str:
    """`2 affine(10, 3)`: position and the op's label as in `netc check`; then `← 3, 1`, its
    inputs, when it reads anything but the box just above it."""
    text = f"{layer.index} {describe_layer(layer)}"
    if layer.inputs != (_above(plan, layer.index),):
        text += " ← " + ", ".join(_source(plan, j) for j in layer.inputs)
    return text


def _detail(layer: LayerPlan, later: LayerPlan | None = None) -> str:
    """Output shape, and the parameter count where there are parameters; `later` is the same
    layer in the next copy of a repeat, whose count differs when its input width does."""
    count = sum(p.size for p in layer.params)
    text = _shape(layer.shape)
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


def _keys(plan: NetPlan) -> list[object]:
    """`_key` of each layer that is a plain link of a chain: reads only the layer before, is
    read only by the one after, and no edge passes over it. Any other gets its index, equal to
    no other key, so no repeat drawn once hides an edge (every layer of a chain is plain)."""
    layers, readers = plan.layers, plan.consumers()
    passing = [0] * (len(layers) + 1)
    for lp in layers:  # Why a difference array: edge j -> i passes over j+1 .. i-1
        for j in set(lp.inputs):
            if lp.index > max(j + 1, 0):  # Why max: an input (-1, -2...) sits above layer 0
                passing[max(j + 1, 0)] += 1
                passing[lp.index] -= 1
    keys: list[object] = []
    over = 0
    for lp in layers:
        over += passing[lp.index]
        plain = (not over and lp.inputs == (_above(plan, lp.index),)
                 and readers[lp.index] in ([lp.index + 1], []))
        keys.append(_key(lp) if plain else lp.index)
    return keys


def _repeat_at(keys: list[object], i: int) -> tuple[int, int]:
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
    """The inputs, one segment each, then the layers with each run of repeated copies as one
    segment: the first copy's nodes and the number of copies (`hidden * 4` draws its layers
    once, ×4)."""
    layers, keys = plan.layers, _keys(plan)
    out: list[Segment] = [(1, [node]) for node in _input_nodes(plan)]
    i = 0
    while i < len(layers):
        size, copies = _repeat_at(keys, i)
        if copies == 1:
            out.append((1, [(f"L{i}", _title(plan, layers[i]), _detail(layers[i]))]))
        else:
            out.append((copies, [(f"L{j}", _title(plan, layers[j]),
                                  _detail(layers[j], layers[j + size]))
                                 for j in range(i, i + size)]))
        i += size * copies
    return out


def _reads(plan: NetPlan, segments: list[Segment]) -> list[list[int]]:
    """For each drawn box, top to bottom, the boxes it reads (by position, in the op's argument
    order, each once); a layer in a later copy of a repeat is drawn as its first copy's box."""
    n = _n_inputs(plan)  # the input boxes come first: value -1 - k is box k
    drawn: dict[int, int] = {INPUT - k: k for k in range(n)}
    pos = n - 1
    for copies, nodes in segments[n:]:
        first = int(nodes[0][0][1:])
        for k in range(copies * len(nodes)):
            drawn[first + k] = pos + 1 + k % len(nodes)
        pos += len(nodes)
    reads: list[list[int]] = [[] for _ in range(n)]
    for _, nodes in segments[n:]:
        for node_id, _, _ in nodes:
            inputs = plan.layers[int(node_id[1:])].inputs
            reads.append(list(dict.fromkeys(drawn[j] for j in inputs)))
    return reads


Lane = tuple[int, list[int], int]  # (box whose value it carries, the boxes reading it, column)


def _lanes(reads: list[list[int]]) -> list[Lane]:
    """The edges that skip boxes, one lane per value (its readers tap it), each in the column
    nearest the boxes that is free from the value's box to its last reader: shorter first, so
    a skip inside another sits inside it."""
    far: dict[int, list[int]] = {}
    for p, sources in enumerate(reads):
        for src in sources:
            if src != p - 1:
                far.setdefault(src, []).append(p)
    taken: list[list[tuple[int, int]]] = []
    lanes: list[Lane] = []
    for src, readers in sorted(far.items(), key=lambda kv: (kv[1][-1] - kv[0], kv[0])):
        lo, hi = 2 * src + 1, 2 * readers[-1]  # Why 2p+1: it leaves below where one enters
        col = next((k for k, used in enumerate(taken)
                    if all(hi < a or lo > b for a, b in used)), len(taken))
        if col == len(taken):
            taken.append([])
        taken[col].append((lo, hi))
        lanes.append((src, readers, col))
    return lanes


def _group_label(copies: int, nodes: list[Node]) -> str:
    first = int(nodes[0][0][1:])
    last = first + copies * len(nodes) - 1
    return f"× {copies} · layers {first}-{last}"


def _footer(plan: NetPlan) -> str:
    return f"{plan.param_count:,} parameters"


def _box(title: str, detail: str, inner: int, bar: str, leaves: bool = False) -> list[str]:
    side = "├" if leaves else "│"  # Why: a lane to a reader further down starts here
    return [f"{bar}┌" + "─" * inner + "┐", f"{bar}│ {title.ljust(inner - 2)} │",
            f"{bar}│ {detail.ljust(inner - 2)} {side}", f"{bar}└" + "─" * inner + "┘"]


def to_text(plan: NetPlan) -> str:
    """Boxes joined by arrows, one per layer, for the terminal; a repeat's copies are drawn
    once, inside a bracket labelled with the number of copies and the layers they span; edges
    that skip boxes run down lanes on the right (the module's docstring shows one)."""
    segments = _segments(plan)
    reads = _reads(plan, segments)
    lanes = _lanes(reads)
    leaving = {src for src, _, _ in lanes}
    inner = max(max(len(t), len(d)) for _, nodes in segments for _, t, d in nodes) + 2
    mid = " " * (inner // 2 + 1)
    grouped = any(c > 1 for c, _ in segments)  # Why: a bracket's bar shifts every box
    lines: list[str] = []
    rows: list[int] = []  # the line of each box's title
    for copies, nodes in segments:
        bar = "┃ " if copies > 1 else "  " if grouped else ""
        if lines:
            joined = len(rows) - 1 in reads[len(rows)]
            lines += [f"{'  ' if bar else ''}{mid}│", f"{'  ' if bar else ''}{mid}▼"] \
                if joined else ["", ""]
        if copies > 1:
            lines.append(f"┏━ {_group_label(copies, nodes)} ━━")
        for k, (_, title, detail) in enumerate(nodes):
            if k:
                lines += [f"{bar}{mid}│", f"{bar}{mid}▼"]
            rows.append(len(lines) + 1)
            lines += _box(title, detail, inner, bar, len(rows) - 1 in leaving)
        if copies > 1:
            lines.append("┗━━")
    _draw_lanes(lines, rows, lanes, 2 * grouped + inner + 2)
    lines.append(_footer(plan))
    return "\n".join(lines) + "\n"


_JOINS = {"LR": "─", "DU": "│", "DL": "┐", "LU": "┘", "DLU": "┤", "LRU": "┴", "DLR": "┬"}


def _draw_lanes(lines: list[str], rows: list[int], lanes: list[Lane], width: int) -> None:
    """Draw each lane right of the boxes (`width` columns): out of its box's shape line, down
    column 1 + 2 * its column, into each reader's title line with `◀`."""
    cells: dict[tuple[int, int], set[str]] = {}

    def mark(row: int, xs: Iterable[int], dirs: str) -> None:
        for x in xs:
            cells.setdefault((row, x), set()).update(dirs)

    for src, readers, col in lanes:
        x, top, bottom = 1 + 2 * col, rows[src] + 1, rows[readers[-1]]
        mark(top, range(x), "LR")
        mark(top, [x], "DL")
        for row in range(top + 1, bottom):
            mark(row, [x], "DU")
        for p in readers:
            mark(rows[p], [0], "<")
            mark(rows[p], range(1, x), "LR")
            mark(rows[p], [x], "LU")
    ends: dict[int, int] = {}
    for row, x in cells:
        ends[row] = max(ends.get(row, 0), x)
    for row, end in ends.items():
        lines[row] = lines[row].ljust(width) + "".join(
            "◀" if "<" in cells.get((row, x), ()) else
            _JOINS.get("".join(sorted(cells.get((row, x), ()))), "┼") if (row, x) in cells
            else " " for x in range(end + 1))


def _edges(plan: NetPlan, segments: list[Segment]) -> list[tuple[str, str]]:
    """(from, to) ids: one edge per input of each drawn box (for a chain, box to next box)."""
    ids = [node[0] for _, nodes in segments for node in nodes]
    return [(ids[src], ids[p]) for p, sources in enumerate(_reads(plan, segments))
            for src in sources]


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
    lines += [f"    {a} --> {b}" for a, b in _edges(plan, segments)]
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
    lines += [f"    {a} -> {b};" for a, b in _edges(plan, segments)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    # Why `shown`: the spec's path names the graph, and a file name that is not UTF-8 (or
    # holds control characters) must neither break the UTF-8 file nor reach Graphviz raw.
    return shown(text).replace("\\", "\\\\").replace('"', '\\"')


FORMATS = {".mmd": to_mermaid, ".mermaid": to_mermaid, ".dot": to_dot, ".gv": to_dot,
           ".txt": to_text}
RENDERED = (".svg", ".png", ".pdf")
