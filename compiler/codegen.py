"""Stage 6a, generate: `NetPlan` -> Python source of this network's passes.

The output is straight-line code: one kernel call per layer for the forward pass, one per
layer for the backward pass, and one optimizer call over the flat parameter buffer, over
buffers allocated once per batch size. It is what runs (the runtime `exec`s it) and what
`netc compile --emit python` prints. Only validated identifiers, op names from the registry,
and numbers rendered by `repr` enter the source: spec text cannot inject code.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import nodecode
from .dataflow import Flow, flow
from .descriptor import render, size
from .ops import OPS
from .plan import LayerPlan, NetPlan

# Layers per generated part. Why parts: CPython compiles a closure in time quadratic in its
# free variables, and every layer adds a few (its weights and buffers), so one `forward` over
# 100,000 layers took minutes to compile; closures over at most PART layers keep it linear.
PART = 256


def passes_source(plan: NetPlan, *, timed: bool = False, trace: bool = True) -> str:
    """`bind(P, G, S, n, dtype, rng)`: buffers for batch size n and the passes over them.

    It returns (forward(x, train), loss(t), backward(x, t, dx=None, scale=1/n), predict(x), out,
    first_nonfinite(x, train), carry); `out` holds the loss layer's prediction after `loss`,
    `carry` is (stream flag, carried arrays) of the recurrent layers (`(None, ())` if none).
    With `timed`, every kernel call is followed by `_tick(layer, phase)` (phase 0 forward,
    1 backward), a function the caller provides, for `netc time`. A network of more than
    `PART` layers is split into functions `_part0`, `_part1`, ... that `bind` calls; without
    `trace` its `first_nonfinite` is None (the runtime compiles it only when needed).
    """
    body, f = plan.layers[:-1], flow(plan)
    if len(body) > PART:
        return "\n".join(_parted(plan, body, f, timed, trace))
    out = ["def bind(P, G, S, n, dtype, rng):",
           '    """Allocate the buffers for batch size n; return the passes over them."""']
    out += _bindings(plan.layers, f)
    out += _bound_buffers(plan, body, f)
    out += _forward_fn(body, f, timed)
    out += _loss_fn(plan.loss, f.flat(f.last()), timed)
    out += _backward_fn(plan.loss, body, f, timed)
    out += _predict_fn(plan.loss, f.flat(f.last()))
    out += _trace_fn(body, f)
    out += ["", *_carry(body),
            "    return forward, loss, backward, predict, out, first_nonfinite, carry", ""]
    return "\n".join(out)


def pass_lines(plan: NetPlan) -> tuple[list[str], list[str], list[str], str, list[str]]:
    """The pieces of `bind` another emitter reassembles (compiler/jit_codegen.py): buffer
    allocations and per-batch constants (indented for a function body), and the data's
    views as the inputs, the forward calls, the loss's call and the backward calls (indented
    for a function nested in it)."""
    body, f = plan.layers[:-1], flow(plan)
    allocations = _bound_buffers(plan, body, f)
    forward = [f"        {nodecode.forward(layer, f)}{nodecode.where(layer)}" for layer in body]
    backward = [*_loss_backward(plan.loss, f, False), *_backward_lines(body, f, False)]
    return (allocations, f.input_view(reads=forward), forward,
            _loss_call(plan.loss, f.flat(f.last())), backward)


def _bound_buffers(plan: NetPlan, body: Sequence[LayerPlan], f: Flow) -> list[str]:
    """What `bind` allocates for batch size n: the values and gradients, then `_loss_buffers`."""
    return [*_allocations(body, f), *_loss_buffers(plan)]


def _loss_buffers(plan: NetPlan) -> list[str]:
    """The loss's prediction and scratch, and the per-batch constants."""
    return [f"    out = np.empty((n, {plan.loss.n_out}), dtype)  # the loss's prediction",
            *scratch_lines(plan.loss), *_constants(plan)]


