"""Stage 5b, share: weight labels (`affine(8)@A`) and tying (`affine(tied=A)`).

The first layer that carries a label owns its arrays; a later layer with the same label
reads all of them (`LayerPlan.uses`) and owns none, and a tied layer reads the labelled
layer's weight `W` transposed and owns its bias. So the parameter buffer, the checkpoints and
the optimizer see each array once; the generated backward adds up the gradients of every
layer that reads one (`dataflow.param_sources`).
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import Diagnostic
from .plan import LayerPlan, SharedParam
from .spec import NetSpec
from .validate import SourceMap


def share(layers: list[LayerPlan], spec: NetSpec, smap: SourceMap,
          problems: list[Diagnostic]) -> list[LayerPlan]:
    """`layers` with labelled and tied layers reading their owners' arrays."""
    labels = spec.weight_labels()
    if not any(labels) and not any(getattr(op, "tied", None) for op in spec.layers):
        return layers  # Why: most specs share nothing, and this runs once per layer
    owners: dict[str, LayerPlan] = {}
    out = []
    for lp, label, op in zip(layers, labels, spec.layers, strict=True):
        if getattr(op, "tied", None):
            lp = _tie(lp, owners[op.tied])  # shapes.py checked that the owner comes first
        if label is None:
            out.append(lp)
            continue
        if not lp.params and not lp.uses or lp.buffers:
            problems.append(_unshareable(lp, label, smap))
        elif label not in owners:
            owners[label] = lp = replace(lp, weight_label=label)
        elif _same(owners[label], lp):
            owner = owners[label]
            lp = replace(lp, params=(), weight_label=label, uses=(*owner.uses, *(
                SharedParam(p.name, p.key, p.shape) for p in owner.params)))
        else:
            problems.append(_mismatch(owners[label], lp, label, smap))
        out.append(lp)
    return out


def _tie(lp: LayerPlan, owner: LayerPlan) -> LayerPlan:
    w = next(p for p in owner.params if p.name == "W")
    return replace(lp, params=tuple(p for p in lp.params if p.name != "W"),
                   uses=(SharedParam("W", w.key, w.shape[::-1], transposed=True),))


def _same(a: LayerPlan, b: LayerPlan) -> bool:
    return a.op == b.op and [(p.name, p.shape) for p in a.params] == \
        [(p.name, p.shape) for p in b.params] and a.uses == b.uses


def _arrays(lp: LayerPlan) -> str:
    shown = [f"{p.name} {p.shape}" for p in lp.params] + [f"{u.name} {u.shape}" for u in lp.uses]
    return ", ".join(shown) or "no weights"


def _mismatch(owner: LayerPlan, lp: LayerPlan, label: str, smap: SourceMap) -> Diagnostic:
    return Diagnostic(
        "label_mismatch", f"label '{label}' is on {owner.op} at {owner.where} with "
        f"{_arrays(owner)}, but this {lp.op} needs {_arrays(lp)}", smap.call_span(lp.index),
        hint=f"give this layer the shapes of {owner.where}, or another label",
        notes=smap.notes(lp.index))


def _unshareable(lp: LayerPlan, label: str, smap: SourceMap) -> Diagnostic:
    why = ("keeps running statistics, which one instance cannot share" if lp.buffers else
           "has no weights to share")
    return Diagnostic("bad_label", f"{lp.op}@{label}: {lp.op} {why}", smap.call_span(lp.index),
                      hint=f"remove '@{label}'", notes=smap.notes(lp.index))

