"""Stage 6a, generate: `NetPlan` -> Python source of this network's passes.

The output is straight-line code: one kernel call per layer for the forward pass, one per
layer for the backward pass, and one optimizer call over the flat parameter buffer, over
buffers allocated once per batch size. It is what runs (the runtime `exec`s it) and what
`netc compile --emit python` prints. Only validated identifiers, op names from the registry,
and numbers rendered by `repr` enter the source: spec text cannot inject code.
"""

from __future__ import annotations

from collections.abc import Sequence

from .descriptor import render
from .ops import OPS
from .plan import LayerPlan, NetPlan


def _names(layer: LayerPlan) -> dict[str, str]:
    """A layer's names for its op's templates: arrays W0, dW0, gamma3, running_mean3, mask3,
    ...; per-batch constants by their own name; attributes as their `repr`."""
    i, op = layer.index, OPS[layer.op]
    names = {k: repr(v) for k, v in layer.attrs}
    names.update({p.name: f"{p.name}{i}" for p in layer.params + layer.buffers})
    names.update({f"d{p.name}": f"d{p.name}{i}" for p in layer.params})
    names.update({b.name: f"{b.name}{i}" for b in op.scratch})
    return names


def _forward(layer: LayerPlan, x: str, y: str) -> str:
    return render(OPS[layer.op].forward, {**_names(layer), "x": x, "y": y})


def _backward(layer: LayerPlan, dy: str, dx: str, x: str, y: str) -> str:
    return render(OPS[layer.op].backward, {**_names(layer), "x": x, "y": y, "dy": dy,
                                           "dx": dx})


def _outputs(layers: Sequence[LayerPlan]) -> list[str]:
    """The buffer name of each layer's output; in-place layers reuse their input's buffer."""
    names: list[str] = []
    for layer in layers:
        i = layer.index
        if OPS[layer.op].in_place and i and not OPS[layers[i - 1].op].needs_output:
            names.append(names[-1])
        else:
            names.append(f"y{i}")
    return names


def _grads(layers: Sequence[LayerPlan]) -> list[str]:
    """The buffer receiving dL/d(output) of each layer; elementwise layers pass theirs down."""
    names = [f"g{layer.index}" for layer in layers]
    for layer in reversed(layers[1:]):
        if OPS[layer.op].grad_in_place:
            names[layer.index - 1] = names[layer.index]
    return names


def _where(layer: LayerPlan) -> str:
    return f"  # {layer.label} ({layer.n_in} -> {layer.n_out}) at {layer.where}"


# Layers per generated part. Why parts: CPython compiles a closure in time quadratic in its
# free variables, and every layer adds a few (its weights and buffers), so one `forward` over
# 100,000 layers took minutes to compile; closures over at most PART layers keep it linear.
PART = 256


def passes_source(plan: NetPlan, *, timed: bool = False, trace: bool = True) -> str:
    """`bind(P, G, S, n, dtype, rng)`: buffers for batch size n and the passes over them.

    It returns (forward(x, train), loss(t), backward(x, t, dx=None, scale=1/n), predict(x), out,
    first_nonfinite(x, train)); `out` holds the loss layer's prediction after `loss`.
    With `timed`, every kernel call is followed by `_tick(layer, phase)` (phase 0 forward,
    1 backward), a function the caller provides, for `netc time`. A network of more than
    `PART` layers is split into functions `_part0`, `_part1`, ... that `bind` calls; without
    `trace` its `first_nonfinite` is None (the runtime compiles it only when needed).
    """
    body = plan.layers[:-1]
    ys, gs = _outputs(body), _grads(body)
    ins = ["x", *ys[:-1]]
    if len(body) > PART:
        return "\n".join(_parted(plan, body, ins, ys, gs, timed, trace))
    out = ["def bind(P, G, S, n, dtype, rng):",
           '    """Allocate the buffers for batch size n; return the passes over them."""']
    out += _bindings(plan.layers)
    out += _allocations(body, ys, gs)
    out.append(f"    out = np.empty((n, {plan.loss.n_out}), dtype)  # the loss's prediction")
    out += _constants(plan)
    out += _forward_fn(body, ins, ys, timed)
    out += _loss_fn(plan.loss, ys[-1], timed)
    out += _backward_fn(plan.loss, body, ins, ys, gs, timed)
    out += _predict_fn(plan.loss, ys[-1])
    out += _trace_fn(body, ins, ys)
    out += ["", "    return forward, loss, backward, predict, out, first_nonfinite", ""]
    return "\n".join(out)


