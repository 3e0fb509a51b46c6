"""Stage 5's output: `NetPlan`, the network as plain data (no numpy), and its summary table.

A plan says everything the runtime needs to allocate and generate code for: every layer's op,
widths, named parameters with their init scheme, state buffers, where in the spec it came
from, and the run settings. `netc check` stops here, so checking never imports numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..source import Span


@dataclass(frozen=True, slots=True)
class ParamPlan:
    """One array: trained (`W`, `b`, `gamma`) or state (`running_mean`); key `0.affine.W`."""

    key: str
    name: str
    shape: tuple[int, ...]
    init: str
    std: float | None = None
    fan_in: int = 1

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True, slots=True)
class LayerPlan:
    """One node of the ordered graph: `n_in` -> `n_out` features."""

    index: int
    op: str
    kind: str
    n_in: int
    n_out: int
    attrs: tuple[tuple[str, Any], ...] = ()
    params: tuple[ParamPlan, ...] = ()
    buffers: tuple[ParamPlan, ...] = ()
    span: Span | None = None

    @property
    def label(self) -> str:
        return f"{self.index}.{self.op}"

    def attr(self, name: str, default: Any = None) -> Any:
        return dict(self.attrs).get(name, default)

    @property
    def where(self) -> str:
        return f"{self.span.line}:{self.span.column}" if self.span else ""


@dataclass(frozen=True, slots=True)
class RunPlan:
    """The run settings, defaults filled in."""

    data: str = "spiral"
    optimizer: str = "sgd"
    hyper: tuple[tuple[str, float], ...] = (("lr", 0.01), ("wd", 0.0))
    epochs: int = 10
    batch_size: int = 100
    seed: int = 0
    dtype: str = "float32"


@dataclass(frozen=True, slots=True)
class NetPlan:
    """The whole network: layers in order (the loss last), input width and run settings."""

    layers: tuple[LayerPlan, ...]
    input_width: int
    run: RunPlan = field(default_factory=RunPlan)
    spec_hash: str = ""
    path: str = "<string>"

    @property
    def loss(self) -> LayerPlan:
        return self.layers[-1]

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def param_count(self) -> int:
        return sum(p.size for layer in self.layers for p in layer.params)

    def summary(self) -> str:
        """Keras-style table: each layer, its output shape, its parameters; then totals."""
        rows = [("#", "layer", "output", "params", "at")]
        rows.append(("", "input", f"(batch, {self.input_width})", "0", ""))
        for layer in self.layers:
            count = sum(p.size for p in layer.params)
            rows.append((str(layer.index), _describe(layer), f"(batch, {layer.n_out})",
                         f"{count:,}", layer.where))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.rjust(w) if i == 3 else c.ljust(w)
                           for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                 for r in rows]
        rule = "-" * max(len(line) for line in lines)
        total = self.param_count
        size = 4 if self.run.dtype == "float32" else 8
        lines[1:1] = [rule]
        lines += [rule, f"parameters: {total:,} ({_bytes(total * size)} as {self.run.dtype})"]
        return "\n".join(lines)


def _describe(layer: LayerPlan) -> str:
    args = [f"{layer.n_in}, {layer.n_out}"] if layer.params and layer.op != "batchnorm" else []
    args += [f"{k}={v}" for k, v in layer.attrs]
    return layer.op + (f"({', '.join(args)})" if args else "")


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
