"""Stage 5, lower: `NetSpec` -> `NetPlan`: shapes inferred and checked (`shapes.py`),
parameters named and shaped from each op's descriptor, the graph's edges recorded.

The parameter limit is enforced here, before any array exists.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from ..errors import Diagnostic, SpecLimitError, SpecShapeError
from ..rules import CALLBACK_SETTINGS, FIT_SETTINGS
from ..source import Source
from .descriptor import ParamRule, size
from .ops import OPS
from .plan import LayerPlan, NetPlan, ParamPlan, RunPlan
from .shapes import NodeShape, infer, input_chains
from .sharing import share
from .spec import PAIR_DATA, NetSpec
from .teacher import teacher_forcing
from .validate import SourceMap

MAX_PARAMS = 2**31


def lower(spec: NetSpec, smap: SourceMap, source: Source | None = None) -> NetPlan:
    """Infer and check every shape, name every parameter, and build the plan."""
    spec = _vocab_widths(_with_vocabulary(spec), smap, source)
    starts, problems = input_chains(spec), []
    parts = tuple((name, shape) for name, shape in spec.run.input.parts) \
        if spec.run.input is not None else ()
    # Why kept now: the first layer's chain grows from the input's object.
    input_shape = (sum(size(shape) for _, shape in parts),) if parts else starts[-1].shape
    shapes = infer(spec, smap, starts, problems)
    if problems:
        # Why two types: a width over the limit is a limit, like too many parameters.
        wide = any(d.code == "too_wide" for d in problems)
        raise (SpecLimitError if wide else SpecShapeError)(problems, source)
    inputs = spec.edges()
    layers = share([_layer(i, op, shapes[i], inputs[i], spec, smap,
                           _in_shapes(inputs[i], shapes, parts, input_shape))
                    for i, op in enumerate(spec.layers)], spec, smap, problems)
    if problems:
        raise SpecShapeError(problems, source)
    target, generate = teacher_forcing(tuple(layers), parts, spec.run.generate, smap, source)
    plan = NetPlan(tuple(layers), size(input_shape), replace(_run(spec), generate=generate),
                   _hash(layers, parts), source.path if source else "<string>",
                   input_shape=input_shape, input_parts=parts, vocab=(
                       spec.run.input.tokens or 0) if spec.run.input else 0, target=target)
    _check_limit(plan, source)
    return plan


def _with_vocabulary(spec: NetSpec) -> NetSpec:
    """Each `embed` that reads token ids learns the vocabulary's size from `input: tokens(V)`,
    or, for `input: tokens` alone, from `data: markov(words=V)` (the API reads a corpus's
    vocabulary before lowering: the compiler reads no files)."""
    given = spec.run.input
    vocab = given.tokens if given is not None else None
    if vocab == 0 and spec.run.data.source == "markov":
        vocab = spec.run.data.words
        spec = spec.model_copy(update={"run": spec.run.model_copy(update={
            "input": given.model_copy(update={"tokens": vocab})})})
    if not vocab:
        return spec
    edges, ids = spec.edges(), set(range(-max(1, len(given.parts)), 0))
    for i, op in enumerate(spec.layers):  # `tgt[:-1]`: token ids still
        if op.op == "steps" and edges[i][0] in ids:
            ids.add(i)
    # Why ns_loss too: it scores the vocabulary's words, wherever its input comes from.
    layers = tuple(op.model_copy(update={"vocab": vocab}) if getattr(op, "vocab", 0) is None
                   and (op.op == "ns_loss" or edges[i][0] in ids) else op
                   for i, op in enumerate(spec.layers))
    return spec.model_copy(update={"layers": layers})


def _in_shapes(inputs: tuple[int, ...], shapes: list[NodeShape],
               parts: tuple[tuple[str, tuple[int, ...]], ...], input_shape: tuple[int, ...]
               ) -> tuple[tuple[int, ...], ...]:
    """One row of each input of a node that reads two or more; () for the rest."""
    if len(inputs) < 2:
        return ()
    return tuple(shapes[j].shape if j >= 0 else parts[-1 - j][1] if parts else input_shape
                 for j in inputs)


def _vocab_widths(spec: NetSpec, smap: SourceMap, source: Source | None) -> NetSpec:
    """`affine` with its width left out before a softmax_ce: the vocabulary's size."""
    marked = [i for i in range(len(spec.layers)) if (i, "n_out:vocab") in smap.args]
    vocab = spec.run.input.tokens if spec.run.input is not None else None
    if marked and not vocab:
        raise SpecShapeError([Diagnostic(
            "unknown_width", "affine leaves its width out, which only a token input's "
            "vocabulary decides", smap.args[(marked[0], "n_out:vocab")],
            hint="give the width, e.g. affine(10), or read tokens: input: tokens",
            notes=smap.notes(marked[0]))], source)
    if not marked:
        return spec
    layers = tuple(op.model_copy(update={"n_out": vocab}) if i in marked else op
                   for i, op in enumerate(spec.layers))
    return spec.model_copy(update={"layers": layers})