def _tick(layer: LayerPlan, phase: int, timed: bool) -> list[str]:
    return [f"        _tick({layer.index}, {phase})"] if timed else []


def _bindings(layers: Sequence[LayerPlan], f: Flow) -> list[str]:
    out = []
    for layer in layers:
        for p in layer.params:
            out.append(f"    {p.name}{layer.index} = P[{p.key!r}]")
            if (layer.index, p.name) not in f.shares:
                out.append(f"    d{p.name}{layer.index} = G[{p.key!r}]")
        for b in layer.buffers:
            out.append(f"    {b.name}{layer.index} = S[{b.key!r}]")
        out += nodecode.shared(layer, f)
    return out


def _forward_fn(body: Sequence[LayerPlan], f: Flow, timed: bool) -> list[str]:
    calls = []
    for layer in body:
        calls.append(f"        {nodecode.forward(layer, f)}{nodecode.where(layer)}")
        calls += _tick(layer, 0, timed)
    calls.append(f"        return {f.last()}")
    return ["", "    def forward(x, train):", *f.input_view(reads=calls), *calls]


# The per-batch constants an op's templates may name (`OpDef.constants`), in emission order.
_CONSTANTS = {
    "ones": "    ones = np.ones(n, dtype)  # bias gradients as ones @ dy",
    "rows": "    rows = np.arange({rows})  # picks each row's target class",
    "ones_k": "    ones_k = np.ones(({k}, 1), dtype)  # row sums as y @ ones_k",
    "stream": "    stream = np.zeros(1, np.bool_)  # set: recurrent layers carry their state",
    "start": "    start = np.ones(1, np.bool_)  # a layer with init= starts from that state",
}


def _used_constants(layers: Sequence[LayerPlan]) -> set[str]:
    """The constants the layers' calls read (`nodecode.constants`): an unused local would
    fail ruff in emitted modules."""
    return {c for layer in layers for c in nodecode.constants(layer)}


def _constants(plan: NetPlan) -> list[str]:
    """Per-batch-size constants the kernels take rather than rebuild on every call."""
    out = ["    inv_n = 1.0 / n  # the mean over the batch: the loss gradient's default scale"]
    used = _used_constants(plan.layers)
    # A loss over a sequence's steps sees n * steps rows of classes.
    loss = plan.loss
    rows = f"n * {loss.in_shape[0]}" if len(loss.in_shape) == 2 else "n"
    out += [line.format(k=loss.shape[-1], rows=rows) for name, line in _CONSTANTS.items()
            if name in used]
    return out + [f"    {name} = np.ones(n * {name[6:]}, dtype)  # bias gradients per time step"
                  for name in _step_ones(plan.layers)]


def _step_ones(layers: Sequence[LayerPlan]) -> list[str]:
    """The `ones` of each sequence length that a per-time-step dense op reads."""
    return sorted(c for c in _used_constants(layers) if c.startswith("ones_t"))


def _loss_call(loss: LayerPlan, last: str) -> str:
    return render(OPS[loss.op].forward, {**nodecode.names(loss), "x": last}, loss)



def _loss_fn(loss: LayerPlan, last: str, timed: bool) -> list[str]:
    if timed:
        return ["", "    def loss(t):", f"        value = {_loss_call(loss, last)}",
                *_tick(loss, 0, timed), "        return value"]
    return ["", "    def loss(t):",
            f"        return {_loss_call(loss, last)}{nodecode.where(loss)}"]


def _backward_fn(loss: LayerPlan, body: Sequence[LayerPlan], f: Flow,
                 timed: bool) -> list[str]:
    # `scale` multiplies dL/dy of the loss: 1/n for the mean loss; plain SGD passes lr/n, so
    # every gradient arrives already multiplied by the learning rate (runtime/optim.py).
    calls = [*_loss_backward(loss, f, timed), *_backward_lines(body, f, timed),
             *f.input_writeback()]
    return ["", "    def backward(x, t, dx=None, scale=inv_n):",
            *f.input_view(grads=True, reads=calls), *calls]


