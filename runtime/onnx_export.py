"""Runtime stage (after build/train): a `Network` -> an ONNX inference graph with its weights.

The graph computes what `Network.predict` computes, in evaluation mode: dropout is left out,
batchnorm uses the running statistics, and the loss becomes its output activation (Softmax
for softmax_ce, Sigmoid for sigmoid_ce, nothing for mse). It follows the plan's graph: each
node reads the ONNX values of the nodes its `LayerPlan.inputs` name, a merge all of them.
The input is named "input" with a dynamic batch dimension, ("batch", width) or, for an
image, NCHW ("batch", 1, 28, 28): the (c, h, w) order of predict's flat rows, as its
(N, C, H, W) arrays are (the channel-major buffers of the generated passes are internal);
token ids (`input: tokens(V)`) are int64 ("batch", steps). The sequence ops' ONNX forms
(embed, rnn, lstm, gru, last, mean) are in compiler/ops/sequences_onnx.py.
The output is "output". Weights are stored as float32 initializers whatever the network's
dtype. `onnx` is an optional extra, imported only here and only when an export is asked for.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import write_atomically
from ..compiler.ops import OPS
from ..compiler.plan import INPUT
from ..errors import DataError, MissingDependencyError
from ..terminal import shown  # a file name that is not UTF-8 cannot be a protobuf string

if TYPE_CHECKING:
    from ..compiler.plan import LayerPlan
    from .network import Network

OPSET = 17
MISSING = "ONNX export needs the optional extra: pip install 'netc[onnx]'"


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError(MISSING) from None
    return onnx


class _Graph:
    """Nodes and initializers in the making. `inputs` are the values the next node reads
    first: the layer's producers, then, in a layer of several nodes, the last one's output."""

    def __init__(self, onnx: Any, net: Network) -> None:
        self.onnx, self.net = onnx, net
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.names: set[str] = set()  # initializers written, so a shared array is written once
        self.inputs: list[str] = ["input"]

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        # Why not ascontiguousarray alone: it makes a 0-d value 1-d, and a scalar index
        # (Gather of step -1) must stay a scalar to drop its axis.
        array = np.asarray(value, dtype=dtype)
        array = np.ascontiguousarray(array) if array.ndim else array
        self.inits.append(self.onnx.numpy_helper.from_array(array, name))
        self.names.add(name)
        return name

    def param(self, lp: LayerPlan, name: str) -> str:
        """A layer's parameter or state array as an initializer under its key; an array it
        shares (`@A`) once under its owner's key, a tied one (`tied=A`) transposed."""
        shared = next((u for u in lp.uses if u.name == name), None)
        if shared is not None:
            name = f"{shared.key}.T" if shared.transposed else shared.key
            if name not in self.names:
                array = self.net.params[shared.key]
                self.const(name, array.T if shared.transposed else array)
            return name
        key = f"{lp.label}.{name}"
        return self.const(key, self.net.params[key] if key in self.net.params else
                          self.net.buffers[key])

    def ints(self, name: str, values: list[int]) -> str:
        """An int64 initializer (shapes, axes, repeats)."""
        return self.const(name, values, np.int64)

    def node(self, op_type: str, inputs: list[str], label: str, **attrs: Any) -> None:
        """One node reading `self.inputs` then `inputs` (weights, constants); its output,
        `<label>.out`, becomes what the layer's next node reads."""
        out = f"{label}.out"
        self.nodes.append(self.onnx.helper.make_node(op_type, [*self.inputs, *inputs], [out],
                                                     name=label, **attrs))
        self.inputs = [out]


def _add_layer(g: _Graph, lp: LayerPlan) -> None:
    """Append the node(s) of one layer, as its op's descriptor maps it (`OpDef.onnx`)."""
    mapping = OPS[lp.op].onnx
    if mapping is None:
        raise DataError(f"ONNX export: no ONNX form for layer {lp.label}")
    mapping(g, lp)


def _add_nodes(g: _Graph, net: Network) -> str:
    """Every layer's nodes, in the plan's (topological) order; returns the last one's value."""
    plan = net.plan
    values = {INPUT - k: name for k, (name, _) in enumerate(plan.input_parts)} or \
        {INPUT: "input"}
    for lp in net.plan.layers:
        g.inputs = [values[j] for j in lp.inputs]
        _add_layer(g, lp)
        # A layer without a node (dropout, mse) passes its input on under the input's name.
        values[lp.index] = g.inputs[0]
    return values[net.plan.loss.index]


def _name_output(g: _Graph, final: str) -> None:
    """Rename the value `final` to "output", or add an Identity where it cannot be renamed."""
    made = [n for n in g.nodes if n.output[0] == final]
    if made and not any(final in n.input for n in g.nodes):
        made[0].output[0] = "output"
    else:  # the input itself (only identities), or a value other nodes read as well
        g.nodes.append(g.onnx.helper.make_node("Identity", [final], ["output"], name="output"))


def to_model(net: Network) -> Any:
    """The `onnx.ModelProto` of `net`, checked by `onnx.checker`."""
    onnx = _onnx()
    g = _Graph(onnx, net)
    _name_output(g, _add_nodes(g, net))
    f32, plan = onnx.TensorProto.FLOAT, net.plan
    # Token ids (`input: tokens(V)`) are int64, what Gather takes as indices and numpy's ids.
    given = onnx.TensorProto.INT64 if plan.vocab else f32  # named token inputs too
    graph = onnx.helper.make_graph(
        g.nodes, f"netc_{shown(os.path.basename(plan.path)) or 'net'}",
        [onnx.helper.make_tensor_value_info(name, given, ["batch", *shape]) for name, shape in
         plan.input_parts or (("input", plan.input_shape),)],
        [onnx.helper.make_tensor_value_info("output", f32, ["batch", plan.n_outputs])],
        g.inits)
    # Why ir_version 8: onnxruntime releases lag the onnx package; 8 is read by ort >= 1.14.
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="netc", ir_version=8)
    onnx.checker.check_model(model)
    return model


def export_onnx(net: Network, path: str | os.PathLike[str]) -> None:
    """Write `net`'s inference graph with its current weights to `path`, atomically."""
    model = to_model(net)
    target = os.fspath(path)
    data = model.SerializeToString()
    write_atomically(target, lambda f: f.write(data), what="the ONNX model")
