"""Stage 5a, shapes: every node's output shape, inferred along the graph and checked.

Shapes flow from the input (the `input:` setting, or the first explicit `n_in`) through each
node: the dense ops' widths are checked here, every other op's shape comes from its
descriptor's rule (`OpDef.shape`; None keeps the input's shape). Each mismatch explains
itself: the chain of widths that led to it, where each shape met at a merge came from, and
the fix. One row's shape is written without the batch: `(784,)`, `(1, 28, 28)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic
from . import expectations
from .descriptor import ShapeError, shown, size, vectors_only
from .ops import OPS
from .registry import suggest
from .spec import NetSpec
from .validate import SourceMap


@dataclass
class Chain:
    """A value's shape and the widths since the last layer that fixed one (for messages)."""

    width: int | None = None
    steps: list[str] = field(default_factory=list)
    origin: str = "the input"
    shape: tuple[int, ...] = ()

    def copy(self) -> Chain:
        return Chain(self.width, list(self.steps), self.origin, self.shape)

    def fixed(self, shape: tuple[int, ...], step: str, origin: str) -> None:
        """A node that sets a new shape starts the explanation afresh."""
        self.width, self.shape, self.steps, self.origin = shape[-1], shape, [step], origin


@dataclass(frozen=True, slots=True)
class NodeShape:
    """What lower needs of one node: its output shape and how many values it reads per row."""

    shape: tuple[int, ...]
    n_in: int
    in_shape: tuple[int, ...] = ()  # the (first) input's shape
    steps: int = 0  # a dense op applied per time step over this many steps, or 0


def input_chain(spec: NetSpec) -> Chain:
    if spec.run.input is not None:
        dims = spec.run.input.dims
        return Chain(dims[-1], [f"input {_dims(dims)}"], "the input", dims)
    # Why: without `input:`, the first explicit n_in fixes the input width, as long as only
    # width-keeping layers come before it (`relu -> affine(784, 10)` is still well defined).
    for op in spec.layers:
        if getattr(op, "n_in", None) is not None:
            return Chain(op.n_in, [f"input {op.n_in}"], "the input", (op.n_in,))
        if OPS[op.op].sets_width:
            break
    return Chain()


def input_chains(spec: NetSpec) -> dict[int, Chain]:
    """The network's inputs as values: -1 alone, or -1, -2, ... for `input: a: 784, b: 10`."""
    parts = spec.run.input.parts if spec.run.input is not None else ()
    if not parts:
        return {-1: input_chain(spec)}
    return {-1 - k: Chain(shape[-1], [f"input {name} {_dims(shape)}"], f"input '{name}'", shape)
            for k, (name, shape) in enumerate(parts)}


def infer(spec: NetSpec, smap: SourceMap, start: Chain | dict[int, Chain],
          problems: list[Diagnostic]) -> list[NodeShape]:
    """The shape of every node, in order; stops early (a shorter list) where it cannot go on."""
    inputs = spec.edges()
    readers: dict[int, int] = {}
    for ins in inputs:
        for j in ins:
            readers[j] = readers.get(j, 0) + 1
    values: dict[int, Chain] = dict(start) if isinstance(start, dict) else {-1: start}
    out: list[NodeShape] = []
    tied = _Tied(spec, smap, problems)
    for i, op in enumerate(spec.layers):
        chains = []
        for j in inputs[i]:
            readers[j] -= 1
            # Why a copy only at a fan-out: a chain's explanation then grows in place, so a
            # deep pipeline stays linear.
            chains.append(values[j] if readers[j] == 0 else values[j].copy())
        in_shape = chains[0].shape
        n_in = size(in_shape) if len(chains) == 1 else sum(size(c.shape) for c in chains)
        chain = tied.node(i, op, chains[0]) if getattr(op, "tied", None) else \
            _node(i, op, chains, smap, problems)
        if chain is None:
            break
        values[i] = chain
        for dims, span in smap.layers[i].expects if i < len(smap.layers) else ():
            if dims != tuple(chain.shape):
                message, hint = expectations.mismatch(dims, tuple(chain.shape),
                                                      f"{op.op} at {_where(smap, i)}")
                problems.append(Diagnostic("expect_mismatch", message, span, hint=hint, notes=(
                    *smap.notes(i), "shapes: " + " -> ".join(chain.steps))))
        steps = in_shape[0] if OPS[op.op].per_step and len(in_shape) == 2 else 0
        out.append(NodeShape(chain.shape, n_in, in_shape, steps))
        tied.seen(i, op, in_shape[-1], chain.shape)
    return out