def _loss_backward(loss: LayerPlan, f: Flow, timed: bool) -> list[str]:
    call = render(OPS[loss.op].backward, {**nodecode.names(loss), "x": f.flat(f.last()),
                                          "dx": f.flat(f.dxs[-1][0])}, loss)
    return [f"        {call}{nodecode.where(loss)}", *_tick(loss, 1, timed)]


def _backward_lines(body: Sequence[LayerPlan], f: Flow, timed: bool) -> list[str]:
    """Each layer's backward call, last layer first."""
    out = []
    for layer in reversed(body):
        out += nodecode.backward(layer, f)
        out += _tick(layer, 1, timed)
    return out


def _predict_fn(loss: LayerPlan, last: str) -> list[str]:
    out = ["", "    def predict(x):", "        forward(x, False)"]
    head = OPS[loss.op].head
    if head == "softmax" and len(loss.in_shape) == 2:  # per time step: rows of classes
        k = loss.in_shape[-1]
        return out + [f"        {head}_forward({last}.reshape(-1, {k}), out.reshape(-1, {k}))",
                      "        return out"]
    if head:
        return out + [f"        {head}_forward({last}, out)", "        return out"]
    return out + [f"        return {last}"]


def _trace_fn(body: Sequence[LayerPlan], f: Flow) -> list[str]:
    calls = []
    for layer in body:
        calls.append(f"        {nodecode.forward(layer, f)}")
        if f.folds and f.folded(layer.index):
            continue  # Why: its buffer is never written
        calls.append(f"        if not np.isfinite({f.ys[layer.index]}).all():")
        calls.append(f"            return {layer.index}")
    return ["", "    def first_nonfinite(x, train):",
            '        """The first layer whose output is not finite, or None (diagnostics)."""',
            *f.input_view(reads=calls), *calls, "        return None"]


def _allocations(body: Sequence[LayerPlan], f: Flow) -> list[str]:
    lines, seen = [], set()
    for layer in body:
        if f.folds and f.folded(layer.index):
            continue  # Why: a folded concat's value and gradient are never formed
        for name in (f.ys[layer.index], f.gs[layer.index]):
            if name not in seen:
                seen.add(name)
                lines.append(f"    {name} = np.empty({nodecode.rows(f.shapes[name])}, "
                             f"{f.dtype(name)})")
        lines += scratch_lines(f.view(layer))
    for temp in f.temps:
        lines.append(f"    {temp} = np.empty({nodecode.rows(f.shapes[temp])}, dtype)  # a share of "
                     "a gradient")
    for name, shape in f.input_buffers().items():
        lines.append(f"    {name} = np.empty({nodecode.rows(shape)}, dtype)  # an input's gradient")
    return lines


def bound_bytes(plan: NetPlan, n: int, itemsize: int) -> int:
    """Bytes of the buffers `bind` allocates for batch size `n` (as `passes_source` writes it)."""
    f = flow(plan)
    dead = {name for lp in plan.layers[:-1] if f.folds and f.folded(lp.index)
            for name in (f.ys[lp.index], f.gs[lp.index])}  # a folded concat's
    per_row = sum(size(shape) for name, shape in f.shapes.items() if name not in dead)
    per_row += sum(size(shape) for shape in f.input_buffers().values())
    seen = [f.view(lp) for lp in plan.layers]
    scratch = [nodecode.scratch_shape(lp, b) for lp in seen for b in OPS[lp.op].scratch
               if b.needed is None or b.needed(lp)]
    per_row += sum(size([d for d in shape if d != "n"]) for shape in scratch if "n" in shape)
    per_row += plan.loss.n_out + 1  # `out`, and `ones` (affine) or `rows` (softmax_ce)
    fixed = sum(size(shape) for shape in scratch if "n" not in shape) + plan.loss.n_out
    fixed += sum(size(shape) for shape in f.shares.values())
    # Why 8 per row: `rows` holds int64 indices, whatever the float type.
    return (n * per_row + fixed) * itemsize + 8 * n * ("rows" in nodecode.constants(plan.loss))


