"""Runtime stage 7 helper: what a failing run tells its user, beyond "the loss is NaN".

Two diagnoses for `Trainer`: a loss that is non-finite before the first update is the
initialiser's fault (or the inputs' scale), not the learning rate's; and a loss that stays far
above where it started, epoch after epoch, without ever becoming NaN, is a learning rate that
is too high. The first is an error; the second a `NetcWarning` (the trainer never prints: the
CLI shows the warning as one line, the Python API as a Python warning).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import NetcWarning

if TYPE_CHECKING:
    from ..compiler.plan import LayerPlan, NetPlan

# Spiral with sgd(lr=1000) starts at 1.1 and then swings between 8 and 680 for all 300
# epochs (lr=30: 53 epochs in a row above 3x its start, ending at 55 % accuracy); the healthy
# lr=1, 3 and 10 runs are above 3x their start for at most one epoch at a time.
GROWTH_EPOCHS = 10
GROWTH_FACTOR = 3.0


def check_growth(history: Sequence[dict[str, Any]], start: float | None,
                 lr: float | None) -> float | None:
    """Warn once if the last `GROWTH_EPOCHS` losses all stayed above `GROWTH_FACTOR` times
    `start` (the untrained loss) and the latest is above the first epoch's. Returns the
    reference to keep checking with: None once warned, or when there is none (a resumed run)."""
    if start is None or not np.isfinite(start) or len(history) < GROWTH_EPOCHS:
        return start
    recent = [rec["train_loss"] for rec in history[-GROWTH_EPOCHS:]]
    first, now = history[0]["train_loss"], recent[-1]
    if not (min(recent) > GROWTH_FACTOR * start and now > first):
        return start
    rate = f"the learning rate {lr}" if lr is not None else "the learning rate"
    warnings.warn(f"the training loss has stayed above {GROWTH_FACTOR:g} times its starting "
                  f"value for {GROWTH_EPOCHS} epochs ({start:.4g} at the start -> {now:.4g} in "
                  f"epoch {history[-1]['epoch']}); {rate} is probably too high",
                  NetcWarning, stacklevel=4)
    return None


def _param_layer(plan: NetPlan, index: int) -> LayerPlan | None:
    """The layer at `index` if it has weights, else the nearest one before it that has."""
    for layer in reversed(plan.layers[:index % len(plan.layers) + 1]):
        if layer.params:
            return layer
    return None


def _init_name(layer: LayerPlan) -> str:
    p = layer.params[0]
    return f"{p.init}(std={p.std:g})" if p.std is not None else p.init


def initial_divergence(plan: NetPlan, index: int, value: float, x: NDArray) -> str:
    """The message for a loss that is non-finite before any update: blame the init of the
    layer (at `index`, or the weighted layer before it) that first went non-finite."""
    layer = _param_layer(plan, index)
    head = (f"training diverged at the first step, before any update: the initial weights "
            f"already give a non-finite loss ({value})")
    if layer is None:
        return head + ".\n  hint: check the scale of the inputs"
    spot = f"{plan.path}:{layer.where}" if layer.span else layer.label
    name = _init_name(layer)
    if layer.params[0].std is not None:
        return (f"{head}. The init {name} of {layer.label} ({spot}) is too large.\n"
                "  hint: use init: auto or a smaller std")
    largest = float(np.max(np.abs(x))) if x.size else 0.0
    return (f"{head}. {layer.label} ({spot}, init {name}) overflows on these inputs "
            f"(largest magnitude {largest:g}).\n  hint: scale the inputs, e.g. to [-1, 1]")
