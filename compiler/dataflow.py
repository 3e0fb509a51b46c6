"""Stage 6a, generate (first half): which buffer holds each value and each gradient.

Pure bookkeeping over a `NetPlan`, read by codegen and by the memory estimate:

- Each node writes its output into `y{i}`, unless its op may work in place (`OpDef.in_place`)
  and its input is read by it alone and is not needed by its producer's backward: then it
  reuses its input's buffer.
- Each node's backward receives dL/d(output) in `g{i}`; an elementwise op (`grad_in_place`)
  hands its own buffer down when its input has no other reader.
- Where a value fans out (read by several nodes, or twice by one), backward runs the readers
  last first: the first writes the gradient buffer, each later one writes a temporary
  (`t{i}`, `t{i}_1`, ...) that is then added in (`np.add(g, t, out=g)`). The network's input
  alike, into `dx` when the caller asks for it.

A chain gets exactly the names it always had: no temporaries, no additions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ops import OPS
from .plan import INPUT, NetPlan

INPUT_TEMP = "tx"  # the temporary for a later reader's share of the input's gradient


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
    input_shape: tuple[int, ...] = ()
    # (layer, array name) -> its shape, for every read of a shared array (`@A`, `tied=A`)
    # whose backward runs after another reader's: it writes this temporary, then adds it in.
    shares: dict[tuple[int, str], tuple[int, ...]] = field(default_factory=dict)

    def input_view(self, grads: bool = False) -> list[str]:
        """Lines that view the flat rows of the data (and of `dx`) as the input's shape, for
        an image input; none for a vector. A view, so nothing is copied."""
        if len(self.input_shape) < 2:
            return []
        dims = ", ".join(str(d) for d in self.input_shape)
        lines = [f"        x = x.reshape((-1, {dims}))  # flat rows as {self.input_shape}"]
        return lines + ([f"        dx = None if dx is None else dx.reshape((-1, {dims}))"]
                        if grads else [])

    loss_rank: int = 1  # of the loss's input rows: above 1, the loss sees them flat

    def last(self) -> str:
        """The loss's input."""
        return self.xs[-1][0]

    def flat(self, name: str) -> str:
        """The loss's view of its input (or its gradient): rows of a sequence or an image
        as flat vectors, as the elementwise losses and their targets take them."""
        return f"{name}.reshape(n, -1)" if self.loss_rank > 1 else name


def flow(plan: NetPlan) -> Flow:
    """The buffer names of every node of `plan` (see the module docstring)."""
    layers, f = plan.layers, Flow(input_shape=plan.input_shape)
    readers = plan.consumers()
    for lp in layers[:-1]:
        j = lp.inputs[0]
        alias = (OPS[lp.op].in_place and len(lp.inputs) == 1 and j != INPUT and
                 len(readers[j]) == 1 and not OPS[layers[j].op].needs_output)
        f.ys.append(f.ys[j] if alias else f"y{lp.index}")
        f.gs.append(f"g{lp.index}")
    for lp in reversed(layers[:-1]):
        j = lp.inputs[0]
        if OPS[lp.op].grad_in_place and len(lp.inputs) == 1 and j != INPUT and \
                len(readers[j]) == 1:
            f.gs[j] = f.gs[lp.index]
    f.xs = [tuple("x" if j == INPUT else f.ys[j] for j in lp.inputs) for lp in layers]
    _gradients(plan, f)
    _shapes(plan, f)
    f.shares = param_shares(plan)
    j = layers[-1].inputs[0]
    f.loss_rank = len(plan.input_shape if j == INPUT else layers[j].shape)
    return f


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
    dxs: list[tuple[str, ...]] = [()] * len(plan.layers)
    adds: list[list[tuple[str, str]]] = [[] for _ in plan.layers]
    for lp in reversed(plan.layers):
        names = []
        for j in lp.inputs:
            target = "dx" if j == INPUT else f.gs[j]
            if j not in written:
                written.add(j)
                names.append(target)
                continue
            base = INPUT_TEMP if j == INPUT else f"t{j}"
            temp = base + (f"_{len(adds[lp.index])}" if adds[lp.index] else "")
            adds[lp.index].append((target, temp))
            f.temps[temp] = j
            names.append(f"(None if dx is None else {temp})" if j == INPUT else temp)
        dxs[lp.index] = tuple(names)
    f.dxs, f.adds = dxs, adds


def _shapes(plan: NetPlan, f: Flow) -> None:
    """Every buffer `bind` allocates with its row shape, in the order of first use."""
    for lp, y, g in zip(plan.layers[:-1], f.ys, f.gs, strict=True):
        f.shapes.setdefault(y, lp.shape)
        f.shapes.setdefault(g, lp.shape)
    for temp, j in f.temps.items():
        f.shapes.setdefault(temp, plan.input_shape if j == INPUT else plan.layers[j].shape)
