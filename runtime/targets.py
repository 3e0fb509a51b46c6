"""Runtime boundary checks: user arrays -> arrays the generated code can take, or a `DataError`.

Inputs and targets are cast once here (to the network's dtype; labels to integer indices),
so nothing inside a step converts or upcasts. A mismatch names the data source and the spec
location of the layer that fixes the expected shape. Targets are range-checked for their loss
(labels in range, one-hot rows that sum to 1, sigmoid targets in [0, 1]): one pass over the
targets per call, never per step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import DataError
from ..terminal import printable
from .tokens import token_ids


def _where(net: Any, index: int) -> str:
    layer = net.plan.layers[index]
    return f"{layer.op} at {net.plan.path}:{layer.where}" if layer.span else layer.label


def _prefix(source: str | None) -> str:
    return f"{source}: " if source else ""


def _side_by_side(named: Mapping[str, Any], net: Any, source: str | None) -> NDArray:
    """`{"a": A, "b": B}` for `input: a: ..., b: ...`: each sample's inputs side by side in
    one row, in the order the spec declares them (the layout the passes read)."""
    parts = net.plan.input_parts
    if not parts:
        raise DataError(f"{_prefix(source)}the network has one input: pass one array, not "
                        f"inputs by name ({', '.join(map(str, named))})")
    names = [name for name, _ in parts]
    if sorted(map(str, named)) != sorted(names):
        raise DataError(f"{_prefix(source)}the network's inputs are {', '.join(names)}, "
                        f"but the data names {', '.join(map(str, named)) or 'none'}")
    arrays = []
    for name, shape in parts:
        a = np.asarray(named[name])
        a = a.reshape(len(a), -1) if a.ndim else a.reshape(1, 1)
        width = int(np.prod(shape))
        if a.shape[1] != width or len(a) != len(arrays[0] if arrays else a):
            raise DataError(f"{_prefix(source)}input '{name}' has shape {a.shape}, but the "
                            f"network takes {width} values per sample for it, for every "
                            "sample of the other inputs")
        arrays.append(a)
    return np.concatenate(arrays, axis=1)


def as_inputs(x: ArrayLike, net: Any, source: str | None = None, *,
              finite: bool = True) -> NDArray:
    """(n, features) in the network's dtype; images (n, C, H, W) are flattened (`_rows`).

    uint8 inputs are raw pixels: scaled as training on the network's data scales them, or
    refused (`raw_pixels`). With `finite`, a NaN or an infinity is a `DataError` naming the
    sample. `fit` passes False: the trainer finds them lazily, when they first make the loss
    non-finite.
    """
    if isinstance(x, Mapping):
        x = _side_by_side(x, net, source)
    if net.plan.vocab:
        if np.ndim(x) == 1 and net.plan.input_width > 1:
            raise DataError(f"{_prefix(source)}inputs are one sequence of {np.size(x):,} token "
                            f"ids, but the network takes rows of {net.plan.input_width}\n  "
                            "hint: to train a language model on a corpus, stream it: "
                            "`train: bptt=35` in the spec, or fit(ids, bptt=35)")
        return token_ids(x, net.plan.vocab, net.plan.input_width, f"{_prefix(source)}inputs")
    try:
        x = np.asarray(x)
        if x.dtype == np.uint8:
            x = raw_pixels(x, net, source)
        over = too_large(x, net.dtype)
        if over is not None:
            raise DataError(
                f"{_prefix(source)}value {over[1]:g} of sample {over[0]} does not fit "
                f"{net.dtype} (at most {float(np.finfo(net.dtype).max):.4g} in size); rescale "
                "the data, or use dtype float64")
        x = np.asarray(x, dtype=net.dtype)
    except (TypeError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{_prefix(source)}inputs are not numeric arrays ({e})") from None
    x = _rows(x, net, source)
    if finite:
        _check_finite(x, "inputs", source)
    return x


def _rows(x: NDArray, net: Any, source: str | None) -> NDArray:
    """`x` as (samples, values): images (N, C, H, W), and (N, H, W) read as one channel,
    flattened in (c, h, w) order, the order of the passes' rows (and of PyTorch's NCHW)."""
    image = image_input(net.plan)
    if image and x.ndim > 2:
        wrong = image_mismatch(x.shape[1:], image, f"{_prefix(source)}the inputs hold")
        if wrong:
            raise DataError(wrong)
    if x.ndim == 1 and (net.plan.input_width == 1 or x.size == 0):
        x = x.reshape(-1, net.plan.input_width)
    elif x.ndim > 2:
        x = x.reshape(len(x), int(np.prod(x.shape[1:])))  # not -1: that fails for 0 samples
    if x.ndim != 2:
        raise DataError(f"{_prefix(source)}inputs must be a 2-D array (samples, features), "
                        f"got shape {x.shape}")
    if x.shape[1] != net.plan.input_width:
        images = f", images {_dims(image, 'x')}" if image else ""
        raise DataError(
            f"{_prefix(source)}the data has {x.shape[1]} features per sample, but the network "
            f"takes {net.plan.input_width} (the input of {_where(net, 0)}{images})"
            + _spiral_hint(source, net.plan.input_width))
    return x


def image_input(plan: Any) -> tuple[int, int, int] | None:
    """(C, H, W) when the network's one input is an image (`input: 1x28x28`), else None."""
    shape = plan.input_shape
    return (shape[0], shape[1], shape[2]) if len(shape) == 3 and not plan.input_parts else None