def _tick(layer: LayerPlan, phase: int, timed: bool) -> list[str]:
    return [f"        _tick({layer.index}, {phase})"] if timed else []


def _bindings(layers: Sequence[LayerPlan]) -> list[str]:
    out = []
    for layer in layers:
        for p in layer.params:
            out.append(f"    {p.name}{layer.index} = P[{p.key!r}]")
            out.append(f"    d{p.name}{layer.index} = G[{p.key!r}]")
        for b in layer.buffers:
            out.append(f"    {b.name}{layer.index} = S[{b.key!r}]")
    return out


def _forward_fn(body: Sequence[LayerPlan], ins: list[str], ys: list[str],
                timed: bool) -> list[str]:
    out = ["", "    def forward(x, train):"]
    for i, layer in enumerate(body):
        out.append(f"        {_forward(layer, ins[i], ys[i])}{_where(layer)}")
        out += _tick(layer, 0, timed)
    return out + [f"        return {ys[-1]}"]


# The per-batch constants an op's templates may name (`OpDef.constants`), in emission order.
_CONSTANTS = {
    "ones": "    ones = np.ones(n, dtype)  # bias gradients as ones @ dy",
    "rows": "    rows = np.arange(n)  # picks each row's target class",
    "ones_k": "    ones_k = np.ones(({k}, 1), dtype)  # row sums as y @ ones_k",
}


def _used_constants(layers: Sequence[LayerPlan]) -> set[str]:
    return {c for layer in layers for c in OPS[layer.op].constants}


def _constants(plan: NetPlan) -> list[str]:
    """Per-batch-size constants the kernels take rather than rebuild on every call."""
    out = ["    inv_n = 1.0 / n  # the mean over the batch: the loss gradient's default scale"]
    used = _used_constants(plan.layers)
    return out + [line.format(k=plan.loss.n_out) for name, line in _CONSTANTS.items()
                  if name in used]


def _loss_call(loss: LayerPlan, last: str) -> str:
    return render(OPS[loss.op].forward, {**_names(loss), "x": last})


def _loss_fn(loss: LayerPlan, last: str, timed: bool) -> list[str]:
    if timed:
        return ["", "    def loss(t):", f"        value = {_loss_call(loss, last)}",
                *_tick(loss, 0, timed), "        return value"]
    return ["", "    def loss(t):", f"        return {_loss_call(loss, last)}{_where(loss)}"]


def _backward_fn(loss: LayerPlan, body: Sequence[LayerPlan], ins: list[str], ys: list[str],
                 gs: list[str], timed: bool) -> list[str]:
    # `scale` multiplies dL/dy of the loss: 1/n for the mean loss; plain SGD passes lr/n, so
    # every gradient arrives already multiplied by the learning rate (runtime/optim.py).
    out = ["", "    def backward(x, t, dx=None, scale=inv_n):", *_loss_backward(loss, gs, timed)]
    return out + _backward_lines(body, ins, ys, gs, ["dx", *gs[:-1]], timed)


def _loss_backward(loss: LayerPlan, gs: list[str], timed: bool) -> list[str]:
    call = render(OPS[loss.op].backward, {**_names(loss), "dx": gs[-1]})
    return [f"        {call}{_where(loss)}",
            *_tick(loss, 1, timed)]


def _backward_lines(body: Sequence[LayerPlan], ins: list[str], ys: list[str], gs: list[str],
                    dxs: list[str], timed: bool) -> list[str]:
    """Each layer's backward call, last layer first; `dxs[i]` receives layer i's dL/dx."""
    out = []
    for i in reversed(range(len(body))):
        out.append(f"        {_backward(body[i], gs[i], dxs[i], ins[i], ys[i])}"
                   f"{_where(body[i])}")
        out += _tick(body[i], 1, timed)
    return out


def _predict_fn(loss: LayerPlan, last: str) -> list[str]:
    out = ["", "    def predict(x):", "        forward(x, False)"]
    head = OPS[loss.op].head
    if head:
        return out + [f"        {head}_forward({last}, out)", "        return out"]
    return out + [f"        return {last}"]


def _trace_fn(body: Sequence[LayerPlan], ins: list[str], ys: list[str]) -> list[str]:
    out = ["", "    def first_nonfinite(x, train):",
           '        """The first layer whose output is not finite, or None (diagnostics)."""']
    for i, layer in enumerate(body):
        out.append(f"        {_forward(layer, ins[i], ys[i])}")
        out.append(f"        if not np.isfinite({ys[i]}).all():")
        out.append(f"            return {layer.index}")
    return out + ["        return None"]


