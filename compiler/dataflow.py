"""Stage 6a, generate (first half): which buffer holds each value and each gradient.

Pure bookkeeping over a `NetPlan`, read by codegen and by the memory estimate:

- Each node writes its output into `y{i}`, unless its op may work in place (`OpDef.in_place`)
  and its input is read by it alone and is not needed by its producer's backward: then it
  reuses its input's buffer.
- Each node's backward receives dL/d(output) in `g{i}`; an elementwise op (`grad_in_place`)
  hands its own buffer down when its input has no other reader.
- Where a value fans out (read by several nodes, or twice by one), backward runs the readers
  last first: the first writes the gradient buffer, each later one writes a temporary
  (`t{i}`, `t{i}_1`, ...) that is then added in (`np.add(g, t, out=g)`). The network's inputs
  alike, into `dx` when the caller asks for it.

A chain gets exactly the names it always had: no temporaries, no additions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .descriptor import size
from .ops import OPS
from .plan import INPUT, LayerPlan, NetPlan


@dataclass
class Flow:
    """Buffer names per node (the loss last): `xs`/`dxs` one per input read, in order."""

    ys: list[str] = field(default_factory=list)
    gs: list[str] = field(default_factory=list)
    xs: list[tuple[str, ...]] = field(default_factory=list)
    dxs: list[tuple[str, ...]] = field(default_factory=list)
    adds: list[list[tuple[str, str]]] = field(default_factory=list)  # (gradient, temporary)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # buffer -> row shape
    temps: dict[str, int] = field(default_factory=dict)  # temporary -> the value it is for
    # (layer, array name) -> its shape, for every read of a shared array (`@A`, `tied=A`)
    # whose backward runs after another reader's: it writes this temporary, then adds it in.
    shares: dict[tuple[int, str], tuple[int, ...]] = field(default_factory=dict)

    def input_view(self, grads: bool = False, reads: Sequence[str] = ()) -> list[str]:
        """Lines that view the flat rows of the data (and of `dx`) as each input: a
        sequence's shape, the columns of each named input. Views where that is possible;
        images are copied channel-major, `(C, n, H, W)`, the layout of every image value.
        With `reads` (the function's other lines), only the views they read: an unread
        local (a token input's gradient) would fail ruff in emitted modules."""
        lines = self._views(grads)
        if not reads:
            return lines
        text = "\n".join(reads)
        return [line for line in lines if _read(line, text)]

    def _views(self, grads: bool) -> list[str]:
        lines = []
        for name, (start, stop), shape in self.parts.values():
            if name == "x" and len(shape) < 2:
                continue  # one vector input: the data rows as they are
            dims = f".reshape((-1, {', '.join(str(d) for d in shape)}))" if len(shape) > 1 \
                else ""
            cols = "" if name == "x" else f"[:, {start}:{stop}]"
            if not _copied(name, shape):  # views: a whole row, or columns of it
                lines.append(f"        {name} = x{cols}{dims}  # data rows as {shape}")
                if grads:
                    lines.append(f"        d{name} = None if dx is None else dx{cols}{dims}")
                continue
            if len(shape) == 3:
                lines.append(f"        {name} = np.ascontiguousarray(x{cols}{dims}"
                             f".transpose(1, 0, 2, 3))  # images as (C, n, H, W)")
            else:
                # Why a copy: columns of a row cut into steps are no longer one strided
                # block, so a per-step view of them would silently copy (and lose writes).
                lines.append(f"        {name} = np.ascontiguousarray(x[:, {start}:{stop}]){dims}")
            if grads and name == "x":  # `dx` becomes the copy's gradient: keep the caller's
                lines.append("        dx_out, dx = dx, (None if dx is None else dx_rows)")
            elif grads:
                lines.append(f"        d{name} = None if dx is None else d{name}_rows")
        return lines

    def input_writeback(self) -> list[str]:
        """After backward: the gradients of copied inputs, back into their columns of dx."""
        lines = []
        for name, (start, stop), shape in self.parts.values():
            if _copied(name, shape):
                out = "dx_out" if name == "x" else "dx"
                rows = f"d{name}_rows{'.transpose(1, 0, 2, 3)' if len(shape) == 3 else ''}"
                lines.append(f"        if {out} is not None:\n            {out}.reshape("
                             f"len({out}), -1)[:, {start}:{stop}] = {rows}.reshape(len({out}), -1)")
        return lines

    def input_buffers(self) -> dict[str, tuple[int, ...]]:
        """The buffers `input_writeback` copies from, with their row shapes."""
        return {f"d{name}_rows": shape for name, _, shape in self.parts.values()
                if _copied(name, shape)}

    # Peeky folds: a recurrent node -> (the concat it reads, the width of the vector that
    # concat repeats at every step). The recurrent node multiplies the vector by its rows of
    # Wx once and reads the concat's sequence itself; the concat emits no calls.
    folds: dict[int, tuple[int, int]] = field(default_factory=dict)

    def folded(self, i: int) -> bool:
        """Whether node i is a concat folded into the recurrent node that reads it."""
        return any(c == i for c, _ in self.folds.values())

    def view(self, layer: LayerPlan) -> LayerPlan:
        """`layer` as its calls see it: a folded recurrent node reads the sequence alone."""
        fold = self.folds.get(layer.index)
        if fold is None:
            return layer
        shape = (*layer.in_shape[:-1], layer.in_shape[-1] - fold[1])
        return replace(layer, in_shape=shape, n_in=size(shape),
                       attrs=(*layer.attrs, ("peek", fold[1])))

    # Buffers not in the network's float type: token ids sliced by a `steps` node (int64).
    dtypes: dict[str, str] = field(default_factory=dict)

    def dtype(self, name: str) -> str:
        """The type `bind` allocates buffer `name` in, as generated code writes it."""
        found = self.dtypes.get(name)
        return f"np.{found}" if found else "dtype"

    loss_rank: int = 1  # of the loss's input rows: above 1, the loss sees them flat
    # Input value (-1, -2, ...) -> (its name in the passes, its columns in a data row, shape).
    parts: dict[int, tuple[str, tuple[int, int], tuple[int, ...]]] = field(
        default_factory=dict)

    def last(self) -> str:
        """The loss's input."""
        return self.xs[-1][0]

    def input_grad(self, name: str) -> bool:
        """Whether `name` receives (a share of) an input's gradient, which the caller may not
        want (`backward(..., dx=None)`): such a read is guarded, and such an addition too."""
        return self.temps.get(name, 0) < 0 or any(name == f"d{n}" for n, _, _ in
                                                  self.parts.values())

    def flat(self, name: str) -> str:
        """The loss's view of its input (or its gradient): rows of a sequence or an image
        as flat vectors, as the elementwise losses and their targets take them."""
        return f"{name}.reshape(n, -1)" if self.loss_rank > 1 else name


def _read(line: str, text: str) -> bool:
    """Whether the value a view line assigns is read in `text` (other lines: kept)."""
    target = line.split(" = ", 1)[0].strip()
    return not target.isidentifier() or re.search(rf"\b{target}\b", text) is not None


def _copied(name: str, shape: tuple[int, ...]) -> bool:
    """Whether an input is copied rather than viewed: every image (channel-major), and the
    sequences of named inputs (their columns are no strided block)."""
    return len(shape) == 3 or (name != "x" and len(shape) > 1)


_LAST: list[tuple[NetPlan, Flow]] = []  # the last plan asked about, by identity


def flow(plan: NetPlan) -> Flow:
    """The buffer names of every node of `plan` (see the module docstring). Remembered for
    the last plan: codegen and its memory estimates (several batch sizes) all ask, and
    hashing a large plan for a general cache would cost more than it saves."""
    if _LAST and _LAST[0][0] is plan:
        return _LAST[0][1]
    found = _flow(plan)
    _LAST[:] = [(plan, found)]
    return found


def _flow(plan: NetPlan) -> Flow:
    layers, f = plan.layers, Flow()
    readers = plan.consumers()
    for lp in layers[:-1]:
        j = lp.inputs[0]
        alias = (OPS[lp.op].in_place and len(lp.inputs) == 1 and j >= 0 and
                 len(readers[j]) == 1 and not OPS[layers[j].op].needs_output)
        f.ys.append(f.ys[j] if alias else f"y{lp.index}")
        f.gs.append(f"g{lp.index}")
    for lp in reversed(layers[:-1]):
        j = lp.inputs[0]
        if OPS[lp.op].grad_in_place and len(lp.inputs) == 1 and j >= 0 and \
                len(readers[j]) == 1:
            f.gs[j] = f.gs[lp.index]
    tokens = {j for j in range(-len(plan.input_parts or "x"), 0)} if plan.vocab else set()
    for lp in layers[:-1]:
        if lp.op == "steps" and lp.inputs[0] in tokens:  # ids stay ids
            tokens.add(lp.index)
            f.dtypes[f.ys[lp.index]] = f.dtypes[f.gs[lp.index]] = "int64"
    f.folds = _folds(plan, readers)
    f.parts = _parts(plan)
    f.xs = [tuple(f.parts[j][0] if j < 0 else f.ys[j] for j in lp.inputs) for lp in layers]
    _gradients(plan, f)
    _shapes(plan, f)
    f.shares = param_shares(plan)
    j = layers[-1].inputs[0]
    f.loss_rank = len(f.parts[j][2] if j < 0 else layers[j].shape)
    return f


def _folds(plan: NetPlan, readers: dict[int, list[int]]) -> dict[int, tuple[int, int]]:
    """The peeky concats to fold: `concat(x, v) -> lstm` with x a sequence, v a vector, the
    recurrent node its only reader (DLFS-2 ch. 7's peeky decoder: v Wx[d:] is the same at
    every step, so it is computed once, as a bias per row)."""
    found = {}
    for lp in plan.layers:
        c = lp.inputs[0]
        if not OPS[lp.op].peeky or c < 0 or readers[c] != [lp.index]:
            continue
        merge = plan.layers[c]
        shapes = merge.in_shapes
        if merge.op == "concat" and len(shapes) == 2 and len(shapes[0]) == 2 and \
                len(shapes[1]) == 1:
            found[lp.index] = (c, shapes[1][0])
    return found


def _parts(plan: NetPlan) -> dict[int, tuple[str, tuple[int, int], tuple[int, ...]]]:
    if not plan.input_parts:
        return {INPUT: ("x", (0, plan.input_width), plan.input_shape)}
    found, start = {}, 0
    for k, (name, shape) in enumerate(plan.input_parts):
        found[INPUT - k] = (f"x_{name}", (start, start + size(shape)), shape)
        start += size(shape)
    return found


def param_shares(plan: NetPlan) -> dict[tuple[int, str], tuple[int, ...]]:
    """The reads of shared arrays that must add their gradient in: every reader of an array
    but the one whose backward runs first (the last layer that reads it)."""
    readers: dict[str, list[tuple[int, str, tuple[int, ...]]]] = {}
    for lp in plan.layers:
        for p in lp.params:
            readers.setdefault(p.key, []).append((lp.index, p.name, p.shape))
        for u in lp.uses:
            readers.setdefault(u.key, []).append((lp.index, u.name, u.shape))
    return {(i, name): shape for found in readers.values()
            for i, name, shape in sorted(found, reverse=True)[1:]}


def _gradients(plan: NetPlan, f: Flow) -> None:
    """`dxs` and `adds`: backward visits the nodes last first, so the first read of a value
    it meets writes the value's gradient buffer, and every later read a temporary."""
    written: set[int] = set()
    folded = {c for c, _ in f.folds.values()}
    dxs: list[tuple[str, ...]] = [()] * len(plan.layers)
    adds: list[list[tuple[str, str]]] = [[] for _ in plan.layers]
    for lp in reversed(plan.layers):
        names = []
        for j in lp.inputs:
            target = f"d{f.parts[j][0]}" if j < 0 else f.gs[j]
            if j not in written:
                written.add(j)
                names.append(target)
                continue
            base = f"t{f.parts[j][0]}" if j < 0 else f"t{j}"
            temp = base + (f"_{len(adds[lp.index])}" if adds[lp.index] else "")
            if lp.index in folded:  # its reader writes this share along with its own
                temp = f"{base}_folded{len(adds[lp.index])}"
            adds[lp.index].append((target, temp))
            f.temps[temp] = j
            names.append(temp)
        dxs[lp.index] = tuple(names)
    f.dxs, f.adds = dxs, adds


def _shapes(plan: NetPlan, f: Flow) -> None:
    """Every buffer `bind` allocates with its row shape, in the order of first use."""
    for lp, y, g in zip(plan.layers[:-1], f.ys, f.gs, strict=True):
        f.shapes.setdefault(y, lp.shape)
        f.shapes.setdefault(g, lp.shape)
    for temp, j in f.temps.items():
        f.shapes.setdefault(temp, f.parts[j][2] if j < 0 else plan.layers[j].shape)
