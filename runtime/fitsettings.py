"""Runtime stage 7, settings: what one training run uses, from the spec and the caller.

`netc run` and `Network.fit` both resolve their settings here, so the same spec, data and
seed train the same way from either entry point (a test holds them bit-identical): the
spec's `optimizer:` and `train:` declarations, then whatever the caller gave explicitly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import rules
from ..compiler.plan import RunPlan
from ..errors import DataError
from . import optim

# The `train:` integers every run takes from the spec unless given.
_TRAIN = ("epochs", "batch_size", "seed")


def resolve(run: RunPlan, given: dict[str, Any]) -> dict[str, Any]:
    """`Trainer` keyword arguments: `given` over the spec's `run` (the CLI leaves out the
    flags it was not given).

    The spec's hyper-parameters apply only while the optimizer is the spec's: `adam`'s
    beta1 means nothing to `sgd`, and its lr would be far off for another optimizer."""
    opts = dict(given)  # Why no None filter: `fit(batch_size=None)` is refused by its rule
    for key in _TRAIN:
        opts.setdefault(key, getattr(run, key))
    for key, value in run.fit:  # eval_train, subset, validation_split, wd_all
        # Why the exception: the deprecated `evaluate=` still means what it meant.
        if not (key == "eval_train" and "evaluate" in opts):
            opts.setdefault(key, value)
    opts.setdefault("optimizer", run.optimizer)
    if opts["optimizer"] == run.optimizer:
        for key, value in run.hyper:
            # Why the alias check: `weight_decay=` given is `wd`, it must not meet the spec's.
            if not (key == "wd" and "weight_decay" in opts):
                opts.setdefault(key, value)
    return opts


def switch(name: str, value: object) -> bool:
    """A 0/1 `train:` setting (`eval_train`, `wd_all`) given to `fit`: a bool, or 0/1 as the
    spec writes it; anything else is refused by the shared rule (`fit(wd_all="no")` is not
    quietly true)."""
    if isinstance(value, bool):
        return value
    return bool(rules.TRAIN[name].check(value, "fit"))


def held_out(x: NDArray, t: NDArray, subset: int, split: float, seed: int,
             source: str | None) -> tuple[NDArray, NDArray, tuple[NDArray, NDArray] | None]:
    """The training data after `subset` (its first N samples, as DLFS ch. 6's overfitting
    demo takes MNIST's first 300) and `validation_split` (a fraction held out after a shuffle
    seeded by `seed`, as DLFS ch. 6's hyper-parameter search does: deterministic, and fair to
    data ordered by class), and the held-out pair or None."""
    subset = rules.TRAIN["subset"].check(subset, "fit")
    split = rules.TRAIN["validation_split"].check(split, "fit")
    if subset:
        x, t = x[:subset], t[:subset]
    if not split:
        return x, t, None
    held = int(len(x) * split)
    if held < 1 or held == len(x):
        raise DataError(f"{source or 'fit'}: validation_split={split:g} of {len(x)} samples "
                        f"leaves {'no sample to hold out' if held < 1 else 'nothing to train on'}"
                        "\n  hint: choose a validation_split that keeps a sample on each side")
    # Why its own generator: the training shuffle's draws stay those of a run without a split.
    order = np.random.default_rng((seed, 1)).permutation(len(x))
    val, train = order[:held], np.sort(order[held:])
    return x[train], t[train], (x[val], t[val])


# Which parameters are weight matrices (DLFS's weight decay reaches these only): `W`, and a
# recurrent layer's `Wx` and `Wh`; the standalone module's DECAYED list reads the same.
WEIGHTS = (".W", ".Wx", ".Wh")


def weights_mask(params: dict[str, NDArray], dtype: np.dtype) -> NDArray:
    """1 over the weight matrices (`*.W`, a recurrent layer's `*.Wx` and `*.Wh`), 0 over
    biases and batchnorm's gamma and beta, in the flat parameter buffer's order: DLFS's
    weight decay leaves those undecayed."""
    parts = [np.full(p.size, 1 if k.endswith(WEIGHTS) else 0, dtype)
             for k, p in params.items()]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def decayed_update(info: Any, hyper: dict[str, float],
                   wd_all: bool) -> tuple[optim.UpdatePlan, bool]:
    """The update a run takes for `hyper`, and whether weight decay is added apart from it
    (masked): the kernels decay every parameter, so unless `wd_all` they get wd=0 and the
    trainer adds the decay of the weights only (`weights_mask`, `with_decay`)."""
    masked = bool(hyper.get("wd", 0.0)) and not wd_all
    return optim.plan_update(info, {**hyper, "wd": 0.0} if masked else hyper), masked


def with_decay(update: Any, params: NDArray, grads: NDArray, decay: NDArray) -> Any:
    """`update` after adding `decay * params` to the gradients (decay: wd, times lr where the
    step has lr folded into the gradient, on the weights only): one fused pass, no
    per-parameter loop, so the flat-buffer step stays fast."""
    tmp = np.empty_like(params)
    multiply, add = np.multiply, np.add

    def step(n: int) -> None:
        multiply(params, decay, out=tmp)
        add(grads, tmp, out=grads)
        update(n)

    return step