def _allocations(body: Sequence[LayerPlan], ys: list[str], gs: list[str]) -> list[str]:
    lines, seen = [], set()
    for layer, y, g in zip(body, ys, gs, strict=True):
        for name in (y, g):
            if name not in seen:
                seen.add(name)
                lines.append(f"    {name} = np.empty((n, {layer.n_out}), dtype)")
        lines += _scratch(layer)
    return lines


def _activations(body: Sequence[LayerPlan], ys: list[str], gs: list[str]) -> list[tuple[str, int]]:
    """(name, width) of each distinct activation and gradient buffer, in first-use order."""
    found: dict[str, int] = {}
    for layer, y, g in zip(body, ys, gs, strict=True):
        found.setdefault(y, layer.n_out)
        found.setdefault(g, layer.n_out)
    return list(found.items())


def bound_bytes(plan: NetPlan, n: int, itemsize: int) -> int:
    """Bytes of the buffers `bind` allocates for batch size `n` (as `passes_source` writes it)."""
    body = plan.layers[:-1]
    per_row = sum(w for _, w in _activations(body, _outputs(body), _grads(body)))
    scratch = [(lp, b) for lp in body for b in OPS[lp.op].scratch]
    per_row += sum(lp.n_out for lp, b in scratch if b.per_row)
    per_row += plan.loss.n_out + 1  # `out`, and `ones` (affine) or `rows` (softmax_ce)
    fixed = sum(lp.n_out for lp, b in scratch if not b.per_row) + plan.loss.n_out
    # Why 8 per row: `rows` holds int64 indices, whatever the float type.
    return (n * per_row + fixed) * itemsize + 8 * n * ("rows" in OPS[plan.loss.op].constants)


def _scratch(layer: LayerPlan) -> list[str]:
    """The buffers a layer keeps for its own backward pass (dropout's mask, batchnorm's)."""
    w = layer.n_out
    return [f"    {b.name}{layer.index} = np.empty({f'(n, {w})' if b.per_row else f'({w},)'}, "
            "dtype)" for b in OPS[layer.op].scratch]


