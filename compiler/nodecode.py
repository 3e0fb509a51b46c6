"""Stage 6a, generate (one node): the kernel calls of one node, from its op's templates.

`forward`/`backward` render a node's `OpDef` templates over the names `dataflow` gave its
values: its arrays (W0, dW0), per-batch constants, attributes as `repr`, and, for a dense op
on a sequence, views of its operands as rows of (batch * steps, width). `shared` binds the
arrays a node reads from another (`@A`, `tied=A`). codegen.py assembles these into passes.
"""

from __future__ import annotations

from collections.abc import Sequence

from .dataflow import Flow
from .descriptor import Scratch, render
from .ops import OPS
from .plan import LayerPlan


def names(layer: LayerPlan) -> dict[str, str]:
    """A layer's names for its op's templates: arrays W0, dW0, gamma3, running_mean3, mask3,
    ...; per-batch constants by their own name; attributes as their `repr`."""
    # Why plain loops: this runs three times per layer, and most tuples here are empty.
    i, op = layer.index, OPS[layer.op]
    names = {k: repr(v) for k, v in layer.attrs} if layer.attrs else {}
    for c in _declared(layer):
        names[c] = c  # per-batch constants go by their own name
    for arrays in (layer.params, layer.uses):
        for p in arrays:
            names[p.name], names[f"d{p.name}"] = f"{p.name}{i}", f"d{p.name}{i}"
    for b in layer.buffers:
        names[b.name] = f"{b.name}{i}"
    for s in op.scratch:
        names[s.name] = f"{s.name}{i}"
    return names


def _declared(layer: LayerPlan) -> tuple[str, ...]:
    found = OPS[layer.op].constants
    return found(layer) if callable(found) else found


def constants(layer: LayerPlan) -> tuple[str, ...]:
    """The per-batch constants a node's calls read: its op's (`OpDef.constants`), `ones` on
    a sequence as the `ones_t{steps}` of its rows (see `_operands`)."""
    return tuple(f"ones_t{layer.steps}" if c == "ones" and layer.steps else c
                 for c in _declared(layer))


FOLDED = "# folded into the recurrent layer that reads it (dataflow.Flow.folds)"


def forward(layer: LayerPlan, f: Flow) -> str:
    if f.folds and f.folded(layer.index):
        return FOLDED
    layer = f.view(layer)
    return render(OPS[layer.op].forward, {**names(layer), **_operands(layer, f)}, layer)


def _operands(layer: LayerPlan, f: Flow, grads: bool = False) -> dict[str, str]:
    """x, y (and dx, dy) of a node; for a dense op per time step, views of them as rows of
    (batch * steps, width), which the 2-D kernels take as they are (DLFS-2's TimeAffine)."""
    i, steps = layer.index, layer.steps
    width_in = layer.n_in // steps if steps else 0
    found = {"x": _view(f.xs[i][0], width_in), "y": _view(f.ys[i], steps and layer.shape[-1])}
    if grads:
        found.update(dx=_grad(f, f.dxs[i][0], width_in),
                     dy=_view(f.gs[i], steps and layer.shape[-1]))
    if len(f.xs[i]) == 2 and not OPS[layer.op].variadic:  # a second input: `init=`'s state
        found["s"] = f.xs[i][1]
        if grads:
            found["ds"] = _grad(f, f.dxs[i][1])
    if OPS[layer.op].variadic:  # Why only here: joining names for every node costs
        found.update(xs=_tuple(f.xs[i]), dxs=_tuple([_grad(f, n) for n in f.dxs[i]]))
    if steps:
        found["ones"] = f"ones_t{steps}"
    if i in f.folds:  # `concat(x, v) -> lstm`: x itself, and v beside it
        c = f.folds[i][0]
        found.update(x=f.xs[c][0], p=f.xs[c][1])
        if grads:
            found.update(dx=_grad(f, f.dxs[c][0]), dp=_grad(f, f.dxs[c][1]))
    return found