def image_mismatch(sample: tuple[int, ...], image: tuple[int, int, int],
                   subject: str) -> str | None:
    """Why samples of shape `sample` (one sample, no N) are not images of the spec's input
    `image` (C, H, W), in words that begin with `subject` ("x_train holds"), with the fix;
    None when they are: (C, H, W), (H, W) for one channel, or C*H*W values in a row."""
    c, h, w = image
    if sample in (image, (c * h * w,)) or (c == 1 and sample == (h, w)):
        return None
    spec = _dims(image, "x")
    if len(sample) == 1:
        return (f"{subject} {sample[0]} values per sample, but the spec's input {spec} "
                f"takes {c * h * w} (pass (N, {c}, {h}, {w}) images or (N, {c * h * w}) rows)")
    if sample == (h, w, c):  # Why: TensorFlow/PIL order; flattening it would scramble pixels
        return (f"{subject} (N, {_dims(sample)}) images with the channels last, but the "
                f"spec's input {spec} is channels first: transpose them to (N, {c}, {h}, {w}) "
                "with x.transpose(0, 3, 1, 2)")
    if len(sample) > 3:
        return (f"{subject} samples of shape ({_dims(sample)}), but the spec's input is "
                f"{spec}: pass (N, {c}, {h}, {w}) images or (N, {c * h * w}) rows")
    held = sample if len(sample) == 3 else (1, *sample)
    one = " (one channel)" if len(sample) == 2 else ""
    return (f"{subject} (N, {_dims(sample)}) images{one}, but the spec's input is {spec}: "
            f"write `input: {_dims(held, 'x')}`")


def _dims(shape: tuple[int, ...], sep: str = ", ") -> str:
    return sep.join(map(str, shape))


def raw_pixels(x: NDArray, net: Any, source: str | None) -> NDArray:
    """uint8 `x` scaled exactly as training on the network's `data:` scales its pixels
    (MNIST: float64(v / 255) rounded once to the network's dtype), or a `DataError` saying
    how the network expects its inputs.

    Why refuse rather than cast: the values 0-255 given to a network trained on [0, 1]
    saturate every unit and every answer comes out 100 % confident, silently wrong; and
    netc cannot know how other data was scaled before training."""
    data = net.plan.run.data
    if data == "mnist":
        from .data.mnist import pixels  # Why here: only uint8 inputs need it

        return pixels(x, net.dtype)
    raise DataError(
        f"{_prefix(source)}the inputs are uint8 (raw pixels?), but netc scales raw pixels only "
        f"for a spec with `data: mnist` (this spec's data is {printable(data)})\n"
        "  hint: pass floats scaled as the training data was, e.g. x / 255 for pixels "
        "trained in [0, 1]")


def _spiral_hint(source: str | None, width: int) -> str:
    """Why: without `data:` netc trains on the 2-feature spiral, and a 784-wide MNIST spec
    then fails with a width error that does not say the `data:` line is what is missing."""
    if source != "spiral":
        return ""
    from ..rules import missing_data_hint  # the one wording, `netc check`'s lint gives it too

    return f"\n  hint: {missing_data_hint(width)}"


def too_large(x: NDArray, dtype: Any) -> tuple[int, float] | None:
    """(row, value) of the first finite value of a wider float array that `dtype` cannot hold,
    or None. Why: the cast would make it an infinity (and a NumPy warning), reported later as
    a NaN loss far from its cause."""
    big = float(np.finfo(dtype).max)
    if x.dtype.kind != "f" or x.dtype.itemsize <= np.dtype(dtype).itemsize or not x.size:
        return None
    flat = x.reshape(len(x), -1)
    with np.errstate(invalid="ignore"):
        hit = (np.abs(flat) > big) & np.isfinite(flat)  # NaN and inf have their own message
    if not hit.any():
        return None
    row = int(hit.any(axis=1).argmax())
    return row, float(flat[row][hit[row]][0])


def _check_finite(a: NDArray, what: str, source: str | None) -> None:
    """The message the trainer gives for a non-finite batch (`Trainer._diverged`)."""
    ok = np.isfinite(a).all(axis=1)  # `a` is 2-D: (samples, values)
    if not ok.all():
        raise DataError(f"{_prefix(source)}{what} contain NaN or infinite values "
                        f"(sample {int(ok.argmin())})")


