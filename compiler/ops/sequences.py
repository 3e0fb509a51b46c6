"""Sequence ops (DLFS-2 ch. 3-6): `embed`, the recurrent layers `rnn`, `lstm` and `gru` over
`(steps, width)` rows, `last` (a pipeline's `h.last`) and `mean` (CBOW's context average).

A recurrent layer returns every step's hidden state, `(steps, hidden)`, as DLFS-2's Time*
layers do. Its kernels keep their per-step values time-major in scratch buffers (one GEMM for
the input projection of every step, one per weight gradient). The state it carries from one
window to the next (truncated BPTT, `train: bptt=`) lives in `carried` scratch buffers, read
and written only while the passes' `stream` flag is set, so a plain `predict` or gradient
check always starts from zeros. `lstm(h, init=enc.last)` starts from a given state instead
(DLFS-2's seq2seq decoder): a second input, with its own gradient.

Gate order (columns of Wx, Wh and b) as DLFS-2: LSTM f, g, i, o; GRU z, r, h with
h' = (1 - z) h + z tanh(...). ONNX export maps them (`sequences_onnx.py`).
"""

from __future__ import annotations

from typing import Any

from .. import spec as s
from ..descriptor import OpDef, ParamRule, Scratch, Shape, ShapeError, shown
from .sequences_onnx import embed_onnx, last_onnx, mean_onnx, recurrent_onnx, recurrent_step_onnx

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _tokens(shapes: tuple[Shape, ...], op: Any) -> Shape:
    (x,) = shapes
    if op.vocab is None or len(x) != 1:
        raise ShapeError(f"embed reads token ids (batch, steps), but receives {shown(x)} from "
                         f"{{origin}}", hint="declare the input as token ids: `input: tokens` "
                         "(with data: corpus(...) or markov(...)) or `input: tokens(10000)`",
                         notes="")
    return (*x, op.dim)


def _sequence(shapes: tuple[Shape, ...], op: Any) -> Shape:
    x = shapes[0]
    if len(shapes) > 1 and shapes[1] != (op.hidden,):  # `init=`: the state it starts from
        raise ShapeError(f"{op.op}({op.hidden}) starts from a state of shape "
                         f"{shown((op.hidden,))}, but init= gives {shown(shapes[1])}",
                         hint="init= takes one state a row: pass the sequence's last step, "
                              "init=NAME.last" if len(shapes[1]) == 2 else
                              f"give it a state {op.hidden} wide (the last step of a "
                              f"{op.op}({op.hidden}), say)", notes="met")
    if len(x) != 2:
        raise ShapeError(f"{op.op} takes a sequence (steps, width) per row, but receives "
                         f"{shown(x)} from {{origin}}",
                         hint="feed it token vectors (`embed(100) -> lstm(100)`) or declare a "
                              "sequence input (`input: 35x100`)", notes="shapes")
    return (x[0], op.hidden)


def _steps_out(shapes: tuple[Shape, ...], op: Any) -> Shape:
    (x,) = shapes
    if len(x) != 2:
        what = "h.last" if op.op == "last" else "mean(axis=1)"
        raise ShapeError(f"{what} takes a sequence (steps, width) per row, but receives "
                         f"{shown(x)} from {{origin}}", hint="use it after a recurrent layer "
                         "or an embed", notes="shapes")
    return (x[1],)


def _gate_weight(source: str) -> ParamRule:
    """Wx (D, k*H) or Wh (H, k*H) with k the op's gate count; fan-in D or H (Xavier: the
    book's randn / sqrt(fan_in))."""
    def shape(x: Shape, y: Shape, op: Any) -> Shape:
        rows = x[-1] if source == "x" else y[-1]
        return (rows, GATES[op.op] * y[-1])

    def fan_in(x: Shape, y: Shape, op: Any) -> int:
        return x[-1] if source == "x" else y[-1]

    return ParamRule(f"W{source}", shape, "weight", fan_in)


def _gate_bias(x: Shape, y: Shape, op: Any) -> Shape:
    return (GATES[op.op] * y[-1],)