def _node(i: int, op: Any, chains: list[Chain], smap: SourceMap,
          problems: list[Diagnostic]) -> Chain | None:
    """One node's shape from its descriptor's rule (None: it keeps its input's shape)."""
    where, desc = _where(smap, i), OPS[op.op]
    if chains[0].width is None or len(chains) > 1 and any(c.width is None for c in chains):
        problems.append(Diagnostic(
            "unknown_width", f"cannot tell how wide the input of {op.op} is", smap.call_span(i),
            hint="declare the input width (`input: 784`) or give the first layer both sizes, "
                 "e.g. affine(784, 50)", notes=smap.notes(i)))
        return None
    chain = chains[0]
    shape = chain.shape
    if desc.shape is not None:
        try:
            shape = tuple(desc.shape(tuple(c.shape for c in chains), op))
        except ShapeError as e:
            problems.append(_refusal(i, chains, smap, e))
            if e.then is None:
                return None
            shape = tuple(e.then)
    if desc.sets_width or len(chains) > 1:
        chain = chain if len(chains) == 1 else Chain()
        chain.fixed(shape, f"{op.op} {_dims(shape)} ({where})", f"{op.op} at {where}")
    else:
        chain.steps.append(f"{op.op} {_dims(shape)} ({where})")
        chain.shape, chain.width = shape, shape[-1]  # `last`, `mean`: fewer axes, same width
    return chain


def _refusal(i: int, chains: list[Chain], smap: SourceMap, e: ShapeError) -> Diagnostic:
    """A shape rule's `ShapeError` as a located diagnostic (see its docstring)."""
    first = chains[0]
    notes = {"widths": ("widths: " + " -> ".join(first.steps),),
             "shapes": ("shapes: " + " -> ".join(first.steps),),
             "met": tuple(f"{shown(c.shape)} from {c.origin}" for c in chains), "": ()}
    from_input = first.origin == "the input" or first.origin.startswith("input '")
    hint = e.input_hint if e.input_hint and from_input else e.hint
    return Diagnostic(e.code, e.reason.replace("{origin}", first.origin),
                      smap.arg_span(i, e.at) if e.at else smap.call_span(i),
                      hint=hint or None, notes=(*smap.notes(i), *notes[e.notes]))


class _Tied:
    """Widths of tied layers (`affine(tied=E)`): the weight of the layer labelled `E`,
    transposed, so (a, b) turns b inputs into a outputs."""

    def __init__(self, spec: NetSpec, smap: SourceMap, problems: list[Diagnostic]) -> None:
        self.labels = spec.weight_labels()
        self.smap, self.problems = smap, problems
        self.weights: dict[str, tuple[int, int, int]] = {}  # label -> (layer, rows, columns)

    def seen(self, i: int, op: Any, n_in: int, shape: tuple[int, ...]) -> None:
        label = self.labels[i]
        # Why `tied` as the test: the ops that may tie are the ones whose weight may be tied.
        # An embed's W (vocab, dim) may be too: `embed(650)@E ... affine(tied=E)` (DLFS-2).
        if label and label not in self.weights and (hasattr(op, "tied") and not op.tied or
                                                    op.op == "embed"):
            self.weights[label] = (i, getattr(op, "vocab", None) or n_in, shape[-1])

    def node(self, i: int, op: Any, chain: Chain) -> Chain | None:
        smap, where = self.smap, _where(self.smap, i)
        found = self.weights.get(op.tied)
        if found is None:
            later = [j for j, label in enumerate(self.labels) if label == op.tied]
            known = sorted({label for label in self.labels if label})
            self.problems.append(Diagnostic(
                "unknown_label", f"tied={op.tied}: " + (
                    "the layer labelled so must come before the layer tied to it" if later
                    else f"no layer is labelled '{op.tied}'"), smap.arg_span(i, "tied"),
                hint=(f"move the tied layer after {_where(smap, later[0])}" if later else
                      suggest(op.tied, known) or "label a layer's weights with @, e.g. "
                      f"affine(50)@{op.tied}"), notes=smap.notes(i)))
            return None
        try:
            vectors_only(chain.shape, op.op, sequences=True)
        except ShapeError as e:
            self.problems.append(_refusal(i, [chain], smap, e))
            return None
        j, rows, cols = found
        given = (i, "n_out") in smap.args and op.n_out != rows
        if chain.width != cols or (op.n_in is not None and op.n_in != cols) or given:
            wrong = [f"receives {chain.width} from {chain.origin}"] if chain.width != cols \
                else []
            wrong += [f"is written with {op.n_in} inputs"] if op.n_in not in (None, cols) else []
            wrong += [f"is asked for {op.n_out} outputs"] if given else []
            self.problems.append(Diagnostic(
                "shape_mismatch", f"{op.op}(tied={op.tied}) uses the weight of "
                f"{_where(smap, j)} transposed, ({cols}, {rows}): it takes width {cols} and "
                f"gives {rows}, but {' and '.join(wrong)}", smap.call_span(i),
                hint=f"write {op.op}(tied={op.tied}) where the width is {cols}",
                notes=(*smap.notes(i), "widths: " + " -> ".join(chain.steps))))
            return None
        chain.fixed((*chain.shape[:-1], rows), f"{op.op} {rows} ({where})",
                    f"{op.op} at {where}")
        return chain


def _where(smap: SourceMap, i: int) -> str:
    s = smap.call_span(i)
    return f"{s.line}:{s.column}" if s else f"layer {i}"


def _dims(shape: tuple[int, ...]) -> str:
    """`100` for a vector (as the messages always wrote widths), `1x28x28` for an image."""
    return str(shape[0]) if len(shape) == 1 else "x".join(map(str, shape))
