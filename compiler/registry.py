"""The op table: which calls exist, their schema, and how positional arguments map to fields.

The grammar knows no op names; this registry lists the settings and optimizers, and takes
the layers and losses from the op catalogue (`compiler/ops/`, one `OpDef` per op), for the
validator and `netc layers`. Adding a layer means adding its `OpDef` there.
`suggest` gives every "did you mean" through the one alias table in `aliases.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel

from . import spec as s
from .aliases import ALIASES, NOT_YET, closest
from .descriptor import SchemaFacts
from .ops import OPS

__all__ = ["ALIASES", "LOSSES", "OPS", "OPTIMIZERS", "SETTINGS", "OpInfo", "closest",
           "suggest"]


@dataclass(frozen=True)
class OpInfo(SchemaFacts):
    """A setting or optimizer: its schema and its positional forms, indexed by how many are
    given (layers are `OpDef`s, which offer the same fields)."""

    name: str
    schema: type[BaseModel]
    positional: tuple[tuple[str, ...], ...] = ((),)
    default_kind: ClassVar[str] = "setting"


def _table(*infos: OpInfo) -> dict[str, OpInfo]:
    return {i.name: i for i in infos}


SETTINGS = _table(
    OpInfo("input", s.InputSpec, ((), ("width",))),
    OpInfo("data", s.DataSpec, ((), ("source",))),
    OpInfo("optimizer", s.OptimizerSpec, ((), ("name",))),
    OpInfo("train", s.TrainSpec),
    OpInfo("init", s.InitSpec, ((), ("scheme",))),
    OpInfo("generate", s.GenerateSpec, ((), ("method",))),
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
