"""Runtime stage 7, settings: what one training run uses, from the spec and the caller.

`netc run` and `Network.fit` both resolve their settings here, so the same spec, data and
seed train the same way from either entry point (a test holds them bit-identical): the
spec's `optimizer:` and `train:` declarations, then whatever the caller gave explicitly.
"""

from __future__ import annotations

from typing import Any

from ..compiler.plan import RunPlan

# The `train:` integers every run takes from the spec unless given.
_TRAIN = ("epochs", "batch_size", "seed")


def resolve(run: RunPlan, given: dict[str, Any]) -> dict[str, Any]:
    """`Trainer` keyword arguments: `given` (None means not given) over the spec's `run`.

    The spec's hyper-parameters apply only while the optimizer is the spec's: `adam`'s
    beta1 means nothing to `sgd`, and its lr would be far off for another optimizer."""
    opts = {k: v for k, v in given.items() if v is not None}
    for key in _TRAIN:
        opts.setdefault(key, getattr(run, key))
    opts.setdefault("optimizer", run.optimizer)
    if opts["optimizer"] == run.optimizer:
        for key, value in run.hyper:
            # Why the alias check: `weight_decay=` given is `wd`, it must not meet the spec's.
            if not (key == "wd" and "weight_decay" in opts):
                opts.setdefault(key, value)
    return opts
