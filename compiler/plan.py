"""Stage 5's output: `NetPlan`, the network as plain data (no numpy), and its summary table.

A plan says everything the runtime needs to allocate and generate code for: every layer's op,
widths, named parameters with their init scheme, state buffers, where in the spec it came
from, and the run settings. `netc check` stops here, so checking never imports numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..source import Span
from .descriptor import shown

# Arrays of optimizer state per parameter (runtime/optim.py's `state`; a test keeps them equal).
OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1,
                   "adam": 2}
EVAL_ROWS = 2048  # rows evaluated or predicted at a time (runtime/network.py's EVAL_BATCH)
EVAL_BYTES = 256 * 2**20  # at most what those rows' buffers take (float32): conv nets take fewer
INIT_CHUNK = 2**20  # values drawn at a time by a random initialiser (float64 temporaries)


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


INPUT = -1  # `LayerPlan.inputs` names the network's input by this index


@dataclass(frozen=True, slots=True)
class SharedParam:
    """An array a layer reads but another owns (`affine(8)@A` used twice, `affine(tied=A)`):
    the owner's `key`, and the shape this layer sees, the owner's transposed when `transposed`."""

    name: str
    key: str
    shape: tuple[int, ...]
    transposed: bool = False


@dataclass(frozen=True, slots=True)
class LayerPlan:
    """One node of the graph, in topological order: `n_in` -> `n_out` features.

    `inputs` are the indices of the nodes it reads (`INPUT` for the network's input), in the
    op's argument order; left out, a node reads the one before it (a chain). `shape` is the
    shape of one row of its output (the batch dimension is implicit); left out, `(n_out,)`.
    """

    index: int
    op: str
    kind: str
    n_in: int
    n_out: int
    attrs: tuple[tuple[str, Any], ...] = ()
    params: tuple[ParamPlan, ...] = ()
    buffers: tuple[ParamPlan, ...] = ()
    span: Span | None = None
    inputs: tuple[int, ...] = ()
    shape: tuple[int, ...] = ()
    uses: tuple[SharedParam, ...] = ()  # arrays owned by another layer (shared weights)
    weight_label: str | None = None  # `@A`: the label its weights are shared under
    steps: int = 0  # a dense op on a sequence: applied per time step over this many steps
    in_shape: tuple[int, ...] = ()  # one row of its (first) input; left out, `(n_in,)`
    # One row of each input, for a node reading two or more (attention's keys); else ().
    in_shapes: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        if not self.inputs:
            object.__setattr__(self, "inputs", (self.index - 1,))
        if not self.shape:
            object.__setattr__(self, "shape", (self.n_out,))
        if not self.in_shape:
            object.__setattr__(self, "in_shape", (self.n_in,))

    @property
    def label(self) -> str:
        return f"{self.index}.{self.op}"

    def shown_attrs(self) -> list[str]:
        """The attributes as the summary writes them: `p=0.5`."""
        return [f"{k}={v}" for k, v in self.attrs]

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
    backend: str = "numpy"  # `train: backend=numba`: the compiled training loop
    # The `train:` settings that add callbacks (`runtime/callbacks.py`'s `from_settings`).
    callbacks: tuple[tuple[str, float], ...] = ()
    # The `train:` settings the Trainer takes as they are (`rules.FIT_SETTINGS`).
    fit: tuple[tuple[str, float], ...] = ()
    # The data's own arguments: corpus's path, markov's words and tokens.
    data_args: tuple[tuple[str, Any], ...] = ()
    # `generate: greedy(tgt, steps=N)`: (input index k, steps, the decoder's first column of
    # input k), checked by compiler/teacher.py; None without it.
    generate: tuple[int, int, int] | None = None


@dataclass(frozen=True, slots=True)
class NetPlan:
    """The whole network: layers in topological order (the loss last), the input's width
    (values per row) and shape (left out: `(input_width,)`), and the run settings."""

    layers: tuple[LayerPlan, ...]
    input_width: int
    run: RunPlan = field(default_factory=RunPlan)
    spec_hash: str = ""
    path: str = "<string>"
    input_shape: tuple[int, ...] = ()
    # Several named inputs (`input: a: 784, b: 10`): (name, shape) in the order each data row
    # holds them side by side; a node reads input k as value -1 - k. Empty for one input.
    input_parts: tuple[tuple[str, tuple[int, ...]], ...] = ()
    # A token input (`input: tokens(V)`): rows of `input_width` integer ids below `vocab`;
    # 0 for float data.
    vocab: int = 0
    # `softmax_ce(tgt[1:])`: the targets are columns [start, stop) of input k's, (k, start,
    # stop); None where the targets come apart from the inputs.
    target: tuple[int, int, int] | None = None

    def value_name(self, j: int) -> str:
        """How the summary names value j: `3` (node 3), `input`, or `input a`."""
        if j >= 0:
            return str(j)
        return f"input {self.input_name(j)}" if self.input_parts else "input"

    def input_name(self, j: int) -> str:
        """The name of input value j (-1, -2, ...): "input" when there is one."""
        return self.input_parts[-1 - j][0] if self.input_parts else "input"

    def __post_init__(self) -> None:
        if not self.input_shape:
            object.__setattr__(self, "input_shape", (self.input_width,))

    @property
    def is_chain(self) -> bool:
        """Every node reads the one before it (today's pipelines): no branch, no merge."""
        return all(lp.inputs == (lp.index - 1,) for lp in self.layers)

    def consumers(self) -> dict[int, list[int]]:
        """The nodes reading each value (`INPUT` for the input), in topological order."""
        found: dict[int, list[int]] = {INPUT - k: [] for k in range(max(1, len(
            self.input_parts)))}
        for lp in self.layers:
            found.setdefault(lp.index, [])
            for j in lp.inputs:
                found.setdefault(j, []).append(lp.index)
        return found

    @property
    def loss(self) -> LayerPlan:
        return self.layers[-1]

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def param_count(self) -> int:
        return sum(p.size for layer in self.layers for p in layer.params)

    def memory(self, job: str, *, dtype: str | None = None, batches: Sequence[int] = (),
               slots: int = 0, extra: Sequence[tuple[str, int]] = ()) -> Memory:
        """Bytes a job allocates, by part: the arrays `build` makes, `slots` optimizer state
        arrays per parameter, the buffers the passes bind for each batch size in `batches`,
        and `extra` parts (data batches, copies) the caller names."""
        from .codegen import bound_bytes  # Why here: codegen imports this module

        size = 8 if (dtype or self.run.dtype) == "float64" else 4
        n = self.param_count
        largest = max((p.size for lp in self.layers for p in lp.params if p.init not in
                       ("zeros", "ones")), default=0)
        parts = [("parameters", n * size), ("gradients", n * size),
                 ("optimizer state", slots * n * size),
                 ("layer state", size * sum(b.size for lp in self.layers for b in lp.buffers)),
                 # Why only without batches: the temporaries are gone before any batch is.
                 ("initialiser", 0 if batches else 8 * min(largest, INIT_CHUNK)),
                 ("activations", sum(bound_bytes(self, b, size) for b in batches)), *extra]
        return Memory(job, tuple((k, v) for k, v in parts if v))

    def summary_rows(self) -> list[tuple[str, str, str, str, str]]:
        """The table's rows, header first: (#, layer, output, params, at), for text and HTML."""
        rows = [("#", "layer", "output", "params", "at")]
        rows += [("", f"input {name}", shown(shape), "0", "") for name, shape in
                 self.input_parts] or [("", f"input tokens({self.vocab})" if self.vocab
                                        else "input", shown(self.input_shape), "0", "")]
        for layer in self.layers:
            count = sum(p.size for p in layer.params)
            # Why only off the chain: a node reading the one above it needs no arrow.
            reads = "" if layer.inputs == (layer.index - 1,) else " ← " + ", ".join(
                self.value_name(j) for j in layer.inputs)
            rows.append((str(layer.index), describe_layer(layer) + reads, shown(layer.shape),
                         f"{count:,}", layer.where))
        return rows

    def summary_totals(self) -> list[str]:
        """The lines under the table: parameter count and bytes, then the training memory."""
        total = self.param_count
        size = 4 if self.run.dtype == "float32" else 8
        return [f"parameters: {total:,} ({format_bytes(total * size)} as {self.run.dtype})",
                f"memory: {self.training_memory().describe()}"]

    def summary(self) -> str:
        """Keras-style table: each layer, its output shape, its parameters; then totals."""
        rows = self.summary_rows()
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.rjust(w) if i == 3 else c.ljust(w)
                           for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                 for r in rows]
        rule = "-" * max(len(line) for line in lines)
        lines[1:1] = [rule]
        lines += [rule, *self.summary_totals()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Jupyter's view: the layer table beside an SVG diagram (netc/html.py)."""
        from ..html import plan_html

        return plan_html(self)

    @property
    def eval_rows(self) -> int:
        """Rows evaluated or predicted at a time: EVAL_ROWS, or fewer where a row's buffers
        are large (a conv's columns take hundreds of values per pixel), within EVAL_BYTES."""
        from .codegen import bound_bytes  # Why here: codegen imports this module

        per_row = bound_bytes(self, 2, 4) - bound_bytes(self, 1, 4)
        return max(1, min(EVAL_ROWS, EVAL_BYTES // max(per_row, 1)))

    def training_memory(self, batch: int | None = None, optimizer: str | None = None,
                        dtype: str | None = None, eval_rows: int | None = None) -> Memory:
        """What `netc run` allocates: `memory` for a batch size, optimizer and evaluation."""
        batch = batch or self.run.batch_size
        if dict(self.run.fit).get("bptt"):  # a language model evaluates streams of `batch`
            eval_rows = 0  # the training buffers
        eval_rows = self.eval_rows if eval_rows is None else eval_rows
        optimizer = optimizer or self.run.optimizer
        size = 8 if (dtype or self.run.dtype) == "float64" else 4
        # Why the extra part: the trainer gathers each batch of inputs and targets into its own
        # buffers (targets counted one value per output, as one-hot or regression targets are).
        data = batch * (self.input_width + self.n_outputs) * size
        job = f"training at batch {batch:,}" + (f" and evaluation at {eval_rows:,} rows"
                                                 if eval_rows else "")
        return self.memory(job, dtype=dtype, batches=(batch, eval_rows) if eval_rows else
                           (batch,), slots=OPTIMIZER_SLOTS.get(optimizer, 2),
                           extra=(("data batch", data),))


@dataclass(frozen=True, slots=True)
class Memory:
    """An estimate of the bytes one job (training, building, ...) allocates, part by part."""

    job: str
    parts: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(v for _, v in self.parts)

    def describe(self) -> str:
        """`about 1.2 GiB for training at batch 100 (parameters 39.0 KiB, ...)`"""
        parts = ", ".join(f"{k} {format_bytes(v)}" for k, v in self.parts)
        return f"about {format_bytes(self.total)} for {self.job}" + (f" ({parts})" if parts
                                                                       else "")


def describe_layer(layer: LayerPlan) -> str:
    """The summary's label: the op's own (`affine(784, 50)`) or its name and attributes."""
    from .ops import OPS  # Why here: the op modules import the spec, which plan must not

    label = OPS[layer.op].label
    at = f"@{layer.weight_label}" if layer.weight_label else ""
    if label:
        return label(layer) + at
    args = layer.shown_attrs()
    return layer.op + (f"({', '.join(args)})" if args else "") + at


def format_bytes(n: float) -> str:
    """`512 B`, `155.3 KiB`, `1.2 GiB`, `59.1 TiB`."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"
