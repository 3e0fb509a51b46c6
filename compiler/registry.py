"""The op table: which calls exist, their schema, and how positional arguments map to fields.

The grammar knows no op names; this registry is the single list of layers, losses, settings
and optimizers, used by the validator and by `netc layers`. Adding a layer starts here.
`suggest` gives every "did you mean" through the one alias table in `aliases.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel

from . import spec as s
from .aliases import ALIASES, NOT_YET, closest

__all__ = ["ALIASES", "LOSSES", "OPS", "OPTIMIZERS", "SETTINGS", "OpInfo", "closest",
           "suggest"]


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


def suggest(name: str, choices: Iterable[str]) -> str | None:
    """"did you mean 'x'?" for the alias or the closest of `choices`, or None when nothing
    is close; for a layer netc does not have yet (`Conv2D`), says so."""
    choices = list(choices)
    if name.lower().replace("_", "") in NOT_YET and set(choices) & set(OPS):
        return NOT_YET[name.lower().replace("_", "")]
    found = closest(name, choices)
    return f"did you mean '{found}'?" if found else None