def _carried(layers: Sequence[LayerPlan]) -> list[str]:
    return [f"{b.name}{lp.index}" for lp in layers for b in OPS[lp.op].scratch if b.carried]


def _carry(layers: Sequence[LayerPlan], parted: bool = False) -> list[str]:
    """`carry`: the `stream` flag and the state the recurrent layers carry while it is set
    (truncated BPTT over a corpus); the caller sets the flag and zeroes the state."""
    names = [f"A[{n!r}]" if parted else n for n in _carried(layers)]
    flag = "stream" if "stream" in _used_constants(layers) else "None"
    return [f"    carry = ({flag}, ({''.join(n + ', ' for n in names)}))  # (flag, carried state)"]


def scratch_lines(layer: LayerPlan) -> list[str]:
    """The buffers a layer keeps for its own backward pass (dropout's mask, batchnorm's)."""
    return [f"    {b.name}{layer.index} = np.{'zeros' if b.carried else 'empty'}("
            f"{nodecode.shape_text(nodecode.scratch_shape(layer, b))}, "
            f"{f'np.{b.dtype}' if b.dtype else 'dtype'})" for b in OPS[layer.op].scratch
            if b.needed is None or b.needed(layer)]


def _used(f: Flow, i: int) -> list[str]:
    """The buffers node i's calls name (not the input `x` nor `dx`), in order."""
    own = [f.ys[i], f.gs[i]] if i < len(f.ys) else []  # the loss has no buffers of its own
    names = [*f.xs[i], *own, *f.dxs[i], *(n for pair in f.adds[i] for n in pair)]
    return [n for n in names if n in f.shapes]