def as_targets(t: ArrayLike, net: Any, n: int | None, source: str | None = None) -> NDArray:
    """Targets for the loss: class indices (int64) or rows of k values (network dtype)."""
    loss, k = net.plan.loss.op, net.plan.n_outputs
    try:
        t = np.asarray(t)
    except (TypeError, ValueError) as e:  # ragged lists
        raise DataError(f"{_prefix(source)}targets are not a numeric array ({e})") from None
    if t.ndim == 0:
        raise DataError(f"{_prefix(source)}targets must be an array, one per sample; got {t!r}")
    if n is not None and len(t) != n:
        raise DataError(f"{_prefix(source)}{len(t)} targets for {n} samples")
    if t.ndim == 2 and t.shape[1] == 1 and k == 1:
        t = t[:, 0]
    steps = net.plan.loss.in_shape
    if loss == "softmax_ce" and len(steps) == 2:  # a class per time step (language models)
        return token_ids(t, steps[-1], steps[0], f"{_prefix(source)}targets")
    if loss == "ns_loss":  # one word id per row (CBOW's centre word)
        vocab = int(net.plan.loss.attr("vocab"))
        return token_ids(np.asarray(t).reshape(-1, 1) if np.ndim(t) == 1 else t, vocab, 1,
                         f"{_prefix(source)}targets")[:, 0]
    if loss == "softmax_ce" and t.ndim == 1:
        return _labels(t, k, net, source)
    if t.ndim == 1 and k == 1:
        t = t.reshape(-1, 1)
    if t.ndim != 2 or t.shape[1] != k:
        what = "class indices or one-hot rows" if loss == "softmax_ce" else "target rows"
        raise DataError(
            f"{_prefix(source)}targets have shape {t.shape}, but {_where(net, -1)} expects "
            f"{what} of width {k}")
    if not np.issubdtype(t.dtype, np.number) and t.dtype != bool:
        raise DataError(f"{_prefix(source)}targets are not numeric (dtype {t.dtype})")
    t = t.astype(net.dtype, copy=False)
    _check_finite(t, "targets", source)
    _check_range(t, loss, net, source)
    return t


def _check_range(t: NDArray, loss: str, net: Any, source: str | None) -> None:
    """Rows a probability loss can take: one-hot or probabilities summing to 1 (softmax_ce),
    each value in [0, 1] (sigmoid_ce). Why: others give a loss below its minimum that still
    trains, silently, towards something the user did not mean."""
    where = _where(net, -1)
    if loss == "sigmoid_ce":
        bad = ((t < 0) | (t > 1)).any(axis=1)
        if bad.any():
            i = int(bad.argmax())
            v = t[i][(t[i] < 0) | (t[i] > 1)][0]
            raise DataError(f"{_prefix(source)}target {v:g} of sample {i} is outside [0, 1]: "
                            f"{where} expects probabilities (0 or 1 for a label)")
    elif loss == "softmax_ce":
        bad = (t < 0).any(axis=1)
        if bad.any():
            i = int(bad.argmax())
            raise DataError(f"{_prefix(source)}the target row of sample {i} holds "
                            f"{t[i].min():g}: {where} expects one-hot rows or class "
                            "probabilities, all >= 0")
        # Why the tolerance: rows of probabilities in float32 sum to 1 only up to rounding.
        sums = t.sum(axis=1, dtype=np.float64)
        off = np.abs(sums - 1) > 1e-6 + t.shape[1] * np.finfo(t.dtype).eps
        if off.any():
            i = int(off.argmax())
            raise DataError(f"{_prefix(source)}the target row of sample {i} sums to "
                            f"{sums[i]:g}, not 1: {where} expects one-hot rows or class "
                            "probabilities")


def _labels(t: NDArray, k: int, net: Any, source: str | None) -> NDArray:
    if not np.issubdtype(t.dtype, np.integer):
        if not np.issubdtype(t.dtype, np.floating) or not _whole(t):
            raise DataError(f"{_prefix(source)}class labels must be whole numbers")
    if t.size and (t.min() < 0 or t.max() >= k):
        # Why from `t`, not the int64 copy: a uint64 label above 2**63 would read as negative.
        bad = t.max() if t.max() >= k else t.min()
        raise DataError(
            f"{_prefix(source)}label {int(bad)} is out of range: {_where(net, -1)} has {k} "
            f"classes (labels 0 to {k - 1})")
    return t.astype(np.int64, copy=False)


def _whole(t: NDArray) -> bool:
    with np.errstate(invalid="ignore"):  # NaN and inf are not whole; no RuntimeWarning
        return bool(np.all(np.mod(t, 1) == 0))
