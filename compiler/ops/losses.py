"""The losses (DLFS-1 4.2, 5.6.3): each fuses its output activation, which `head` names."""

from __future__ import annotations

from typing import Any

from .. import spec as s
from ..descriptor import OpDef, ParamRule, Scratch, Shape, ShapeError, shown, vectors_only


def _head_onnx(onnx_name: str | None, **attrs: Any) -> Any:
    """The loss's output activation; predictions are flat rows, as predict's. A sequence's
    (n, steps, k) scores take it per step, over the last axis, before they are flattened to
    (n, steps * k); an image's are flattened first, as they always were."""
    def add(g: Any, lp: Any) -> None:
        if onnx_name and len(lp.shape) == 2:
            g.node(onnx_name, [], f"{lp.label}.per_step", **attrs)
            g.node("Flatten", [], lp.label, axis=1)
            return
        if len(lp.shape) > 1:
            g.node("Flatten", [], f"{lp.label}.flat" if onnx_name else lp.label, axis=1)
        if onnx_name:
            g.node(onnx_name, [], lp.label, **attrs)
    return add


def _classes(shapes: tuple[Shape, ...], op: Any) -> Shape:
    """softmax_ce: one vector of scores per row, or per time step of a sequence (DLFS-2's
    TimeSoftmaxWithLoss, its targets one class a step), at least two of them."""
    (x,) = shapes
    vectors_only(x, "softmax_ce", sequences=True)
    if x[0] < 2:
        raise ShapeError(f"softmax_ce needs at least 2 classes, but receives width {x[0]}",
                         hint="use sigmoid_ce for a single output unit", code="too_few_classes",
                         notes="", then=x)
    return x


def _not_images(shapes: tuple[Shape, ...], op: Any) -> Shape:
    """mse, sigmoid_ce: vectors, or sequences seen as flat rows. Not images: netc keeps those
    channel-major, `(C, batch, H, W)`, so their flat rows are no view (and targets would need
    the same layout); a flatten says which order the targets are in."""
    (x,) = shapes
    if len(x) == 3:
        raise ShapeError(f"{op.op} takes vectors or sequences per row, but receives {shown(x)} "
                         f"from {{origin}}",
                         hint=f"insert flatten before {op.op}: ... -> flatten -> {op.op}",
                         notes="shapes")
    return x


def _per_step(call: str) -> Any:
    """softmax_ce's call over rows of scores: a sequence's steps are rows of their own (the
    targets (n, steps) flat alike, `rows` counts n * steps), and the mean runs over every
    step, so the gradient's scale is divided by the steps too (DLFS-2)."""
    def render(names: dict[str, str], lp: Any) -> str:
        if len(lp.in_shape) < 2:
            return call.format_map({**names, "t": "t", "out": "out", "scale": "scale"})
        k, steps = lp.in_shape[-1], lp.in_shape[0]
        rows = {v: f"{names[v]}.reshape(-1, {k})" for v in ("x", "dx") if v in names}
        return call.format_map({**names, **rows, "t": "t.reshape(-1)",
                                "out": f"out.reshape(-1, {k})", "scale": f"scale / {steps}"})
    return render


def _negative_sampling(shapes: tuple[Shape, ...], op: Any) -> Shape:
    """ns_loss: one hidden vector per row (CBOW's context mean), over a token vocabulary."""
    (x,) = shapes
    vectors_only(x, "ns_loss")
    if op.vocab is None:
        raise ShapeError("ns_loss predicts token ids, but the input is not tokens",
                         hint="declare the input as token ids: `input: tokens, steps=2` with "
                              "data: corpus(...) or markov(...)", notes="", code="no_vocabulary")
    return x


_NS_SCRATCH = (Scratch("idx", per_row=False, shape=lambda lp: ("n", lp.attr("k") + 1),
                       dtype="int64"),
               Scratch("picked", per_row=False,
                       shape=lambda lp: ("n", lp.attr("k") + 1, lp.in_shape[-1])),
               Scratch("scores", per_row=False, shape=lambda lp: ("n", lp.attr("k") + 1)))

OPS = (
    # `rows` and `ones_k` are per-batch constants (row indices, a ones column) the passes make.
    OpDef("softmax_ce", s.SoftmaxCESpec, shape=_classes,
          forward=_per_step("softmax_ce_forward({x}, {t}, {out}, rows, ones_k)"),
          backward=_per_step("softmax_ce_backward({out}, {t}, {dx}, {scale}, rows)"),
          constants=("rows", "ones_k"), head="softmax", onnx=_head_onnx("Softmax", axis=-1),
          torch="softmax_ce({x}, {t})",
          # as written: softmax_ce(tgt[1:]) where its targets come from an input
          label=lambda lp: f"softmax_ce({lp.attr('target')})" if lp.attr("target") else
          "softmax_ce"),
    OpDef("sigmoid_ce", s.SigmoidCESpec, shape=_not_images,
          forward="sigmoid_ce_forward({x}, t, out)",
          backward="sigmoid_ce_backward(out, t, {dx}, scale)", head="sigmoid",
          torch="sigmoid_ce({x}, {t})",
          onnx=_head_onnx("Sigmoid")),
    # ns_loss predicts the hidden vector (its output vectors only score sampled words).
    OpDef("ns_loss", s.NSLossSpec, ((), ("k",)), shape=_negative_sampling,
          forward="ns_loss_forward({x}, t, {W}, {table}, {idx}, {picked}, {scores}, out, rng)",
          backward="ns_loss_backward({x}, {idx}, {picked}, {scores}, {dx}, {dW}, scale)",
          params=(ParamRule("W", lambda x, y, op: (op.vocab, x[-1]), "weight",
                            lambda x, y, op: x[-1]),),
          state=(ParamRule("table", lambda x, y, op: (op.vocab,), "zeros"),),
          scratch=_NS_SCRATCH,
          torch="ns_loss({x}, {t}, {W}, {table}, {k}, self.uniform)",
          label=lambda lp: f"ns_loss(k={lp.attr('k')}, power={lp.attr('power')})"),
    # mse predicts its input as it is: no head, and the identity in ONNX.
    OpDef("mse", s.MSESpec, shape=_not_images, forward="mse_forward({x}, t, out)",
          backward="mse_backward(out, t, {dx}, scale)", onnx=_head_onnx(None),
          torch="mse({x}, {t})"),
)
