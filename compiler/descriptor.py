"""The op descriptor: everything the compiler and its consumers know about one op, in one place.

Each op (`compiler/ops/*.py`) is one `OpDef`: its schema and positional forms (validate), its
shape rule (shapes.py), its parameters, state and scratch buffers (lower, build, memory), its
forward and backward kernel calls as small templates over value names (codegen), what may be
overwritten in place, its ONNX mapping (runtime/onnx_export.py), its PyTorch form
(runtime/torch_emit.py) and its label in the summary (and so in `netc graph`).
No consumer switches on an op's name: each reads these fields. Plain data, no numpy, so
`netc check` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ParamRule:
    """One array an op owns: `init` is "weight" (the `init:` scheme decides), "zeros" or
    "ones"; `shape` and `fan_in` are computed from the op's input and output row shapes and
    its validated spec (a conv's kernel size)."""

    name: str
    shape: Callable[[Shape, Shape, Any], Shape]
    init: str = "weight"
    fan_in: Callable[[Shape, Shape, Any], int] | None = None


@dataclass(frozen=True, slots=True)
class Scratch:
    """A buffer an op keeps between its forward and backward calls, per batch size:
    `per_row` buffers are shaped like the output (dropout's mask), others like one row's
    last axis (batchnorm's inverse std). `shape`, where given, decides instead: a function
    of the layer's plan giving the buffer's shape, with "n" where the batch axis goes (a
    conv's columns `(C*kh*kw, "n", OH*OW)`). `dtype`: a NumPy type name for buffers that
    are not in the network's float type (max pooling's winners, "bool")."""

    name: str
    per_row: bool = True
    shape: Callable[[Any], tuple[int | str, ...]] | None = None
    dtype: str | None = None
    # State carried from one call to the next while the passes' `stream` flag is set (a
    # recurrent layer's last hidden state, for truncated BPTT); zeros when bound.
    carried: bool = False
    # Allocated only for the nodes where this holds (a folded peeky vector's bias per row);
    # None: always.
    needed: Callable[[Any], bool] | None = None


Template = str | Callable[[dict[str, str], Any], str]


class ShapeError(Exception):
    """A shape rule's refusal: `reason` says what met and why it cannot work (`{origin}`
    stands for where the input came from, which only the graph knows), `hint` the fix.

    shapes.py makes it a located diagnostic: its `code`, at the argument `at` (else the
    call), with `notes` explaining the input: "widths" (the widths since the last layer that
    set one), "shapes" (the same, for shaped data), "met" (each input's shape and origin) or
    "" (none). With `then`, inference goes on from that shape, so later faults show too.
    `input_hint`, where given, replaces `hint` when the input comes straight from the
    network's input (`input: 784` before a conv: the fix is in the `input:` line).
    """

    def __init__(self, reason: str, hint: str = "", *, code: str = "shape_mismatch",
                 at: str | None = None, notes: str = "met", then: Shape | None = None,
                 input_hint: str = "") -> None:
        super().__init__(reason)
        self.reason, self.hint, self.code, self.at = reason, hint, code, at
        self.notes, self.then = notes, then
        self.input_hint = input_hint  # the hint instead, where the input is what does not fit


def vectors_only(x: Shape, op: str, sequences: bool = False) -> None:
    """Refuse rows that are not vectors (nor, with `sequences`, sequences of vectors)."""
    if len(x) > (2 if sequences else 1):
        what = "one vector or one sequence" if sequences else "one vector"
        raise ShapeError(f"{op} takes {what} per row, but receives {shown(x)} from {{origin}}",
                         hint=f"insert flatten before {op}: ... -> flatten -> {op}",
                         notes="shapes")


# (input shapes, one row each, in argument order; the validated op spec) -> output shape.
ShapeRule = Callable[[tuple[Shape, ...], Any], Shape]


class SchemaFacts:
    """`kind` and `description` of a callable name, read from its schema's class attributes
    (shared by `OpDef` and the registry's `OpInfo` for settings and optimizers)."""

    schema: type
    default_kind: ClassVar[str] = "activation"

    @property
    def kind(self) -> str:
        return getattr(self.schema, "kind", self.default_kind)

    @property
    def description(self) -> str:
        return getattr(self.schema, "description", "")


@dataclass(frozen=True)
class OpDef(SchemaFacts):
    """One op, described once. See the module docstring for who reads which field.

    Templates are `str.format` strings (or functions of the same mapping and the node's
    `LayerPlan`, for an op whose kernel depends on its shapes) over: `x`, `y`, `dy`, `dx`
    (input, output and their gradients), the op's parameter names (`W`, `dW`), state and
    scratch names, per-batch constants (`ones`), and every attribute as its `repr`.
    A `dx` may be `None` (nobody needs the gradient): backward kernels must then skip it.
    A loss's templates see `x` (its input), `dx` (the gradient it writes) and the names the
    passes give it: `t` (targets), `out` (its prediction), `scale` (the gradient's factor).
    """

    name: str
    schema: type
    positional: tuple[tuple[str, ...], ...] = ((),)
    # Output shape from input shapes; None keeps the input's shape (activations). May raise
    # `ShapeError`.
    shape: ShapeRule | None = None
    sets_width: bool = False  # its output width is its own: width explanations restart at it
    per_step: bool = False  # on a sequence (steps, width) it acts per time step (TimeAffine)
    # What `init: auto` picks for the weights of the layer just before it: "he" (the ReLU
    # family, DLFS-1 6.2.2), "pass" (it looks on to the next op: dropout, batchnorm), else
    # Xavier.
    init_hint: str | None = None
    # A merge (add, concat): reads two or more values. Its templates see `xs` and `dxs`,
    # tuples of names such as `(y2, y5)`; a `dxs` entry may be None (nobody needs it).
    variadic: bool = False
    forward: Template = ""
    backward: Template = ""
    params: tuple[ParamRule, ...] = ()
    state: tuple[ParamRule, ...] = ()
    scratch: tuple[Scratch, ...] = ()
    # Per-batch constants its calls use ("ones"), or a function of the node's `LayerPlan`
    # giving them, for an op whose calls differ by node (a recurrent layer given `init=`).
    constants: tuple[str, ...] | Callable[[Any], tuple[str, ...]] = ()
    # Over sequences, each output step depends on input steps up to it only (a recurrent
    # layer through its carried state): a decoder may run it one step at a time
    # (compiler/stepper.py). Elementwise (`shape` None) and `per_step` ops are so anyway.
    stepwise: bool = False
    # A recurrent layer whose input projection may take a vector repeated at every step as a
    # bias per row (`concat(x, h.last) -> lstm`, folded by dataflow.py): its templates then
    # see `p` (the vector), `dp`, and `pb`/`dpb` scratch (n, kH).
    peeky: bool = False
    in_place: bool = False  # forward may write its output over its input
    needs_output: bool = False  # backward reads the output (so nobody may overwrite it)
    grad_in_place: bool = False  # backward may write dx over dy
    head: str | None = None  # losses: the kernel that turns scores into predictions
    onnx: Callable[..., None] | None = None  # (graph builder, layer) -> adds its nodes
    # A recurrent layer's ONNX form for one step of generation from given state inputs:
    # (graph builder, layer, state names) -> the names of its final state.
    onnx_step: Callable[..., tuple[str, ...]] | None = None
    # Its PyTorch form (`netc compile --emit torch`, runtime/torch_emit.py): one expression
    # over torch tensors, a template over the forward's names (`x`, a second input `s`, a
    # merge's `xs` as "a, b", a loss's targets `t`, its arrays, its attributes as `repr`); it
    # may call the helpers of runtime/torch_kernels.py and reads `self.training` (dropout,
    # batchnorm) and `self.uniform` (draws). None: no form (the emit names the op).
    torch: Template | None = None
    label: Callable[[Any], str] | None = None  # summary label from the LayerPlan
    # Kernels its templates call that runtime/kernels.py does not hold (an op added from
    # outside netc): top-level functions over numpy, copied into emitted modules like ours.
    kernels: tuple[Callable[..., Any], ...] = ()


def size(shape: Shape) -> int:
    """Values in one row of this shape."""
    n = 1
    for d in shape:
        n *= d
    return n


def shown(shape: Shape) -> str:
    """A row shape as the summary and the messages write it: `(batch, 1, 28, 28)`."""
    return "(" + ", ".join(["batch", *(str(d) for d in shape)]) + ")"


def render(template: Template, names: dict[str, str], layer: Any) -> str:
    """One kernel call from a template, the names of this node's values and its plan."""
    return template(names, layer) if callable(template) else template.format_map(names)
