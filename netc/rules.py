"""Shared by every stage: the rules for the numbers a user sets outside the layers, as plain data.

One description of each optimizer hyper-parameter and each `train:` integer: its default, its
bounds and what it means. `compiler/spec.py` builds its Pydantic fields from these rules, so
`netc layers` and the spec messages follow them; the runtime (which never imports pydantic)
and the command-line flags check values with `Rule.check`. Values are always finite: a NaN or
an infinity would reach the generated code, whose constants are written with `repr`.

Pure standard library, so `import netc` and every stage may import it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """One settable number: `gt`/`ge`/`lt`/`le` bounds as Pydantic names them."""

    name: str
    default: float | int
    description: str
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    integer: bool = False

    @property
    def switch(self) -> bool:
        """A 0/1 setting, which also takes true/false (`eval_train=true`, `fit(keep_best=True)`)."""
        return self.integer and self.ge == 0 and self.le == 1

    def bounds(self) -> dict[str, float]:
        """The bounds as keyword arguments for `pydantic.Field`."""
        return {k: v for k in ("gt", "ge", "lt", "le")
                if (v := getattr(self, k)) is not None}

    def expects(self) -> str:
        """What a valid value is, in words: "a positive finite number"."""
        if self.switch:
            return "0 or 1 (false or true)"
        if self.integer:
            low = self.ge if self.ge is not None else (self.gt or 0) + 1
            high = self.le if self.le is not None else (self.lt or 0) - 1
            return f"a whole number from {low:,} to {high:,}"
        if self.gt == 0 and self.lt == 1:
            return "a number strictly between 0 and 1"
        if self.gt == 0 and not (self.lt or self.le):
            return "a positive finite number"
        if self.ge == 0 and not (self.lt or self.le):
            return "a non-negative finite number"
        parts = [f"> {self.gt:g}" if self.gt is not None else "",
                 f">= {self.ge:g}" if self.ge is not None else "",
                 f"< {self.lt:g}" if self.lt is not None else "",
                 f"<= {self.le:g}" if self.le is not None else ""]
        return "a finite number " + " and ".join(p for p in parts if p)

    def check(self, value: object, owner: str) -> float | int:
        """`value` as a float (an int for integer rules); a `TypeError` for a value of the
        wrong type (a bool, a string, 2.5 for an integer), a `ValueError` out of range.
        Both messages start with `owner` and name the rule."""
        # Why not bool: True is an int to Python, but `lr=True` is a slip, never a choice;
        # only a 0/1 switch reads it, as 1.
        if self.switch and isinstance(value, bool):
            value = int(value)
        wanted = numbers.Integral if self.integer else numbers.Real
        if isinstance(value, bool) or not isinstance(value, wanted):
            kind = "a whole number" if self.integer else "a number"
            raise TypeError(f"{owner}: {self.name} must be {kind}, got {value!r} "
                            f"({type(value).__name__})")
        number = int(value) if self.integer else float(value)
        if not self._inside(number):
            shown = value if type(value) in (int, float) else number  # not `np.float64(...)`
            raise ValueError(f"{owner}: {self.name} must be {self.expects()}, got {shown!r}")
        return number

    def _inside(self, v: float | int) -> bool:
        return (math.isfinite(v) and (self.gt is None or v > self.gt)
                and (self.ge is None or v >= self.ge) and (self.lt is None or v < self.lt)
                and (self.le is None or v <= self.le))


def _lr(default: float) -> Rule:
    return Rule("lr", default, "learning rate", gt=0)


_WD = Rule("wd", 0.0, "L2 weight decay", ge=0)
_EPS = Rule("eps", 1e-7, "added to the root", gt=0)
_MOMENTUM = Rule("momentum", 0.9, "velocity decay", gt=0, lt=1)

# Hyper-parameters in the update kernel's argument order, `wd` last (runtime/optim.py).
OPTIMIZERS: dict[str, tuple[Rule, ...]] = {
    "sgd": (_lr(0.01), _WD),
    "momentum": (_lr(0.01), _MOMENTUM, _WD),
    "nesterov": (_lr(0.01), _MOMENTUM, _WD),
    "adagrad": (_lr(0.01), _EPS, _WD),
    "rmsprop": (_lr(0.01), Rule("decay", 0.99, "squared-gradient decay", gt=0, lt=1), _EPS, _WD),
    "adam": (_lr(0.001), Rule("beta1", 0.9, "first-moment decay", gt=0, lt=1),
             Rule("beta2", 0.999, "second-moment decay", gt=0, lt=1), _EPS, _WD),
}

# The learning rates each optimizer is used with in practice (low, high): legal values outside
# them are not refused, but `netc lint` warns (compiler/lint.py). Why these: SGD's lr is a raw
# step, so DLFS's 0.01-1 and large-batch rates up to 10 are all seen; the adaptive ones divide
# by the gradient's size, so their steps are about lr itself and 0.1 is already large.
USUAL_LR: dict[str, tuple[float, float]] = {
    "sgd": (1e-6, 10.0), "momentum": (1e-6, 10.0), "nesterov": (1e-6, 10.0),
    "adagrad": (1e-6, 10.0), "rmsprop": (1e-6, 0.1), "adam": (1e-6, 0.1),
}

# The `train:` integers; `netc run` flags and `fit` obey the same bounds as the spec.
TRAIN: dict[str, Rule] = {r.name: r for r in (
    Rule("epochs", 10, "passes over the data", ge=1, le=10**6, integer=True),
    Rule("batch_size", 100, "mini-batch size", ge=1, le=10**7, integer=True),
    Rule("seed", 0, "seed for init & shuffling", ge=0, le=2**63 - 1, integer=True),
    # Callbacks from the spec (runtime/callbacks.py); each default leaves its callback out.
    Rule("early_stop", 0, "stop after this many epochs without a better loss (0: never)",
         ge=0, le=10**6, integer=True),
    Rule("lr_decay", 1.0, "multiply lr by this every lr_every epochs (1: constant)",
         gt=0, le=1),
    Rule("lr_every", 1, "epochs between lr_decay steps", ge=1, le=10**6, integer=True),
    Rule("lr_plateau", 1.0, "multiply lr by this when the loss stops improving (1: never)",
         gt=0, le=1),
    Rule("lr_patience", 0, "epochs without improvement before lr_plateau acts",
         ge=0, le=10**6, integer=True),
    # What `fit` and `netc run` train on and report (runtime/trainer.py), DLFS ch. 6.
    Rule("eval_train", 0, "1: train figures from a full pass after each epoch (DLFS); "
         "0: running means over the mini-batches (Keras)", ge=0, le=1, integer=True),
    Rule("subset", 0, "train on the first N training samples (0: all)", ge=0, le=10**9,
         integer=True),
    Rule("validation_split", 0.0,
         "fraction of the training data held out (after a shuffle seeded by seed)",
         ge=0, lt=1),
    Rule("wd_all", 0, "1: weight decay on every parameter; 0: on weights only (DLFS)",
         ge=0, le=1, integer=True),
    Rule("keep_best", 0, "1: also keep the best epoch's checkpoint, beside the run's "
         "(ck.npz -> ck.best.npz)", ge=0, le=1, integer=True),
    # Language models (DLFS-2 ch. 5-6): truncated BPTT over parallel streams of a corpus.
    Rule("bptt", 0, "time steps per window: train a language model on batch_size parallel "
         "streams of the corpus, carrying the hidden state (0: off)", ge=0, le=10**5,
         integer=True),
    Rule("clip", 0.0, "scale the gradients down to this global norm when larger (0: off)",
         ge=0),
)}
# The `train:` settings above that `netc run` and `fit` turn into callbacks.
CALLBACK_SETTINGS = ("early_stop", "lr_decay", "lr_every", "lr_plateau", "lr_patience")
# The `train:` settings above that `netc run` and `fit` pass to the Trainer as they are.
# (`keep_best` too: the Trainer knows the checkpoint path its best one goes beside.)
FIT_SETTINGS = ("eval_train", "subset", "validation_split", "wd_all", "keep_best", "bptt",
                "clip")


def missing_data_hint(width: int) -> str:
    """The fix for a spec without `data:` whose input is not the spiral's 2 features. Why
    here: `netc check`'s lint (compiler/lint.py) and the run's width error
    (runtime/targets.py) give this same hint, and this module is what both may import."""
    fix = ("for 28x28 MNIST images add `data: mnist` to the spec (or pass --data mnist)"
           if width == 784 else "point `data:` at your .npz or .csv file (or pass --data FILE)")
    return f"the spiral, netc's data when a spec has no `data:` line, has 2 features; {fix}"


def suggest(name: str, known: Iterable[str]) -> str | None:
    """The closest of `known` to `name` (case, the alias table, spelling), or None; the same
    lookup as every other "did you mean" (`compiler/aliases.py`, pure Python)."""
    from .compiler.aliases import closest

    return closest(name, known)


def unknown_optimizer(name: object) -> str:
    """"unknown optimizer 'adamw'; did you mean 'adam'? valid optimizers: ..."."""
    close = suggest(str(name), OPTIMIZERS)
    return (f"unknown optimizer {name!r}; " + (f"did you mean {close!r}? " if close else "")
            + f"valid optimizers: {', '.join(sorted(OPTIMIZERS))}")


def optimizer_values(optimizer: str, given: Mapping[str, object],
                     others: Iterable[str] = ()) -> dict[str, float]:
    """Every hyper-parameter of `optimizer` (its defaults, then `given`), each checked.

    `weight_decay` is accepted for `wd`. An unknown name is a `ValueError` that suggests the
    closest of the hyper-parameters and of `others` (the caller's own keyword arguments).
    """
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise ValueError(unknown_optimizer(optimizer))
    rules = OPTIMIZERS[optimizer]
    given = dict(given)
    if "weight_decay" in given:
        given["wd"] = given.pop("weight_decay")
    names = [r.name for r in rules]
    for name in given:
        if name not in names:
            raise ValueError(_unknown(name, optimizer, names, others))
    return {r.name: r.check(given[r.name], optimizer) if r.name in given else float(r.default)
            for r in rules}


def _unknown(name: str, optimizer: str, names: list[str], others: Iterable[str]) -> str:
    close = suggest(name, [*names, *others])
    if close is not None and close not in names:  # `fit(epoch=3)`: a slip, not a hyper-parameter
        return f"unknown argument {name!r}; did you mean {close!r}?"
    maybe = f" (did you mean {close!r}?)" if close else ""
    return f"{optimizer} has no hyper-parameter {name!r}; it takes {', '.join(names)}{maybe}"
