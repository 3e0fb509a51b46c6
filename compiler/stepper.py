"""Stage 6a, generate (for `generate:`): the step-by-step decoder of a seq2seq network.

`steps_source(plan)` is the source of `bind_steps(P, S, n, dtype, rng)`, which returns
`(encode, first, step)` over buffers for n rows:

    encode(x)       the encoder's nodes over data rows x, once per question
    first(token)    the decoder's nodes for one step from the start symbol (n, 1): each
                    recurrent layer starts from its `init=` state (or zeros); returns the
                    next token's probabilities (n, vocab)
    step(token)     one more step, every recurrent layer carrying its state on

The graph is cut where the answer enters, as the ONNX step export cuts it: the decoder is
every node that depends on the `generate:` input. Its nodes are the same descriptors' kernel
calls (`nodecode.forward`) over one-step copies of their plans, (steps, ...) -> (1, ...); a
recurrent layer's carried state (`stream` set) holds its state between calls. That needs
every decoder node to be stepwise over the answer's steps (`OpDef.stepwise`, per-step and
elementwise ops): `stepwise` says whether a plan is; otherwise generation runs the
teacher-forced passes once per token (runtime/generation.py).
"""

from __future__ import annotations

from dataclasses import replace

from . import nodecode
from .codegen import scratch_lines
from .dataflow import Flow, flow
from .descriptor import size
from .ops import OPS
from .plan import INPUT, LayerPlan, NetPlan


def decoder_nodes(plan: NetPlan) -> set[int]:
    """The nodes that depend on the `generate:` input (the answer)."""
    assert plan.run.generate is not None
    answer, found = INPUT - plan.run.generate[0], set()
    for lp in plan.layers:
        if any(j == answer or j in found for j in lp.inputs):
            found.add(lp.index)
    return found


def _feed(plan: NetPlan, body: list[LayerPlan]) -> LayerPlan | None:
    """The decoder's `steps` node over the answer (`tgt[:-1]`): where each token enters."""
    answer = INPUT - plan.run.generate[0]  # type: ignore[index]
    feeds = [lp for lp in body if lp.op == "steps" and lp.inputs == (answer,)]
    readers = [lp for lp in body if answer in lp.inputs]
    return feeds[0] if len(feeds) == 1 and len(readers) == 1 else None


def stepwise(plan: NetPlan) -> bool:
    """Whether the decoder may run one step at a time (see the module docstring)."""
    if not plan.run.generate:
        return False
    dec = decoder_nodes(plan)
    body = [lp for lp in plan.layers[:-1] if lp.index in dec]
    feed = _feed(plan, body)
    if feed is None or len(plan.loss.in_shape) != 2:
        return False
    steps = feed.shape[0]
    for lp in body:
        d = OPS[lp.op]
        if lp is feed:  # token ids, (steps,)
            continue
        if not (d.stepwise or d.per_step or d.shape is None):
            return False
        if len(lp.shape) != 2 or lp.shape[0] != steps:
            return False
    return True


def _one_step(lp: LayerPlan, dec: set[int], answer: int) -> LayerPlan:
    """`lp` over one step of the answer: its decoder-side shapes (steps, ...) -> (1, ...)."""
    def step(j: int, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (1, *shape[1:]) if j in dec or j == answer else shape

    in_shape = step(lp.inputs[0], lp.in_shape)
    shape = (1, *lp.shape[1:])
    return replace(lp, shape=shape, in_shape=in_shape, n_in=size(in_shape), n_out=size(shape),
                   steps=1 if lp.steps else 0, in_shapes=tuple(  # () for one input
                       step(j, s) for j, s in zip(lp.inputs, lp.in_shapes, strict=False)))


def steps_source(plan: NetPlan) -> str:
    """The source of `bind_steps` (see the module docstring); `stepwise(plan)` must hold."""
    f, dec = flow(plan), decoder_nodes(plan)
    answer = INPUT - plan.run.generate[0]  # type: ignore[index]
    body = plan.layers[:-1]
    encoder = [lp for lp in body if lp.index not in dec]
    decoder = [_one_step(lp, dec, answer) for lp in body if lp.index in dec]
    feed = _feed(plan, decoder)
    assert feed is not None
    calls = [f"        {nodecode.forward(lp, f)}" for lp in encoder]
    out = ["def bind_steps(P, S, n, dtype, rng):",
           '    """Buffers for n rows; the encoder once, then the decoder a token at a time."""',
           *_bindings(plan.layers), *_allocations([*encoder, *decoder], f),
           "    stream = np.ones(1, np.bool_)  # recurrent layers carry their state",
           "    start = np.ones(1, np.bool_)  # a layer with init= starts from that state",
           f"    out = np.empty((n, {plan.vocab}), dtype)  # the next token's probabilities",
           "    idle = np.zeros(1, np.bool_)", "    train = False", "",
           "    def encode(x):",
           "        stream = idle  # the encoder starts from zeros for every question",
           *f.input_view(reads=calls), *calls, "        return None"]
    last = f.ys[decoder[-1].index]
    head = f"        {OPS[plan.loss.op].head}_forward({last}.reshape(n, -1), out)"
    for name, first in (("first", True), ("step", False)):
        out += ["", f"    def {name}(token):"]
        for lp in decoder:
            out += _decoder_call(lp, f, first, feed)
        out += [head, "        return out"]
    return "\n".join([*out, "", "    return encode, first, step", ""])


def _decoder_call(lp: LayerPlan, f: Flow, first: bool, feed: LayerPlan) -> list[str]:
    if lp is feed:
        return [f"        np.copyto({f.ys[lp.index]}, token)  # this step's input token"]
    carried = [f"{b.name}{lp.index}" for b in OPS[lp.op].scratch if b.carried]
    if not carried:
        return [f"        {nodecode.forward(lp, f)}"]
    if first and len(lp.inputs) > 1:  # from its init= state, as the teacher-forced pass
        return [f"        {nodecode.forward(lp, f)}"]
    zero = [f"        {name}.fill(0)  # starts from zeros" for name in carried] if first else []
    return [*zero, f"        {nodecode.forward(replace(lp, inputs=lp.inputs[:1]), f)}"]


def _bindings(layers: tuple[LayerPlan, ...]) -> list[str]:
    """Every array the forward calls read (no gradients)."""
    out = []
    for lp in layers:
        out += [f"    {p.name}{lp.index} = P[{p.key!r}]" for p in lp.params]
        out += [f"    {b.name}{lp.index} = S[{b.key!r}]" for b in lp.buffers]
        out += [f"    {u.name}{lp.index} = P[{u.key!r}]{'.T' if u.transposed else ''}"
                for u in lp.uses]
    return out


def _allocations(layers: list[LayerPlan], f: Flow) -> list[str]:
    """Each node's output buffer (a decoder node's for one step) and its scratch."""
    out, seen = [], set()
    for lp in layers:
        if f.folds and f.folded(lp.index):
            continue  # never formed: its reader reads its inputs
        name = f.ys[lp.index]
        if name not in seen:
            seen.add(name)
            out.append(f"    {name} = np.empty({nodecode.rows(lp.shape)}, {f.dtype(name)})")
        out += scratch_lines(f.view(lp))
    return out
