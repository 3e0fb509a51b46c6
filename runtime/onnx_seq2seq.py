"""Runtime stage (after training): a seq2seq network as two ONNX models for step-by-step
generation, the way other tools ship translation models: the encoder, run once per question,
and one decoder step, run once per generated token.

The plan is cut where the answer enters, as the step decoder cuts it
(`compiler/stepper.decoder_nodes`): every node that depends on the `generate:` input (`tgt`)
is the decoder's, the rest the encoder's. The encoder model reads the other token
inputs (`src`) and returns every value the decoder reads from it, as `enc_<node>`. The decoder
step reads `token` (batch, 1), int64, the encoder's values, and, per recurrent layer of the
decoder, its state `h<node>` (and `c<node>` for an LSTM); it returns `output`, the next
token's probabilities (batch, vocab), and each state after the step as `h<node>.next`
(`c<node>.next`). The first step starts from the start symbol, each recurrent layer's state
from its `init=` value (returned by the encoder as well, as `init_h<node>`) or zeros, and each
cell from zeros, as the network's own decoder does; the argmax is fed back.

Node forms come from the op descriptors as in `onnx_export.py`; the recurrent layers' step
form is their descriptor's `onnx_step`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..atomic import write_atomically
from ..compiler.ops import OPS
from ..compiler.plan import INPUT
from ..compiler.stepper import decoder_nodes
from ..errors import DataError
from .onnx_export import OPSET, _add_layer, _Graph, _onnx

if TYPE_CHECKING:
    from .network import Network



def _stepped(lp: Any) -> bool:
    """A layer that carries a state from step to step (a recurrent one)."""
    return OPS[lp.op].onnx_step is not None


def split(net: Network) -> tuple[list[Any], list[Any], list[int]]:
    """(encoder layers, decoder layers, the encoder values the decoder reads), in order."""
    plan = net.plan
    if not plan.run.generate:
        raise DataError(f"{plan.path}: a step-by-step export needs a seq2seq spec with "
                        "generate: greedy(...)")
    answer, decoder = INPUT - plan.run.generate[0], decoder_nodes(plan)
    dec = [lp for lp in plan.layers if lp.index in decoder]
    enc = [lp for lp in plan.layers if lp.index not in decoder]
    context = sorted({j for lp in dec for j in lp.inputs if j not in decoder and j != answer})
    if any(j < 0 for j in context):
        raise DataError(f"{plan.path}: the decoder reads an input other than the answer "
                        "directly; a step-by-step export needs it to read encoder values")
    return enc, dec, context


def _info(onnx: Any, name: str, elem: Any, shape: tuple[Any, ...]) -> Any:
    return onnx.helper.make_tensor_value_info(name, elem, ["batch", *shape])


def _model(onnx: Any, g: _Graph, name: str, inputs: list[Any], outputs: list[Any]) -> Any:
    graph = onnx.helper.make_graph(g.nodes, name, inputs, outputs, g.inits)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="netc", ir_version=8)
    onnx.checker.check_model(model)
    return model


def _identity(g: _Graph, source: str, name: str) -> None:
    g.nodes.append(g.onnx.helper.make_node("Identity", [source], [name], name=name))


def encoder_model(net: Network) -> Any:
    """The encoder: the question's token ids -> `enc_<j>` for every value the decoder reads,
    and `init_h<i>` for each decoder layer started with `init=`."""
    onnx, plan = _onnx(), net.plan
    enc, dec, context = split(net)
    g = _Graph(onnx, net)
    answer = plan.run.generate[0]
    values = {INPUT - k: name for k, (name, _) in enumerate(plan.input_parts) if k != answer}
    for lp in enc:
        g.inputs = [values[j] for j in lp.inputs]
        _add_layer(g, lp)
        values[lp.index] = g.inputs[0]
    shapes = {lp.index: lp.shape for lp in plan.layers}
    outputs = []
    for j in context:
        _identity(g, values[j], f"enc_{j}")
        outputs.append(_info(onnx, f"enc_{j}", onnx.TensorProto.FLOAT, shapes[j]))
    for lp in dec:
        if _stepped(lp) and len(lp.inputs) > 1:
            _identity(g, values[lp.inputs[1]], f"init_h{lp.index}")
            outputs.append(_info(onnx, f"init_h{lp.index}", onnx.TensorProto.FLOAT,
                                 (lp.shape[-1],)))
    inputs = [_info(onnx, name, onnx.TensorProto.INT64, shape)
              for k, (name, shape) in enumerate(plan.input_parts) if k != answer]
    return _model(onnx, g, "netc_encoder", inputs, outputs)


def decoder_step_model(net: Network) -> Any:
    """One decoder step: token, the encoder's values, the states -> output, the next states."""
    onnx, plan = _onnx(), net.plan
    _, dec, context = split(net)
    f32 = onnx.TensorProto.FLOAT
    g = _Graph(onnx, net)
    values: dict[int, str] = {j: f"enc_{j}" for j in context}
    values[INPUT - plan.run.generate[0]] = "token"
    shapes = {lp.index: lp.shape for lp in plan.layers}
    inputs = [_info(onnx, "token", onnx.TensorProto.INT64, (1,)),
              *(_info(onnx, f"enc_{j}", f32, shapes[j]) for j in context)]
    outputs = [_info(onnx, "output", f32, (plan.vocab,))]
    for lp in dec:
        if lp.op == "steps" and lp.inputs[0] == INPUT - plan.run.generate[0]:
            values[lp.index] = "token"  # the decoder's input is one token a step
            continue
        g.inputs = [values[lp.inputs[0]]] if _stepped(lp) else [values[j] for j in lp.inputs]
        if _stepped(lp):
            # Why by the scratch: an LSTM carries a cell beside its h (its c0 buffer).
            cells = any(b.name == "c0" for b in OPS[lp.op].scratch)
            state = tuple(f"{c}{lp.index}" for c in ("h", "c")[:2 if cells else 1])
            finals = OPS[lp.op].onnx_step(g, lp, state)  # type: ignore[misc]
            for name, final in zip(state, finals, strict=True):
                inputs.append(_info(onnx, name, f32, (lp.shape[-1],)))
                _identity(g, final, f"{name}.next")
                outputs.append(_info(onnx, f"{name}.next", f32, (lp.shape[-1],)))
        else:
            _add_layer(g, lp)
        values[lp.index] = g.inputs[0]
    _identity(g, values[plan.loss.index], "output")
    return _model(onnx, g, "netc_decoder_step", inputs, outputs)


def export_steps(net: Network, path: str | os.PathLike[str]) -> tuple[str, str]:
    """Write the encoder and the decoder step beside `path` (`x.onnx` -> `x.encoder.onnx`,
    `x.decoder.onnx`), atomically; returns their paths."""
    base = os.fspath(path)
    stem = base[:-5] if base.lower().endswith(".onnx") else base
    written = []
    for part, model in (("encoder", encoder_model(net)), ("decoder", decoder_step_model(net))):
        target = f"{stem}.{part}.onnx"
        data = model.SerializeToString()
        write_atomically(target, lambda f, data=data: f.write(data), what="the ONNX model")
        written.append(target)
    return written[0], written[1]
