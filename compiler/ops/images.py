"""Image ops (DLFS-1 ch. 7): `conv`, `pool` and `global_avg_pool`, over rows that are images
`(channels, height, width)`.

Sizes follow the book: out = (in + 2 * pad - size) / stride + 1. A conv whose windows do not
tile its input exactly is an error that shows the formula and the fix (the book asks for
sizes that divide; a silently dropped edge row is a bug found late); pooling rounds down,
as DLFS-1's `Pooling` and PyTorch's `MaxPool2d` do. In the generated passes an image is
channel-major, `(C, n, H, W)` (see `nodecode.rows`), so a conv is one GEMM over im2col
columns whose product is already its output; parameters keep DLFS-1's and PyTorch's layout.
"""

from __future__ import annotations

from typing import Any

from .. import spec as s
from ..descriptor import OpDef, ParamRule, Scratch, Shape, ShapeError, shown


def _image(x: Shape, op: str) -> None:
    if len(x) != 3:
        raise ShapeError(
            f"{op} takes an image (channels, height, width) per row, but receives {shown(x)} "
            f"from {{origin}}",
            hint=f"{op} reads images: place it before flatten (or global_avg_pool)",
            input_hint="give the input as an image, e.g. `input: 1x28x28`", notes="shapes")


def _call(op: Any) -> str:
    """`conv(30, 5)`, `pool(3, stride=2)`: the call as messages and the summary show it, from
    the validated spec or (`_label`) a layer's attributes."""
    get = op.attr if hasattr(op, "attr") else lambda k: getattr(op, k)
    size = _pair_text(get("size"))
    if op.op == "conv":
        extra = [f"{k}={_pair_text(get(k))}" for k, plain in (("stride", (1, 1)), ("pad", (0, 0)))
                 if get(k) != plain]
        return f"conv({', '.join([str(get('filters')), size, *extra])})"
    extra = ([] if get("stride") == get("size") else [f"stride={_pair_text(get('stride'))}"]) + \
        ([] if get("mode") == "max" else [f"mode={get('mode')}"])
    return f"pool({', '.join([size, *extra])})"