def _time_major(what: str, extra: int = 0) -> Scratch:
    """A per-step buffer kept time-major, (steps [+ extra], n, width): `what` is "x" (the input
    width), "h" (hidden), or "g" (the gates' columns)."""
    def shape(lp: Any) -> tuple[int | str, ...]:
        steps, hidden = lp.shape
        width = {"x": lp.in_shape[-1], "h": hidden, "g": GATES[lp.op] * hidden}[what]
        return (steps + extra, "n", width)
    return Scratch(f"{what}", per_row=False, shape=shape)


def _named(scratch: Scratch, name: str) -> Scratch:
    return Scratch(name, per_row=False, shape=scratch.shape)


def _state(name: str) -> Scratch:
    """The state carried across windows, (n, hidden)."""
    return Scratch(name, per_row=False, shape=lambda lp: ("n", lp.shape[-1]), carried=True)


_RECURRENT_PARAMS = (_gate_weight("x"), _gate_weight("h"), ParamRule("b", _gate_bias, "zeros"))
_XT, _H1, _G = _named(_time_major("x"), "xt"), _named(_time_major("h", 1), "Hs"), \
    _named(_time_major("g"), "G")
_DG = _named(_time_major("g"), "dG")


def _recurrent_label(lp: Any) -> str:
    return f"{lp.op}({lp.in_shape[-1]}, {lp.shape[-1]})"


def _starts(forward: str, backward: str, cells: str = "", *, gives_dh0: bool = False
            ) -> dict[str, Any]:
    """A recurrent layer's templates: from the carried state (`stream`), or, with `init=`, from
    its second input `s` (copied into `h0`; an LSTM's cell starts at zero, as DLFS-2's
    decoder) whose gradient `ds` is dh0 = dA_0 Wh^T, A_0 the first step's pre-activations
    (a GRU's kernel hands its own dh0 over: `gives_dh0`, the call's last argument)."""
    def fwd(names: dict[str, str], lp: Any) -> str:
        names, peek = _peeked(names, lp)
        if "p" in names:
            peek = f"peek_forward({names['p']}, {peek}, {names['b0']}, {names['pb']}); "
        if len(lp.inputs) < 2:
            return peek + forward.format_map({**names, "flag": "stream"})
        reset = f"{names[cells]}.fill(0); " if cells else ""
        return (f"{peek}np.copyto({names['h0']}, {names['s']}); {reset}"
                + forward.format_map({**names, "flag": "start"}))

    def bwd(names: dict[str, str], lp: Any) -> str:
        names, peek = _peeked(names, lp)
        call = backward.format_map(names)
        if len(lp.inputs) > 1 and gives_dh0:
            call = f"{call[:-1]}, {names['ds']})"
        elif len(lp.inputs) > 1:
            call += f"; np.matmul({names['dG']}[0], {names['Wh']}.T, out={names['ds']})"
        if "p" in names:  # the folded vector's share of dWx, and its own gradient
            call += (f"; peek_backward({names['dG']}, {names['p']}, {peek}, "
                     f"{names['dWx0']}[{lp.in_shape[-1]}:], {names['dpb']}, {names['dp']})")
        return call

    return {"forward": fwd, "backward": bwd}


def _peeked(names: dict[str, str], lp: Any) -> tuple[dict[str, str], str]:
    """With a folded peeky vector (`p`: dataflow.Flow.folds), the kernel reads the sequence
    with Wx's first rows and a bias per row `pb` = p Wx[d:] + b; returns the names so
    changed (the originals kept as `b0`, `dWx0`) and the vector's rows of Wx."""
    if "p" not in names:
        return names, ""
    d = lp.in_shape[-1]
    wx, dwx = names["Wx"], names["dWx"]
    return ({**names, "Wx": f"{wx}[:{d}]", "dWx": f"{dwx}[:{d}]", "b": names["pb"],
             "b0": names["b"], "dWx0": dwx}, f"{wx}[{d}:]")


def _flags(lp: Any) -> tuple[str, ...]:
    """`stream` (carry the state across calls), and `start` where `init=` gives the state."""
    return ("stream", "start") if len(lp.inputs) > 1 else ("stream",)


