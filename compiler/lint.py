"""Stage 5b, lint: warnings for a valid plan that is legal but almost surely wrong.

`netc check` refuses what cannot run; these rules flag what runs and then fails quietly: a
`softmax` before `softmax_ce` keeps the loss up and slows learning, `mse` on class labels
regresses on the label numbers. Each rule is a small named function returning at most one
located `Diagnostic` of severity "warning", with the fix as its hint. `netc lint` and
`netc check` print them; `--strict` makes them errors. Rules about the data know only
`data: mnist` and `data: spiral`: `check` reads no files, so a spec trained on a .npz or .csv
file is not linted for its labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..errors import Diagnostic
from ..rules import OPTIMIZERS, USUAL_LR, missing_data_hint
from ..source import Source, Span
from .ops import OPS
from .plan import LayerPlan, NetPlan
from .validate import SourceMap

# Classes of the data sets netc knows by name (runtime/data/): the labels they give.
CLASSES = {"mnist": 10, "spiral": 3}
# Their features per sample.
FEATURES = {"mnist": 784, "spiral": 2}
# The activation each loss applies itself (runtime/kernels.py's fused forward passes).
_OWN_HEAD = {"softmax_ce": "softmax", "sigmoid_ce": "sigmoid"}


def lint_source(source: Source, prepare: Callable[..., Any] | None = None
                ) -> tuple[NetPlan, list[Diagnostic]]:
    """Stages 1-5 as `netc.plan` runs them (same errors), then every lint rule. `prepare`
    (spec, smap, source) -> spec runs before lowering: the API's, which reads the data a
    token input takes its vocabulary from (the compiler reads no files)."""
    from ..dsl.parser import parse
    from .check import check
    from .expand import expand
    from .lower import lower
    from .validate import validate

    program = parse(source)
    spec, smap = validate(program, expand(program))
    check(spec, smap, source)
    plan = lower(prepare(spec, smap, source) if prepare else spec, smap, source)
    return plan, lint(plan, smap)


def lint(plan: NetPlan, smap: SourceMap) -> list[Diagnostic]:
    """The warnings of every rule, in source order."""
    found = [d for rule in RULES for d in rule(plan, smap)]
    return sorted(found, key=lambda d: (d.span is None, d.span.start if d.span else 0))


def _warning(code: str, message: str, span: Span | None, hint: str,
             notes: tuple[str, ...] = ()) -> Diagnostic:
    return replace(Diagnostic(code, message, span, hint=hint, notes=notes), severity="warning")


def double_activation(plan: NetPlan, smap: SourceMap) -> list[Diagnostic]:
    """`affine(3) -> softmax -> softmax_ce`: the loss applies softmax itself, so the output is
    squashed twice. It still runs, but the loss cannot fall below log(e + k - 1) - 1 (0.55
    for 3 classes: softmax of a one-hot row), the gradients shrink and learning slows (spiral,
    sgd lr=1, 300 epochs: loss 0.75 and 83 % against 0.10 and 97 %), without a word."""
    loss = plan.loss
    head, j = _OWN_HEAD.get(loss.op), loss.inputs[0]
    if j < 0 or plan.layers[j].op != head:  # what the loss reads, in a chain or a graph
        return []
    layer = plan.layers[j]
    if head == "softmax":
        k = loss.n_out
        why = f"the loss cannot fall below {math.log(math.e + k - 1) - 1:.2f} for {k} outputs"
    else:
        why = "every prediction stays between 0.5 and 0.73"
    return [_warning(
        "double_activation", f"'{head}' right before '{loss.op}' applies {head} twice "
        f"({loss.op} includes it: {why}, and learning slows)", layer.span,
        f"remove the '{head}' layer; {loss.op} gives the {head} of the network's output "
        "(predict returns it)", smap.notes(layer.index))]


def regression_on_class_labels(plan: NetPlan, smap: SourceMap) -> list[Diagnostic]:
    """`data: spiral` with `... -> mse`: the data's targets are class labels (0, 1, 2), so mse
    regresses on the label numbers and sigmoid_ce refuses labels above 1."""
    data, span = _named_data(plan, smap)
    if data is None or plan.loss.op == "softmax_ce":
        return []
    k = CLASSES[data]
    return [_warning(
        "class_labels", f"'{plan.loss.op}' with data: {data}, whose targets are class labels "
        f"0 to {k - 1} ({_misuse(plan.loss.op)})", span,
        f"end with affine({k}) -> softmax_ce to classify {data}",
        (f"the loss '{plan.loss.op}' is at {plan.loss.where}", *smap.notes(plan.loss.index)))]


def _misuse(loss: str) -> str:
    if loss == "mse":
        return "mse would fit the label numbers, not the classes"
    return "sigmoid_ce takes targets from 0 to 1, one per output"


def output_width_matches_classes(plan: NetPlan, smap: SourceMap) -> list[Diagnostic]:
    """`data: mnist` with `affine(100) -> softmax_ce`: 100 outputs for 10 classes; the extra
    ones are never the answer (with fewer than 10, training stops at the first label > k)."""
    data, _ = _named_data(plan, smap)
    if data is None or plan.loss.op != "softmax_ce" or plan.n_outputs == CLASSES[data]:
        return []
    k, layer, n = CLASSES[data], _width_setter(plan), plan.n_outputs
    why = (f"outputs {k} to {n - 1} are never a right answer" if n > k else
           f"the run stops at the first label {n}" + (f" to {k - 1}" if k - n > 1 else ""))
    return [_warning(
        "output_width", f"the network has {n} outputs, but data: {data} has {k} classes "
        f"({why})", layer.span, f"make the last layer {k} wide (affine({k}))",
        smap.notes(layer.index))]


def _width_setter(plan: NetPlan) -> LayerPlan:
    """The layer that fixed the output width: the last whose width differs from its input's
    (or the last with weights); the loss when none does."""
    j = plan.loss.inputs[0]
    while j >= 0:  # back along the first input of each node, from the loss
        layer = plan.layers[j]
        if layer.n_out != layer.n_in or OPS[layer.op].sets_width:
            return layer
        j = layer.inputs[0]
    return plan.loss


def learning_rate_in_usual_range(plan: NetPlan, smap: SourceMap) -> list[Diagnostic]:
    """`optimizer: adam(lr=1)`: legal, but a hundred times the largest rate Adam is used with;
    it diverges or jumps about. The usual ranges are `rules.USUAL_LR`."""
    span = smap.args.get(("run", "optimizer", "lr"))
    name, lr = plan.run.optimizer, dict(plan.run.hyper).get("lr")
    if span is None or lr is None or name not in USUAL_LR:
        return []
    low, high = USUAL_LR[name]
    if dict(plan.run.fit).get("clip") and lr > high:
        return []  # Why: clipping bounds each step; DLFS-2's language models use sgd(lr=20)
    if low <= lr <= high:
        return []
    side, effect = ("above", "diverges") if lr > high else ("below", "barely moves the weights")
    default = OPTIMIZERS[name][0].default
    return [_warning(
        "unusual_lr", f"learning rate {lr:g} is far {side} the usual range of {name} "
        f"({low:g} to {high:g}; a rate this {'large' if lr > high else 'small'} {effect})",
        span, f"start from {name}'s default, lr={default:g}, and tune by factors of 10")]


def input_width_without_data(plan: NetPlan, smap: SourceMap) -> list[Diagnostic]:
    """`input: 784` with no `data:` line: netc trains on the 2-feature spiral then, and the
    run stops at once with a width error; `check` says so, and what to add, before it. Only
    MNIST's width: other widths without `data:` are the Python API's own arrays, as a rule."""
    span = smap.args.get(("run", "input", "width")) or smap.args.get(("run", "input", "shape"))
    if ("run", "data", "source") in smap.args or plan.run.data != "spiral" \
            or plan.input_width != FEATURES["mnist"]:
        return []
    return [_warning(
        "data_mismatch", f"the input is {plan.input_width} wide (MNIST's 28x28 images?), but "
        "with no `data:` line `netc run` trains on the spiral and stops with a width error",
        span, missing_data_hint(plan.input_width))]


def _named_data(plan: NetPlan, smap: SourceMap) -> tuple[str | None, Span | None]:
    """The data set the spec names (`data: mnist`) and where, or (None, None)."""
    span = smap.args.get(("run", "data", "source"))
    if span is None or plan.run.data not in CLASSES:
        return None, None
    return plan.run.data, span


Rule = Callable[[NetPlan, SourceMap], list[Diagnostic]]
RULES: tuple[Rule, ...] = (double_activation, regression_on_class_labels,
                           output_width_matches_classes, learning_rate_in_usual_range,
                           input_width_without_data)
