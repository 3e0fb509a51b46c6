"""Runtime stage (after build/train): a `Network` -> an ONNX inference graph with its weights.

The graph computes what `Network.predict` computes, in evaluation mode: dropout is left out,
batchnorm uses the running statistics, and the loss becomes its output activation (Softmax
for softmax_ce, Sigmoid for sigmoid_ce, nothing for mse). The input is named "input" with a
dynamic batch dimension ("batch", width) and the output "output". Weights are stored as
float32 initializers whatever the network's dtype. `onnx` is an optional extra, imported only
here and only when an export is asked for.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import write_atomically
from ..compiler.ops import OPS
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
    """Nodes and initializers in the making; `cur` is the name of the running activation."""

    def __init__(self, onnx: Any, net: Network) -> None:
        self.onnx, self.net = onnx, net
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.cur = "input"

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        self.inits.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def param(self, lp: LayerPlan, name: str) -> str:
        """A layer's parameter or state array as an initializer under its key."""
        key = f"{lp.label}.{name}"
        return self.const(key, self.net.params[key] if key in self.net.params else
                          self.net.buffers[key])

    def ints(self, name: str, values: list[int]) -> str:
        """An int64 initializer (shapes, axes, repeats)."""
        return self.const(name, values, np.int64)

    def node(self, op_type: str, inputs: list[str], label: str, **attrs: Any) -> None:
        out = f"{label}.out"
        self.nodes.append(self.onnx.helper.make_node(op_type, [self.cur, *inputs], [out],
                                                     name=label, **attrs))
        self.cur = out


def _add_layer(g: _Graph, lp: LayerPlan) -> None:
    """Append the node(s) of one layer, as its op's descriptor maps it (`OpDef.onnx`)."""
    mapping = OPS[lp.op].onnx
    if mapping is None:
        raise DataError(f"ONNX export: no ONNX form for layer {lp.label}")
    mapping(g, lp)


def to_model(net: Network) -> Any:
    """The `onnx.ModelProto` of `net`, checked by `onnx.checker`."""
    onnx = _onnx()
    g = _Graph(onnx, net)
    for lp in net.plan.layers:
        _add_layer(g, lp)
    if g.nodes and g.nodes[-1].output[0] == g.cur:
        g.nodes[-1].output[0] = "output"
    else:  # nothing computed (only identities): ONNX still needs a node from input to output
        g.nodes.append(onnx.helper.make_node("Identity", [g.cur], ["output"], name="output"))
    f32 = onnx.TensorProto.FLOAT
    graph = onnx.helper.make_graph(
        g.nodes, f"netc_{shown(os.path.basename(net.plan.path)) or 'net'}",
        [onnx.helper.make_tensor_value_info("input", f32, ["batch", net.plan.input_width])],
        [onnx.helper.make_tensor_value_info("output", f32, ["batch", net.plan.n_outputs])],
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