def _parted(plan: NetPlan, body: Sequence[LayerPlan], ins: list[str], ys: list[str],
            gs: list[str], timed: bool, trace: bool) -> list[str]:
    """`_part0`, `_part1`, ... over PART layers each, then a `bind` that calls them in turn.

    Each part allocates the activations and gradients first used in it, binds its weights as
    locals, and hands the buffers a later part (or the loss) also uses on through a dict `A`.
    """
    dxs = ["dx", *gs[:-1]]
    widths = dict(_activations(body, ys, gs))
    spans: dict[str, list[int]] = {}  # name -> [first part, last part] that use it
    for i, names in enumerate(zip(ins, ys, gs, dxs, strict=True)):
        for name in names:
            spans.setdefault(name, [i // PART, 0])[1] = i // PART
    parts = range((len(body) + PART - 1) // PART)
    spans[ys[-1]][1] = spans[gs[-1]][1] = len(parts)  # the loss uses these
    out: list[str] = []
    for k in parts:
        a, b = k * PART, (k + 1) * PART
        used = dict.fromkeys(n for g in (ins[a:b], ys[a:b], gs[a:b], dxs[a:b]) for n in g
                             if n not in ("x", "dx"))
        buffers = [f"    {n} = A[{n!r}]" if spans[n][0] < k else
                   f"    {n} = {f'A[{n!r}] = ' if spans[n][1] > k else ''}"
                   f"np.empty((n, {widths[n]}), dtype)" for n in used]
        out += _part(k, body[a:b], ins[a:b], ys[a:b], gs[a:b], dxs[a:b], buffers, timed,
                     trace)
    return [*out, *_parted_bind(plan, body, ys, gs, len(parts), timed, trace)]


def _part(k: int, layers: Sequence[LayerPlan], ins: list[str], ys: list[str], gs: list[str],
          dxs: list[str], buffers: list[str], timed: bool, trace: bool) -> list[str]:
    out = [f"def _part{k}(P, G, S, A, n, dtype, rng):",
           f'    """Layers {layers[0].index}-{layers[-1].index}: bind their arrays; return '
           '(forward, backward, first_nonfinite) over them."""']
    out += _unpacked(layers)
    out += buffers
    if "ones" in _used_constants(layers):
        out.append("    ones = A['ones']")
    out += [line for layer in layers for line in _scratch(layer)]
    out += _forward_fn(layers, ins, ys, timed)
    out += ["", "    def backward(x, dx):", *_backward_lines(layers, ins, ys, gs, dxs, timed)]
    out += _trace_fn(layers, ins, ys) if trace else []
    last = "first_nonfinite" if trace else "None"
    return out + ["", f"    return forward, backward, {last}", "", ""]


def _unpacked(layers: Sequence[LayerPlan]) -> list[str]:
    """`_bindings` as one unpacking per dict: a part binds hundreds of arrays, and one
    statement compiles in less than half the time of one statement per array."""
    out = []
    for source, pairs in (("P", [(f"{p.name}{lp.index}", p.key) for lp in layers
                                 for p in lp.params]),
                          ("G", [(f"d{p.name}{lp.index}", p.key) for lp in layers
                                 for p in lp.params]),
                          ("S", [(f"{b.name}{lp.index}", b.key) for lp in layers
                                 for b in lp.buffers])):
        if pairs:
            names = ", ".join(n for n, _ in pairs)
            keys = ", ".join(repr(k) for _, k in pairs)
            out.append(f"    ({names},) = [{source}[k] for k in ({keys},)]")
    return out


def _parted_bind(plan: NetPlan, body: Sequence[LayerPlan], ys: list[str], gs: list[str],
                 parts: int, timed: bool, trace: bool) -> list[str]:
    out = ["def bind(P, G, S, n, dtype, rng):",
           '    """Allocate the buffers for batch size n; return the passes over them."""',
           "    A = {}  # the buffers that cross from one part to the next"]
    out.append(f"    out = np.empty((n, {plan.loss.n_out}), dtype)  # the loss's prediction")
    out += _constants(plan)
    if "ones" in _used_constants(body):
        out.append("    A['ones'] = ones")
    out += [f"    forward{k}, backward{k}, trace{k} = _part{k}(P, G, S, A, n, dtype, rng)"
            for k in range(parts)]
    out += [f"    {ys[-1]} = A[{ys[-1]!r}]  # the loss's input", f"    {gs[-1]} = A[{gs[-1]!r}]"]
    out += ["", "    def forward(x, train):", *[f"        forward{k}(x, train)" for k in
                                                 range(parts)], f"        return {ys[-1]}"]
    out += _loss_fn(plan.loss, ys[-1], timed)
    out += ["", "    def backward(x, t, dx=None, scale=inv_n):",
            *_loss_backward(plan.loss, gs, timed),
            *[f"        backward{k}(x, dx)" for k in reversed(range(parts))]]
    out += _predict_fn(plan.loss, ys[-1])
    if not trace:
        return out + ["", "    first_nonfinite = None  # compiled on demand (runtime/build.py)",
                      "", "    return forward, loss, backward, predict, out, first_nonfinite", ""]
    out += ["", "    def first_nonfinite(x, train):",
            '        """The first layer whose output is not finite, or None (diagnostics)."""',
            "        found = trace0(x, train)",
            *[f"        found = found if found is not None else trace{k}(x, train)"
              for k in range(1, parts)], "        return found"]
    return out + ["", "    return forward, loss, backward, predict, out, first_nonfinite", ""]


def step_source(plan: NetPlan, kernel: str, state: Sequence[str], hyper: Sequence[float],
                counts_steps: bool) -> str:
    """`bind_step(p, g, *state)`: the optimizer update of every parameter in one call.

    Why one call: the runtime keeps all parameters in one flat buffer (and the gradients and
    optimizer state alike), with `net.params` as views into it, so a step is a few NumPy
    calls whatever the number of layers. `hyper` are the kernel's hyper-parameters with
    weight decay last; the step count (Adam) is passed to `step(t)`, just before it.
    """
    values = [repr(float(h)) for h in hyper]
    if counts_steps:
        values.insert(len(values) - 1, "t")
    arrays = ["p", "g", *state]
    return "\n".join([
        f"def bind_step({', '.join(arrays)}):",
        f'    """Bind the flat parameter, gradient and state buffers ({plan.param_count:,} '
        'values); return step(t)."""',
        "",
        "    def step(t):",
        f"        {kernel}({', '.join([*arrays, *values])})",
        "",
        "    return step",
        "",
    ])


def header(plan: NetPlan, usage: str = "") -> str:
    """The docstring that opens a generated module; `usage` is appended to it."""
    arch = " -> ".join(layer.label for layer in plan.layers)
    text = (f"Generated by netc: the passes of one network. Edit the spec, not this file.\n\n"
            f"Network: input {plan.input_width} -> {arch}\n"
            f"Parameters: {plan.param_count:,}\n")
    if usage:
        text += "\n" + usage
    # Why escaped: a layer label never holds a quote or backslash today, but a docstring
    # must not end early whatever it holds.
    return '"""' + text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '"""\n'
