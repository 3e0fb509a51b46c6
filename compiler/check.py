"""Stage 4, check: structural rules on a validated `NetSpec`, each a small named function.

Every rule returns the diagnostics it finds; `check` runs them all and raises them together
as one `SpecStructureError`, so a user sees every structural fault of a file at once.
"""

from __future__ import annotations

from ..errors import Diagnostic, SpecStructureError
from ..source import Source
from .registry import LOSSES
from .spec import NetSpec
from .validate import SourceMap

_LOSS_HINT = f"end the pipeline with one of: {', '.join(LOSSES)}"


def check(spec: NetSpec, smap: SourceMap, source: Source | None = None) -> None:
    """Raise `SpecStructureError` listing every broken rule, or return None."""
    problems = [d for rule in _RULES for d in rule(spec, smap)]
    if problems:
        raise SpecStructureError(problems, source)


def loss_is_last(spec: NetSpec, smap: SourceMap) -> list[Diagnostic]:
    """A loss anywhere but the end is an error: `affine(2, 3) -> mse -> relu`."""
    last = len(spec.layers) - 1
    return [Diagnostic("loss_not_last", f"the loss '{layer.op}' must be the last layer",
                       smap.call_span(i), hint=_LOSS_HINT, notes=smap.notes(i))
            for i, layer in enumerate(spec.layers) if layer.kind == "loss" and i != last]


def has_a_loss(spec: NetSpec, smap: SourceMap) -> list[Diagnostic]:
    """A network must end in a loss: `affine(2, 3) -> relu`."""
    if spec.layers and spec.layers[-1].kind == "loss":
        return []
    if any(layer.kind == "loss" for layer in spec.layers):
        return []  # reported by loss_is_last
    last = len(spec.layers) - 1
    return [Diagnostic("missing_loss", "the pipeline has no loss layer at its end",
                       smap.call_span(last), hint=_LOSS_HINT, notes=smap.notes(last))]


def has_layers_before_loss(spec: NetSpec, smap: SourceMap) -> list[Diagnostic]:
    """A loss alone has nothing to train: `softmax_ce`."""
    if len(spec.layers) == 1 and spec.layers[0].kind == "loss":
        return [Diagnostic("empty_network", "the pipeline has only a loss, no layers",
                           smap.call_span(0), hint="add layers before the loss")]
    return []


_RULES = (loss_is_last, has_a_loss, has_layers_before_loss)
