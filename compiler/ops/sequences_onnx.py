"""ONNX forms of the sequence ops (export stage, used by runtime/onnx_export.py through each
OpDef's `onnx=`): embed as Gather, rnn/lstm/gru as ONNX RNN/LSTM/GRU from a zero state (what
`predict` does), last as Gather of step -1, mean as ReduceMean over the steps.

The compiler imports no numpy, so the ONNX weights are made with the parameter arrays' own
methods (a list of column indices to reorder gates, `* signs` to negate, `.T`, `.reshape`) and
handed to `g.const`, which stores them as float32 initializers.

Layouts: netc's sequences are batch-major (n, T, D). ONNX recurrent ops accept `layout=1`
(batch-major) since opset 14, but onnxruntime's CPU kernels refuse it ("Batchwise recurrent
operations (layout == 1) are not supported", ort 1.32), so the input is transposed to
(T, n, D), and the output Y (T, 1, n, H) transposed to (n, T, 1, H) and its direction axis
squeezed.

Gate maps (the kernels' module docstring, runtime/sequence_kernels.py): DLFS-2's LSTM columns
f, g, i, o become ONNX's i, o, f, c; GRU z, r, h keep their order but ONNX's z is the book's
1 - z, so z's weights and bias are negated (s(-a) = 1 - s(a)); linear_before_reset=0 is the
book's (r*h) Whh, whose bias sits in Wb with zeros in Rb.
"""

from __future__ import annotations

from typing import Any

# For each ONNX gate block, the DLFS-2 block it comes from.
_ORDER = {"rnn": (0,), "lstm": (2, 3, 0, 1), "gru": (0, 1, 2)}


def _array(g: Any, lp: Any, name: str) -> Any:
    """The network's parameter array `name` of layer `lp`, its owner's where it is shared."""
    shared = next((u for u in lp.uses if u.name == name), None)
    return g.net.params[shared.key if shared is not None else f"{lp.label}.{name}"]


def _columns(lp: Any) -> list[int]:
    """The DLFS-2 columns of Wx, Wh and b in ONNX's gate order."""
    hidden = lp.shape[-1]
    return [block * hidden + j for block in _ORDER[lp.op] for j in range(hidden)]


def _signs(lp: Any) -> list[float]:
    """Per ONNX column: -1 for GRU's update gate (ONNX's z is the book's 1 - z), else 1."""
    hidden, gates = lp.shape[-1], len(_ORDER[lp.op])
    first = -1.0 if lp.op == "gru" else 1.0
    return [first] * hidden + [1.0] * (gates - 1) * hidden


def _weights(g: Any, lp: Any) -> list[str]:
    """W (1, kH, D), R (1, kH, H) and B (1, 2kH) initializers: Wx and Wh reordered,
    transposed (ONNX multiplies by W^T), signed; B is b then zeros for Rb."""
    cols, signs = _columns(lp), _signs(lp)
    names = []
    for key in ("Wx", "Wh"):
        array = _array(g, lp, key)[:, cols] * signs
        names.append(g.const(f"{lp.label}.onnx_{key}", array.T.reshape(1, len(cols), -1)))
    bias = (_array(g, lp, "b")[cols] * signs).tolist()
    names.append(g.const(f"{lp.label}.onnx_B", [bias + [0.0] * len(cols)]))
    return names


def recurrent_onnx(g: Any, lp: Any) -> None:
    """rnn, lstm, gru: (n, T, D) -> (T, n, D) -> ONNX op -> Y (T, 1, n, H) -> (n, T, H). With
    `init=` the second input, (n, H) -> (1, n, H), is the op's initial_h (an LSTM's
    initial_c left out: zeros, as the layer starts its cell)."""
    x, start = g.inputs[:1], g.inputs[1:]
    extra: list[str] = []
    if start:
        g.inputs = start
        g.node("Unsqueeze", [g.ints(f"{lp.label}.state_axis", [0])], f"{lp.label}.initial_h")
        extra = ["", g.inputs[0]]  # no sequence_lens; initial_h
    g.inputs = x
    g.node("Transpose", [], f"{lp.label}.time_major", perm=[1, 0, 2])
    attrs = {"linear_before_reset": 0} if lp.op == "gru" else {}
    g.node(lp.op.upper(), [*_weights(g, lp), *extra], f"{lp.label}.{lp.op}",
           hidden_size=lp.shape[-1], **attrs)
    g.node("Transpose", [], f"{lp.label}.batch_major", perm=[2, 0, 1, 3])
    g.node("Squeeze", [g.ints(f"{lp.label}.direction_axis", [2])], lp.label)


def embed_onnx(g: Any, lp: Any) -> None:
    """Gather(W, ids): row id of W for each int64 id, (n, T) -> (n, T, D)."""
    # Gather reads the table first and the ids second; `g.node` puts its inputs after the
    # producer's value, so the table goes in front of it.
    g.inputs = [g.param(lp, "W"), *g.inputs]
    g.node("Gather", [], lp.label, axis=0)


def last_onnx(g: Any, lp: Any) -> None:
    """The last step, (n, T, H) -> (n, H): Gather of the scalar index -1 on axis 1 drops it."""
    g.node("Gather", [g.const(f"{lp.label}.step", -1, "int64")], lp.label, axis=1)


def mean_onnx(g: Any, lp: Any) -> None:
    """The mean over the steps, (n, T, D) -> (n, D). Opset 17's ReduceMean takes its axes as
    an attribute (an input from opset 18)."""
    g.node("ReduceMean", [], lp.label, axes=[1], keepdims=0)


def recurrent_step_onnx(g: Any, lp: Any, state: tuple[str, ...]) -> tuple[str, ...]:
    """A decoder's recurrent layer for one step of greedy generation (runtime/onnx_seq2seq.py):
    as `recurrent_onnx`, but it starts from the state inputs `state` ((n, H) h, and c for an
    LSTM) and returns the names of its final state, (n, H) each (ONNX's Y_h, Y_c)."""
    x = g.inputs[:1]
    starts = []
    for k, name in enumerate(state):
        g.inputs = [name]
        g.node("Unsqueeze", [g.ints(f"{lp.label}.state_axis{k}", [0])], f"{lp.label}.start{k}")
        starts.append(g.inputs[0])
    g.inputs = x
    g.node("Transpose", [], f"{lp.label}.time_major", perm=[1, 0, 2])
    attrs = {"linear_before_reset": 0} if lp.op == "gru" else {}
    outs = [f"{lp.label}.{lp.op}.out", *(f"{lp.label}.final{k}" for k in range(len(state)))]
    g.nodes.append(g.onnx.helper.make_node(
        lp.op.upper(), [*g.inputs, *_weights(g, lp), "", *starts], outs,
        name=f"{lp.label}.{lp.op}", hidden_size=lp.shape[-1], **attrs))
    g.inputs = [outs[0]]
    g.node("Transpose", [], f"{lp.label}.batch_major", perm=[2, 0, 1, 3])
    g.node("Squeeze", [g.ints(f"{lp.label}.direction_axis", [2])], lp.label)
    finals = []
    for k, out in enumerate(outs[1:]):
        g.nodes.append(g.onnx.helper.make_node(
            "Squeeze", [out, g.ints(f"{lp.label}.final_axis{k}", [0])],
            [f"{lp.label}.next{k}"], name=f"{lp.label}.next{k}"))
        finals.append(f"{lp.label}.next{k}")
    g.inputs = [f"{lp.label}.out"]
    return tuple(finals)