def _layer(i: int, op: Any, node: NodeShape, inputs: tuple[int, ...], spec: NetSpec,
           smap: SourceMap, in_shapes: tuple[tuple[int, ...], ...] = ()) -> LayerPlan:
    label, desc = f"{i}.{op.op}", OPS[op.op]
    n_in, n_out = node.n_in, size(node.shape)
    x, y = node.in_shape or (n_in,), node.shape
    attrs = tuple((k, v) for k, v in op.model_dump().items()
                  if k not in ("op", "n_in", "n_out", "init", "std") and
                  not (k in ("tied", "target") and v is None))  # Why: plans keep their hash

    def arrays(rules: tuple[ParamRule, ...]) -> tuple[ParamPlan, ...]:
        out = []
        for r in rules:
            scheme, std = _init(i, op, spec) if r.init == "weight" else (r.init, None)
            fan_in = r.fan_in(x, y, op) if r.fan_in else 1
            out.append(ParamPlan(f"{label}.{r.name}", r.name, r.shape(x, y, op), scheme, std,
                                 fan_in))
        return tuple(out)

    return LayerPlan(i, op.op, op.kind, n_in, n_out, attrs, arrays(desc.params),
                     arrays(desc.state), smap.call_span(i), inputs, node.shape,
                     steps=node.steps, in_shape=x, in_shapes=in_shapes)


def _init(i: int, op: Any, spec: NetSpec) -> tuple[str, float | None]:
    own = getattr(op, "std", None)  # a recurrent layer has neither: the `init:` setting's
    scheme = getattr(op, "init", None) or spec.run.init.scheme
    std = own if own is not None else spec.run.init.std
    if scheme == "auto":
        # Why: He for ReLU-family activations, Xavier otherwise (DLFS-1 6.2).
        # Index, not slice: a slice per layer would make lowering quadratic in depth.
        layers = spec.layers
        hint = next((h for h in (OPS[layers[j].op].init_hint for j in range(i + 1, len(layers)))
                     if h != "pass"), None)
        scheme = "he" if hint == "he" else "xavier"
    return scheme, (std if scheme == "normal" else None)


def _run(spec: NetSpec) -> RunPlan:
    r = spec.run
    return RunPlan(r.data.source, r.optimizer.name, tuple(r.optimizer.hyper().items()),
                   r.train.epochs, r.train.batch_size, r.train.seed, r.train.dtype,
                   backend=r.train.backend,
                   callbacks=tuple((k, getattr(r.train, k)) for k in CALLBACK_SETTINGS),
                   fit=tuple((k, getattr(r.train, k)) for k in FIT_SETTINGS),
                   data_args=_data_args(r.data))


def _data_args(data: Any) -> tuple[tuple[str, Any], ...]:
    if data.source in PAIR_DATA:
        return (("path", data.path), ("reverse", data.reverse))
    if data.source == "corpus":
        return (("path", data.path),)
    if data.source == "markov":
        return (("words", data.words), ("tokens", data.tokens))
    return ()


def _hash(layers: list[LayerPlan], parts: tuple = ()) -> str:
    """Architecture fingerprint for checkpoints: ops, widths, attributes, parameter shapes,
    and, where a node is not a link of a flat chain, what it reads and its shape (so every
    chain keeps the fingerprint it had before the graph IR)."""
    shape = [[lp.op, lp.n_in, lp.n_out, [list(a) for a in lp.attrs],
              [[p.key, list(p.shape)] for p in lp.params + lp.buffers],
              *([list(lp.inputs)] if lp.inputs != (lp.index - 1,) else []),
              *([list(lp.shape)] if lp.shape != (lp.n_out,) else []),
              *([[lp.weight_label, [[u.key, u.transposed] for u in lp.uses]]]
                if lp.weight_label or lp.uses else []),
              *([["steps", lp.steps]] if lp.steps else [])] for lp in layers]
    if parts:
        shape.append([["inputs", [[name, list(dims)] for name, dims in parts]]])
    return hashlib.sha256(json.dumps(shape, default=str).encode()).hexdigest()


def _check_limit(plan: NetPlan, source: Source | None) -> None:
    total = plan.param_count
    if total > MAX_PARAMS:
        big = max(plan.layers, key=lambda lp: sum(p.size for p in lp.params))
        raise SpecLimitError([Diagnostic(
            "too_many_params", f"the network would have {total:,} parameters; the limit is "
            f"{MAX_PARAMS:,} (2**31)", big.span,
            hint=f"the largest layer is {big.label} with "
                 f"{sum(p.size for p in big.params):,} parameters")], source)