def _recurrent_torch(names: dict[str, str], lp: Any) -> str:
    """`lstm(x, Wx, Wh, b)`, and the state it starts from where `init=` gives one."""
    start = f", {names['s']}" if len(lp.inputs) > 1 else ""
    return f"{lp.op}({names['x']}, {names['Wx']}, {names['Wh']}, {names['b']}{start})"


RECURRENT = {"shape": _sequence, "sets_width": True, "params": _RECURRENT_PARAMS,
             "torch": _recurrent_torch,
             "constants": _flags, "label": _recurrent_label, "onnx": recurrent_onnx,
             "onnx_step": recurrent_step_onnx, "stepwise": True, "peeky": True}


def _per_row(name: str) -> Scratch:
    """A folded peeky vector's bias per row, or its gradient, (n, kH)."""
    return Scratch(name, per_row=False, shape=lambda lp: ("n", GATES[lp.op] * lp.shape[-1]),
                   needed=lambda lp: lp.attr("peek") is not None)


_PEEK = (_per_row("pb"), _per_row("dpb"))

OPS = (
    OpDef("embed", s.EmbedSpec, ((), ("dim",)), shape=_tokens, sets_width=True, stepwise=True,
          forward="embed_forward({x}, {W}, {y})",
          backward="embed_backward({dy}, {x}, {dW})",
          params=(ParamRule("W", lambda x, y, op: (op.vocab, op.dim), "weight",
                            lambda x, y, op: op.dim),),
          label=lambda lp: f"embed({lp.attr('vocab')}, {lp.shape[-1]})",
          onnx=embed_onnx, torch="{W}[{x}]"),
    OpDef("rnn", s.RNNSpec, ((), ("hidden",)), **RECURRENT,
          **_starts("rnn_forward({x}, {Wx}, {Wh}, {b}, {y}, {h0}, {flag}, {xt}, {Hs})",
                    "rnn_backward({dy}, {Wx}, {Wh}, {xt}, {Hs}, {dx}, {dWx}, {dWh}, {db}, {dG})"),
          scratch=(_state("h0"), _XT, _H1, _named(_time_major("h"), "dG"), *_PEEK)),
    OpDef("lstm", s.LSTMSpec, ((), ("hidden",)), **RECURRENT,
          **_starts("lstm_forward({x}, {Wx}, {Wh}, {b}, {y}, {h0}, {c0}, {flag}, {xt}, {G}, "
                    "{Hs}, {Cs}, {Tc})",
                    "lstm_backward({dy}, {Wx}, {Wh}, {xt}, {G}, {Hs}, {Cs}, {Tc}, {dx}, {dWx}, "
                    "{dWh}, {db}, {dG})", cells="c0"),
          scratch=(_state("h0"), _state("c0"), _XT, _G, _H1, _named(_time_major("h", 1), "Cs"),
                   _named(_time_major("h"), "Tc"), _DG, *_PEEK)),
    OpDef("gru", s.GRUSpec, ((), ("hidden",)), **RECURRENT,
          **_starts("gru_forward({x}, {Wx}, {Wh}, {b}, {y}, {h0}, {flag}, {xt}, {G}, {Hs}, "
                    "{G2})",
                    "gru_backward({dy}, {Wx}, {Wh}, {xt}, {G}, {Hs}, {dx}, {dWx}, {dWh}, {db}, "
                    "{dG}, {G2})", gives_dh0=True),
          scratch=(_state("h0"), _XT, _G, _H1, _DG, _named(_time_major("h"), "G2"), *_PEEK)),
    OpDef("last", s.LastSpec, shape=_steps_out, forward="last_forward({x}, {y})",
          backward="last_backward({dy}, {dx})", onnx=last_onnx, torch="{x}[:, -1]"),
    OpDef("mean", s.MeanSpec, ((), ("axis",)), shape=_steps_out,
          forward="seq_mean_forward({x}, {y})", backward="seq_mean_backward({dy}, {dx})",
          onnx=mean_onnx, torch="{x}.mean(1)"),
)