def _pair_text(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _tiles(n: int, k: int, stride: int, pad: int) -> bool:
    return n + 2 * pad >= k and (n + 2 * pad - k) % stride == 0


def _nearest(values: range, want: int, fits: Any) -> int | None:
    """The value nearest `want` (itself first) that `fits`, or None."""
    return next((v for v in sorted(values, key=lambda v: (abs(v - want), v)) if fits(v)), None)


def _fixes(x: Shape, op: Any) -> list[str]:
    """Settings near the given ones that tile both axes: a pad, stride 1, a size."""
    axes = [(x[1 + a], op.size[a], op.stride[a], op.pad[a]) for a in (0, 1)]
    pads = [_nearest(range(k + st), p, lambda q, n=n, k=k, st=st: _tiles(n, k, st, q))
            for n, k, st, p in axes]
    sizes = [_nearest(range(1, n + 2 * p + 1), k,
                      lambda q, n=n, st=st, p=p: _tiles(n, q, st, p)) for n, k, st, p in axes]
    found = []
    if None not in pads and tuple(pads) != op.pad:
        found.append(f"pad={_pair_text(tuple(pads))}")
    if op.stride != (1, 1) and all(n + 2 * p >= k for n, k, _, p in axes):
        found.append("stride=1")
    if None not in sizes and tuple(sizes) != op.size:
        found.append(f"size={_pair_text(tuple(sizes))}")
    return found


def _either(found: list[str]) -> str:
    return " or ".join(found) if len(found) < 3 else f"{found[0]}, {found[1]} or {found[2]}"


def _check_windows(x: Shape, op: Any, pad: tuple[int, int], exact: bool) -> Shape:
    """(OH, OW); a refusal where a window does not fit (or, with `exact`, where the windows
    do not tile the input), with the formula and settings that work on both axes."""
    axes = [(x[1 + a], op.size[a], op.stride[a], pad[a], what)
            for a, what in enumerate(("rows", "columns"))]
    for n, k, _, p, what in axes:
        if n + 2 * p < k:
            raise ShapeError(
                f"{_call(op)} needs at least {k} {what} but receives {n}"
                f"{f' (with pad={p})' if p else ''} from {{origin}}",
                hint=f"use {_either(_fixes(x, op))}" if op.op == "conv" else
                "use a smaller window, or remove an earlier pool",
                code="kernel_too_large", notes="shapes")
    for n, k, step, p, what in axes:
        if exact and (n + 2 * p - k) % step:
            raise ShapeError(
                f"{_call(op)} makes ({n} - {k} + {2 * p}) / {step} + 1 = "
                f"{(n + 2 * p - k) / step + 1:g} {what}",
                hint=f"use {_either(_fixes(x, op))}", code="conv_not_exact", notes="shapes")
    return tuple((n + 2 * p - k) // step + 1 for n, k, step, p, _ in axes)


def conv_shape(shapes: tuple[Shape, ...], op: Any) -> Shape:
    """(C, H, W) -> (filters, OH, OW)."""
    (x,) = shapes
    _image(x, "conv")
    return (op.filters, *_check_windows(x, op, op.pad, exact=True))


def pool_shape(shapes: tuple[Shape, ...], op: Any) -> Shape:
    """(C, H, W) -> (C, OH, OW), rounding down."""
    (x,) = shapes
    _image(x, "pool")
    return (x[0], *_check_windows(x, op, (0, 0), exact=False))


def global_avg_pool_shape(shapes: tuple[Shape, ...], op: Any) -> Shape:
    """(C, H, W) -> (C,)."""
    (x,) = shapes
    _image(x, "global_avg_pool")
    return (x[0],)


def _kernel(x: Shape, y: Shape, op: Any) -> Shape:
    return (op.filters, x[0], *op.size)


def _fan_in(x: Shape, y: Shape, op: Any) -> int:
    # Why: He/Xavier scale by what one output sums over, channels x kernel (DLFS-1's TODO).
    return x[0] * op.size[0] * op.size[1]


def _stride1(lp: Any) -> bool:
    """Whether backward forms dx as a correlation (conv_backward_stride1): stride 1, a pad
    below the kernel size (the gradient's zero border k - 1 - pad is not negative), and no
    more filters than channels. Why the last: its columns have a row per filter, the
    col2im's a row per channel; measured on DeepConvNet's shapes, it is 1.2-1.3x faster at
    16 -> 16 and 0.87x at 16 -> 32."""
    (kh, kw), (ph, pw) = lp.attr("size"), lp.attr("pad")
    return (lp.attr("stride") == (1, 1) and ph < kh and pw < kw and
            lp.shape[0] <= lp.in_shape[0])


def _columns(lp: Any) -> tuple[int | str, ...]:
    """im2col columns per image: row (c, i, j) holds, for every output position, the value
    its window sees at (i, j) of channel c. With stride 1 the same buffer then holds the
    gradient's columns in backward, (filters * kh * kw) rows of H * W: the larger of the two."""
    kh, kw = lp.attr("size")
    forward = lp.in_shape[0] * kh * kw * lp.shape[1] * lp.shape[2]
    backward = lp.shape[0] * kh * kw * lp.in_shape[1] * lp.in_shape[2] if _stride1(lp) else 0
    return ("n", max(forward, backward))


def _padded(lp: Any) -> tuple[int | str, ...]:
    """The input with its zero border, (C, n, H + 2ph, W + 2pw); empty without padding."""
    (ph, pw), (c, h, w) = lp.attr("pad"), lp.in_shape
    return (c, "n", h + 2 * ph, w + 2 * pw) if ph or pw else (0,)


def _gradient_padded(lp: Any) -> tuple[int | str, ...]:
    """conv_backward_stride1's gradient with its zero border k - 1 - pad; empty where that
    border is 0 or the other backward runs."""
    (kh, kw), (ph, pw), (f, oh, ow) = lp.attr("size"), lp.attr("pad"), lp.shape
    qh, qw = kh - 1 - ph, kw - 1 - pw
    return (f, "n", oh + 2 * qh, ow + 2 * qw) if _stride1(lp) and (qh or qw) else (0,)


def _conv_backward(names: dict[str, str], lp: Any) -> str:
    args = "{dy}, {col}, {W}, {dx}, {dW}, {db}".format_map(names)
    if _stride1(lp):
        return f"conv_backward_stride1({args}, {names['gpad']}, {names['pad']})"
    return f"conv_backward({args}, {names['xpad']}, {names['stride']}, {names['pad']})"


def _halves(lp: Any) -> bool:
    """Whether a pool runs as pool2_forward/backward: 2x2 max windows that tile the input
    (DLFS's pool after every conv stage). Measured on SimpleConvNet's (30, 100, 24, 24)
    relu outputs, one thread: forward 4.6 ms against the general slab loop's 2.0 (it also
    records the winners), backward 2.6 against 8.1 (no comparisons): 1.27x together."""
    _, h, w = lp.in_shape
    return (lp.attr("size") == lp.attr("stride") == (2, 2) and lp.attr("mode") == "max" and
            h % 2 == 0 and w % 2 == 0)


def _pool_call(kind: str) -> Any:
    def call(names: dict[str, str], lp: Any) -> str:
        if _halves(lp):
            return ("pool2_forward({x}, {y}, {lower}, {right})" if kind == "forward" else
                    "pool2_backward({dy}, {lower}, {right}, {dx})").format_map(names)
        return ("pool_forward({x}, {y}, {size}, {stride}, {mode})" if kind == "forward" else
                "pool_backward({dy}, {x}, {y}, {dx}, {size}, {stride}, {mode})"
                ).format_map(names)
    return call


def _lower(lp: Any) -> tuple[int | str, ...]:
    """pool2's row winners, one per column of each pair of rows: (C, n, H/2, W); empty
    otherwise."""
    c, h, w = lp.in_shape
    return (c, "n", h // 2, w) if _halves(lp) else (0,)


def _right(lp: Any) -> tuple[int | str, ...]:
    """pool2's column winners, one per window: (C, n, H/2, W/2); empty otherwise."""
    c, h, w = lp.in_shape
    return (c, "n", h // 2, w // 2) if _halves(lp) else (0,)


def _conv_onnx(g: Any, lp: Any) -> None:
    (ph, pw) = lp.attr("pad")
    g.node("Conv", [g.param(lp, "W"), g.param(lp, "b")], lp.label,
           kernel_shape=list(lp.attr("size")), strides=list(lp.attr("stride")),
           pads=[ph, pw, ph, pw])


def _pool_onnx(g: Any, lp: Any) -> None:
    kind = "MaxPool" if lp.attr("mode") == "max" else "AveragePool"
    g.node(kind, [], lp.label, kernel_shape=list(lp.attr("size")),
           strides=list(lp.attr("stride")))


def _global_avg_pool_onnx(g: Any, lp: Any) -> None:
    # GlobalAveragePool keeps (N, C, 1, 1); netc's rows are (C,), as a following Gemm reads.
    g.node("GlobalAveragePool", [], f"{lp.label}.pool")
    g.node("Flatten", [], lp.label, axis=1)


def _pool_torch(names: dict[str, str], lp: Any) -> str:
    kind = "max" if lp.attr("mode") == "max" else "avg"
    return f"torch.nn.functional.{kind}_pool2d({names['x']}, {names['size']}, {names['stride']})"


OPS = (
    OpDef("conv", s.ConvSpec, ((), ("filters",), ("filters", "size")), shape=conv_shape,
          sets_width=True,
          forward="conv_forward({x}, {W}, {b}, {y}, {col}, {xpad}, {stride}, {pad})",
          backward=_conv_backward,
          params=(ParamRule("W", _kernel, "weight", _fan_in),
                  ParamRule("b", lambda x, y, op: (op.filters,), "zeros")),
          # Why one padded buffer for both passes: backward (stride above 1) sums the
          # columns' gradient into it, as forward reads the input through it (forward zeroes
          # its border again).
          scratch=(Scratch("col", shape=_columns), Scratch("xpad", shape=_padded),
                   Scratch("gpad", shape=_gradient_padded)),
          onnx=_conv_onnx, label=_call,
          torch="torch.nn.functional.conv2d({x}, {W}, {b}, {stride}, {pad})"),
    OpDef("pool", s.PoolSpec, ((), ("size",)), shape=pool_shape, sets_width=True,
          forward=_pool_call("forward"), backward=_pool_call("backward"), needs_output=True,
          scratch=(Scratch("lower", shape=_lower, dtype="bool_"),
                   Scratch("right", shape=_right, dtype="bool_")),
          onnx=_pool_onnx, label=_call, torch=_pool_torch),
    OpDef("global_avg_pool", s.GlobalAvgPoolSpec, shape=global_avg_pool_shape, sets_width=True,
          forward="global_avg_pool_forward({x}, {y})",
          backward="global_avg_pool_backward({dy}, {dx})",
          onnx=_global_avg_pool_onnx, torch="{x}.mean((2, 3))"),
)
