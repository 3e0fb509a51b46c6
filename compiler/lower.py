"""Stage 5, lower: `NetSpec` -> `NetPlan`: widths inferred and checked, parameters named.

Widths flow left to right from the input (the `input:` setting, or the first explicit
`n_in`). Each mismatch explains itself: the chain of widths that led to it and the fix.
The parameter limit is enforced here, before any array exists.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, SpecLimitError, SpecShapeError
from ..rules import CALLBACK_SETTINGS, FIT_SETTINGS
from ..source import Source
from .descriptor import ParamRule
from .ops import OPS
from .plan import LayerPlan, NetPlan, ParamPlan, RunPlan
from .spec import MAX_WIDTH, NetSpec
from .validate import SourceMap

MAX_PARAMS = 2**31
_WEIGHTED = ("affine", "matmul")
_RELU_LIKE = ("relu", "leaky_relu")


@dataclass
class _Chain:
    """The widths since the last layer that fixed one, for explaining a mismatch."""

    width: int | None = None
    steps: list[str] = field(default_factory=list)
    origin: str = "the input"


def lower(spec: NetSpec, smap: SourceMap, source: Source | None = None) -> NetPlan:
    """Infer and check every width, name every parameter, and build the plan."""
    chain, problems = _start(spec, smap), []
    layers = []
    for i, op in enumerate(spec.layers):
        n_in = chain.width
        n_out = _infer(i, op, chain, smap, problems)
        if n_out is None:
            break
        layers.append(_layer(i, op, n_in if n_in is not None else n_out, n_out, spec, smap))
    if problems:
        # Why two types: a width over the limit is a limit, like too many parameters.
        wide = any(d.code == "too_wide" for d in problems)
        raise (SpecLimitError if wide else SpecShapeError)(problems, source)
    plan = NetPlan(tuple(layers), layers[0].n_in, _run(spec), _hash(layers),
                   source.path if source else "<string>")
    _check_limit(plan, source)
    return plan


def _start(spec: NetSpec, smap: SourceMap) -> _Chain:
    if spec.run.input is not None:
        width = spec.run.input.width
        return _Chain(width, [f"input {width}"], "the input")
    # Why: without `input:`, the first explicit n_in fixes the input width, as long as only
    # width-keeping layers come before it (`relu -> affine(784, 10)` is still well defined).
    for op in spec.layers:
        if op.op in _WEIGHTED:
            if op.n_in is not None:
                return _Chain(op.n_in, [f"input {op.n_in}"], "the input")
            break
        if op.op in ("repeat", "sum"):
            break
    return _Chain()


def _infer(i: int, op: Any, chain: _Chain, smap: SourceMap,
           problems: list[Diagnostic]) -> int | None:
    span, where = smap.call_span(i), _where(smap, i)
    if chain.width is None:
        problems.append(Diagnostic(
            "unknown_width", f"cannot tell how wide the input of {op.op} is", span,
            hint="declare the input width (`input: 784`) or give the first layer both sizes, "
                 "e.g. affine(784, 50)", notes=smap.notes(i)))
        return None
    width = chain.width
    if op.op in _WEIGHTED:
        if op.n_in is not None and op.n_in != width:
            problems.append(_mismatch(i, op, chain, smap))
        chain.width, chain.steps, chain.origin = op.n_out, [f"{op.op} {op.n_out} ({where})"], \
            f"{op.op} at {where}"
        return op.n_out
    if op.op in ("repeat", "sum"):
        return _node(i, op, chain, smap, problems)
    if op.op == "softmax_ce" and width < 2:
        problems.append(Diagnostic(
            "too_few_classes", f"softmax_ce needs at least 2 classes, but receives width {width}",
            span, hint="use sigmoid_ce for a single output unit", notes=smap.notes(i)))
    chain.steps.append(f"{op.op} {width} ({where})")
    return width


def _node(i: int, op: Any, chain: _Chain, smap: SourceMap,
          problems: list[Diagnostic]) -> int | None:
    width, where = chain.width, _where(smap, i)
    if op.op == "repeat":
        out = width * op.n
        if out > MAX_WIDTH:
            problems.append(Diagnostic(
                "too_wide", f"repeat({op.n}) turns width {width:,} into {out:,}; a width may be "
                f"at most {MAX_WIDTH:,} (2**31), as for affine", smap.call_span(i),
                hint="repeat fewer times, or narrow the layers before it",
                notes=(*smap.notes(i), "widths: " + " -> ".join(chain.steps))))
            return None
    elif width % op.n:
        problems.append(Diagnostic(
            "shape_mismatch", f"sum({op.n}) adds {op.n} equal blocks, but its input width "
            f"{width} is not divisible by {op.n}", smap.call_span(i),
            notes=(*smap.notes(i), "widths: " + " -> ".join(chain.steps))))
        return None
    else:
        out = width // op.n
    chain.width, chain.steps, chain.origin = out, [f"{op.op} {out} ({where})"], \
        f"{op.op} at {where}"
    return out


def _mismatch(i: int, op: Any, chain: _Chain, smap: SourceMap) -> Diagnostic:
    span = smap.arg_span(i, "n_in")
    return Diagnostic(
        "shape_mismatch",
        f"{op.op} expects {op.n_in} inputs but receives {chain.width} from {chain.origin}",
        span, hint=f"write {op.op}({chain.width}, {op.n_out}) or {op.op}({op.n_out})",
        notes=(*smap.notes(i), "widths: " + " -> ".join(chain.steps)))


def _where(smap: SourceMap, i: int) -> str:
    s = smap.call_span(i)
    return f"{s.line}:{s.column}" if s else f"layer {i}"


def _layer(i: int, op: Any, n_in: int, n_out: int, spec: NetSpec, smap: SourceMap) -> LayerPlan:
    label, desc = f"{i}.{op.op}", OPS[op.op]
    attrs = tuple((k, v) for k, v in op.model_dump().items()
                  if k not in ("op", "n_in", "n_out", "init", "std"))

    def arrays(rules: tuple[ParamRule, ...]) -> tuple[ParamPlan, ...]:
        out = []
        for r in rules:
            scheme, std = _init(i, op, spec) if r.init == "weight" else (r.init, None)
            fan_in = r.fan_in((n_in,), (n_out,)) if r.fan_in else 1
            out.append(ParamPlan(f"{label}.{r.name}", r.name, r.shape((n_in,), (n_out,)),
                                 scheme, std, fan_in))
        return tuple(out)

    return LayerPlan(i, op.op, op.kind, n_in, n_out, attrs, arrays(desc.params),
                     arrays(desc.state), smap.call_span(i))


def _init(i: int, op: Any, spec: NetSpec) -> tuple[str, float | None]:
    scheme = op.init or spec.run.init.scheme
    std = op.std if op.std is not None else spec.run.init.std
    if scheme == "auto":
        # Why: He for ReLU-family activations, Xavier otherwise (DLFS-1 6.2).
        # Index, not slice: a slice per layer would make lowering quadratic in depth.
        layers = spec.layers
        nxt = next((layers[j].op for j in range(i + 1, len(layers))
                    if layers[j].op not in ("dropout", "batchnorm")), None)
        scheme = "he" if nxt in _RELU_LIKE else "xavier"
    return scheme, (std if scheme == "normal" else None)


def _run(spec: NetSpec) -> RunPlan:
    r = spec.run
    return RunPlan(r.data.source, r.optimizer.name, tuple(r.optimizer.hyper().items()),
                   r.train.epochs, r.train.batch_size, r.train.seed, r.train.dtype,
                   callbacks=tuple((k, getattr(r.train, k)) for k in CALLBACK_SETTINGS),
                   fit=tuple((k, getattr(r.train, k)) for k in FIT_SETTINGS))


def _hash(layers: list[LayerPlan]) -> str:
    """Architecture fingerprint for checkpoints: ops, widths, attributes, parameter shapes."""
    shape = [[lp.op, lp.n_in, lp.n_out, [list(a) for a in lp.attrs],
              [[p.key, list(p.shape)] for p in lp.params + lp.buffers]] for lp in layers]
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