def _parted(plan: NetPlan, body: Sequence[LayerPlan], f: Flow, timed: bool,
            trace: bool) -> list[str]:
    """`_part0`, `_part1`, ... over PART layers each, then a `bind` that calls them in turn.

    Each part allocates the activations and gradients first used in it, binds its weights as
    locals, and hands the buffers a later part (or the loss) also uses on through a dict `A`.
    """
    spans: dict[str, list[int]] = {}  # name -> [first part, last part] that use it
    for layer in body:
        for name in _used(f, layer.index):
            spans.setdefault(name, [layer.index // PART, 0])[1] = layer.index // PART
    parts = range((len(body) + PART - 1) // PART)
    for name in _used(f, plan.loss.index):
        spans[name][1] = len(parts)  # the loss uses these
    out: list[str] = []
    for k in parts:
        layers = body[k * PART:(k + 1) * PART]
        used = dict.fromkeys(n for lp in layers for n in _used(f, lp.index))
        buffers = [f"    {n} = A[{n!r}]" if spans[n][0] < k else
                   f"    {n} = {f'A[{n!r}] = ' if spans[n][1] > k else ''}"
                   f"np.empty({nodecode.rows(f.shapes[n])}, {f.dtype(n)})" for n in used]
        out += _part(k, layers, f, buffers, timed, trace)
    return [*out, *_parted_bind(plan, body, f, len(parts), timed, trace)]


def _part(k: int, layers: Sequence[LayerPlan], f: Flow, buffers: list[str], timed: bool,
          trace: bool) -> list[str]:
    out = [f"def _part{k}(P, G, S, A, n, dtype, rng):",
           f'    """Layers {layers[0].index}-{layers[-1].index}: bind their arrays; return '
           '(forward, backward, first_nonfinite) over them."""']
    out += _unpacked(layers, f)
    out += [line for layer in layers for line in nodecode.shared(layer, f)]
    out += buffers
    if "ones" in _used_constants(layers):
        out.append("    ones = A['ones']")
    out += [f"    {name} = A[{name!r}]" for name in _step_ones(layers)]
    out += [line for layer in layers for line in scratch_lines(f.view(layer))]
    out += [f"    A[{n!r}] = {n}  # carried state" for n in _carried(layers)]
    if "stream" in _used_constants(layers):
        out.append("    stream = A['stream']")
    out += [f"    {name} = A[{name!r}]" for name in f.input_buffers()]
    out += _forward_fn(layers, f, timed)[:-1] + [f"        return {f.ys[layers[-1].index]}"]
    calls = _backward_lines(layers, f, timed)
    out += ["", "    def backward(x, dx):", *f.input_view(grads=True, reads=calls), *calls]
    out += _trace_fn(layers, f) if trace else []
    last = "first_nonfinite" if trace else "None"
    return out + ["", f"    return forward, backward, {last}", "", ""]


def _unpacked(layers: Sequence[LayerPlan], f: Flow) -> list[str]:
    """`_bindings` as one unpacking per dict: a part binds hundreds of arrays, and one
    statement compiles in less than half the time of one statement per array."""
    out = []
    for source, pairs in (("P", [(f"{p.name}{lp.index}", p.key) for lp in layers
                                 for p in lp.params]),
                          ("G", [(f"d{p.name}{lp.index}", p.key) for lp in layers
                                 for p in lp.params if (lp.index, p.name) not in f.shares]),
                          ("S", [(f"{b.name}{lp.index}", b.key) for lp in layers
                                 for b in lp.buffers])):
        if pairs:
            names = ", ".join(n for n, _ in pairs)
            keys = ", ".join(repr(k) for _, k in pairs)
            out.append(f"    ({names},) = [{source}[k] for k in ({keys},)]")
    return out


def _parted_bind(plan: NetPlan, body: Sequence[LayerPlan], f: Flow, parts: int, timed: bool,
                 trace: bool) -> list[str]:
    last, grad = f.last(), f.dxs[-1][0]
    out = ["def bind(P, G, S, n, dtype, rng):",
           '    """Allocate the buffers for batch size n; return the passes over them."""',
           "    A = {}  # the buffers that cross from one part to the next"]
    out += _bindings([plan.loss], f)  # a loss's own arrays (ns_loss's output vectors)
    out += _loss_buffers(plan)
    if "ones" in _used_constants(body):
        out.append("    A['ones'] = ones")
    if "stream" in _used_constants(body):
        out.append("    A['stream'] = stream")
    out += [f"    A[{name!r}] = {name}" for name in _step_ones(body)]
    out += [f"    A[{name!r}] = {name} = np.empty({nodecode.rows(shape)}, dtype)  # an input's "
            "gradient" for name, shape in f.input_buffers().items()]
    # Why the parts view the input themselves: each takes the data rows as they come.
    out += [f"    forward{k}, backward{k}, trace{k} = _part{k}(P, G, S, A, n, dtype, rng)"
            for k in range(parts)]
    out += [f"    {last} = A[{last!r}]  # the loss's input", f"    {grad} = A[{grad!r}]"]
    out += ["", "    def forward(x, train):",
            *[f"        forward{k}(x, train)" for k in range(parts)], f"        return {last}"]
    out += _loss_fn(plan.loss, f.flat(last), timed)
    out += ["", "    def backward(x, t, dx=None, scale=inv_n):",
            *_loss_backward(plan.loss, f, timed),
            *[f"        backward{k}(x, dx)" for k in reversed(range(parts))],
            *f.input_writeback()]
    out += _predict_fn(plan.loss, f.flat(last))
    if not trace:
        return out + ["", "    first_nonfinite = None  # compiled on demand (runtime/build.py)",
                      "", *_carry(body, parted=True), "    return forward, loss, backward, "
                      "predict, out, first_nonfinite, carry", ""]
    out += ["", "    def first_nonfinite(x, train):",
            '        """The first layer whose output is not finite, or None (diagnostics)."""',
            "        found = trace0(x, train)",
            *[f"        found = found if found is not None else trace{k}(x, train)"
              for k in range(1, parts)], "        return found"]
    return out + ["", *_carry(body, parted=True),
                  "    return forward, loss, backward, predict, out, first_nonfinite, carry", ""]


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