def _view(name: str, width: int) -> str:
    """`name`, or a view of it as rows of `width` (0: as it is)."""
    return f"{name}.reshape(-1, {width})" if width else name


def _grad(f: Flow, name: str, width: int = 0) -> str:
    """Where a node writes an input's gradient: guarded where it could not skip a None on its
    own (a temporary always exists; a view of `dx` cannot be taken of None)."""
    if f.temps.get(name, 0) < 0 or width and f.input_grad(name):
        return f"(None if dx is None else {_view(name, width)})"
    return _view(name, width)


def backward(layer: LayerPlan, f: Flow) -> list[str]:
    """The backward call, then the additions of the shares a fan-out's later readers wrote."""
    i = layer.index
    if f.folds and f.folded(i):  # its gradients are written by its reader; adds stay here
        call = FOLDED
    else:
        seen = f.view(layer)
        call = render(OPS[seen.op].backward,
                      {**names(seen), **_operands(seen, f, grads=True)}, seen)
    return [f"        {call}{where(layer)}", *(
        f"        if dx is not None:\n            np.add({g}, {t}, out={g})" if f.input_grad(g)
        else
        f"        np.add({g}, {t}, out={g})  # the gradients of a value read twice add up"
        for g, t in f.adds[i]), *(
        f"        np.add(sum_d{name}{i}, d{name}{i}, out=sum_d{name}{i})  # a shared weight"
        for j, name in (f.shares if f.shares else ()) if j == i)]


def _tuple(names: Sequence[str]) -> str:
    return f"({', '.join(names)}{',' if len(names) == 1 else ''})"


def where(layer: LayerPlan) -> str:
    return f"  # {layer.label} ({layer.n_in} -> {layer.n_out}) at {layer.where}"


def batched(shape: Sequence[int]) -> tuple[int | str, ...]:
    """A row shape with the batch axis "n" where the passes keep it: first, `("n", 50)`; for an
    image second, channel-major `(30, "n", 24, 24)`: a conv's product then writes it directly,
    and a channel's values are one block (batchnorm, pooling). Kernels know a 4-D array as
    this layout."""
    return (shape[0], "n", *shape[1:]) if len(shape) == 3 else ("n", *shape)


def shape_text(dims: Sequence[int | str]) -> str:
    """`(n, 50)`, `(10,)`: a shape as Python source."""
    return f"({', '.join(str(d) for d in dims)}{',' if len(dims) == 1 else ''})"


def rows(shape: Sequence[int]) -> str:
    """The shape of a buffer for batch size n: `(n, 50)`, `(n, 5, 8)`, `(30, n, 24, 24)`."""
    return shape_text(batched(shape))


def scratch_shape(layer: LayerPlan, b: Scratch) -> tuple[int | str, ...]:
    """A scratch buffer's shape, "n" standing for the batch size."""
    if b.shape:
        return b.shape(layer)
    return batched(layer.shape) if b.per_row else (layer.shape[-1],)


def shared(layer: LayerPlan, f: Flow) -> list[str]:
    """Arrays of another layer (`@A`, `tied=A`: transposed views), and a temporary for each
    gradient this layer must add into a shared one rather than write."""
    out, i = [], layer.index
    for u in layer.uses:
        t = ".T" if u.transposed else ""
        out.append(f"    {u.name}{i} = P[{u.key!r}]{t}  # shared with the layer owning it")
        if (i, u.name) not in f.shares:
            out.append(f"    d{u.name}{i} = G[{u.key!r}]{t}")
    for p in (*layer.params, *layer.uses):
        if (i, p.name) in f.shares:
            t = ".T" if getattr(p, "transposed", False) else ""
            out.append(f"    sum_d{p.name}{i} = G[{p.key!r}]{t}")
            out.append(f"    d{p.name}{i} = np.empty({tuple(p.shape)!r}, dtype)  # its share")
    return out
