"""The op table: which calls exist, their schema, and how positional arguments map to fields.

The grammar knows no op names; this registry is the single list of layers, losses, settings
and optimizers, used by the validator and by `netc layers`. Adding a layer starts here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel

from . import spec as s


@dataclass(frozen=True)
class OpInfo:
    """A callable name: its schema and its positional forms, indexed by how many are given."""

    name: str
    schema: type[BaseModel]
    positional: tuple[tuple[str, ...], ...] = ((),)

    @property
    def kind(self) -> str:
        return getattr(self.schema, "kind", "setting")

    @property
    def description(self) -> str:
        return getattr(self.schema, "description", "")


def _table(*infos: OpInfo) -> dict[str, OpInfo]:
    return {i.name: i for i in infos}


# Why two forms for affine: `affine(10)` after a known width reads naturally, and
# `affine(784, 10)` is DLFS's explicit (in, out) form; both are common in the book's nets.
_SIZED = ((), ("n_out",), ("n_in", "n_out"))

OPS = _table(
    OpInfo("affine", s.AffineSpec, _SIZED),
    OpInfo("matmul", s.MatMulSpec, _SIZED),
    OpInfo("sigmoid", s.SigmoidSpec),
    OpInfo("relu", s.ReluSpec),
    OpInfo("tanh", s.TanhSpec),
    OpInfo("leaky_relu", s.LeakyReluSpec, ((), ("alpha",))),
    OpInfo("softmax", s.SoftmaxSpec),
    OpInfo("dropout", s.DropoutSpec, ((), ("p",))),
    OpInfo("batchnorm", s.BatchNormSpec),
    OpInfo("repeat", s.RepeatSpec, ((), ("n",))),
    OpInfo("sum", s.SumSpec, ((), ("n",))),
    OpInfo("softmax_ce", s.SoftmaxCESpec),
    OpInfo("sigmoid_ce", s.SigmoidCESpec),
    OpInfo("mse", s.MSESpec),
)

SETTINGS = _table(
    OpInfo("input", s.InputSpec, ((), ("width",))),
    OpInfo("data", s.DataSpec, ((), ("source",))),
    OpInfo("optimizer", s.OptimizerSpec, ((), ("name",))),
    OpInfo("train", s.TrainSpec),
    OpInfo("init", s.InitSpec, ((), ("scheme",))),
)

OPTIMIZERS = _table(
    OpInfo("sgd", s.SGDSpec, ((), ("lr",))),
    OpInfo("momentum", s.MomentumSpec, ((), ("lr",))),
    OpInfo("nesterov", s.NesterovSpec, ((), ("lr",))),
    OpInfo("adagrad", s.AdaGradSpec, ((), ("lr",))),
    OpInfo("rmsprop", s.RMSpropSpec, ((), ("lr",))),
    OpInfo("adam", s.AdamSpec, ((), ("lr",))),
)

LOSSES = tuple(name for name, info in OPS.items() if info.kind == "loss")


# Names people bring from DLFS (the book's layer classes) and Keras/PyTorch, keyed in lower
# case without '_'. Why a table: `SoftmaxWithLoss` or `Dense` are nowhere near 'softmax_ce'
# or 'affine' by spelling, and the first hour is spent on exactly these.
ALIASES: dict[str, str] = {
    "softmaxwithloss": "softmax_ce", "crossentropy": "softmax_ce",
    "categoricalcrossentropy": "softmax_ce", "crossentropyloss": "softmax_ce",
    "sigmoidwithloss": "sigmoid_ce", "binarycrossentropy": "sigmoid_ce",
    "bceloss": "sigmoid_ce", "meansquarederror": "mse", "mseloss": "mse",
    "dense": "affine", "linear": "affine", "fullyconnected": "affine", "fc": "affine",
    "batchnormalization": "batchnorm", "batchnorm1d": "batchnorm", "bn": "batchnorm",
    "leakyrelu": "leaky_relu", "weightdecay": "wd", "learningrate": "lr",
    "batchsize": "batch_size",
}

# Layers asked for by name that netc does not have yet: said plainly instead of a guess.
NOT_YET: dict[str, str] = {
    name: "convolution is not available yet (issue 14 adds conv and pooling)"
    for name in ("conv", "conv2d", "convolution", "convolution2d", "pooling", "maxpool",
                 "maxpooling2d", "maxpool2d", "avgpool")
}


def suggest(name: str, choices: Iterable[str]) -> str | None:
    """"did you mean 'x'?" for the alias or the closest of `choices`, or None when nothing
    is close; for a layer netc does not have yet (`Conv2D`), says so."""
    choices = list(choices)
    if name.lower().replace("_", "") in NOT_YET and set(choices) & set(OPS):
        return NOT_YET[name.lower().replace("_", "")]
    found = closest(name, choices)
    return f"did you mean '{found}'?" if found else None


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The one of `choices` that `name` most likely meant: the same but for case or '_'
    (`ReLU`, `Adam`, `batch-size`), then the alias table, then the nearest spelling."""
    choices = list(choices)
    key = name.lower().replace("_", "").replace("-", "")
    for c in choices:
        if c.lower().replace("_", "").replace("-", "") == key:
            return c
    if ALIASES.get(key) in choices:
        return ALIASES[key]
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return close[0] if close else None
