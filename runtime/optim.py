"""Runtime stage: parameter-update kernels (DLFS 1 ch. 6) and the optimizer table behind them.

Each `*_update` kernel is a self-contained top-level function that names nothing but `np` and
its own arguments, because `netc compile --emit python` copies its source verbatim into a
standalone module. Kernels update `p` and its state arrays in place and use `g` as scratch
space (gradients are recomputed before every step), so `g` holds garbage afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .. import rules


def sgd_update(p: np.ndarray, g: np.ndarray, lr: float, wd: float) -> None:
    """SGD: W <- W - lr * dL/dW."""
    if wd != 0:
        g += wd * p
    g *= lr
    p -= g


def sgd_prescaled_update(p: np.ndarray, g: np.ndarray) -> None:
    """SGD when the backward pass has already multiplied dL/dW by lr: W <- W - g.

    Why: plain SGD is the common case, and for it the learning rate can ride along in the
    loss gradient's scale (lr/n instead of 1/n) for free, leaving one pass over the
    parameters instead of two. `plan_update` picks it.
    """
    np.subtract(p, g, out=p)


def momentum_update(
    p: np.ndarray, g: np.ndarray, v: np.ndarray, lr: float, momentum: float, wd: float
) -> None:
    """Momentum: v <- momentum * v - lr * dL/dW;  W <- W + v."""
    if wd != 0:
        g += wd * p
    v *= momentum
    g *= lr
    v -= g
    p += v


def nesterov_update(
    p: np.ndarray, g: np.ndarray, v: np.ndarray, lr: float, momentum: float, wd: float
) -> None:
    """Nesterov: v <- momentum * v - lr * dL/dW;
    W <- W + momentum^2 * v - (1 + momentum) * lr * dL/dW."""
    if wd != 0:
        g += wd * p
    g *= lr
    v *= momentum
    v -= g
    # The two terms are added to p in the opposite order to DLFS so that g can hold both in
    # turn without a temporary; the sum is the same up to rounding.
    g *= 1 + momentum
    p -= g
    np.multiply(v, momentum * momentum, out=g)
    p += g


def adagrad_update(
    p: np.ndarray, g: np.ndarray, h: np.ndarray, lr: float, eps: float, wd: float
) -> None:
    """AdaGrad: h <- h + dL/dW * dL/dW;  W <- W - lr * dL/dW / (sqrt(h) + eps)."""
    if wd != 0:
        g += wd * p
    t = g * g
    h += t
    np.sqrt(h, out=t)
    t += eps
    g *= lr
    g /= t
    p -= g


def rmsprop_update(
    p: np.ndarray, g: np.ndarray, h: np.ndarray, lr: float, decay: float, eps: float, wd: float
) -> None:
    """RMSprop: h <- decay * h + (1 - decay) * dL/dW * dL/dW;
    W <- W - lr * dL/dW / (sqrt(h) + eps)."""
    if wd != 0:
        g += wd * p
    t = g * g
    t *= 1 - decay
    h *= decay
    h += t
    np.sqrt(h, out=t)
    t += eps
    g *= lr
    g /= t
    p -= g


def adam_update(
    p: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    step: int,
    wd: float,
) -> None:
    """Adam (step = t, 1-based): lr_t <- lr * sqrt(1 - beta2^t) / (1 - beta1^t);
    m <- m + (1 - beta1) * (dL/dW - m);  v <- v + (1 - beta2) * (dL/dW^2 - v);
    W <- W - lr_t * m / (sqrt(v) + eps)."""
    if wd != 0:
        g += wd * p
    # Plain Python arithmetic keeps lr_t a weak scalar, so float32 arrays stay float32.
    lr_t = lr * (1.0 - beta2**step) ** 0.5 / (1.0 - beta1**step)
    t = g - m
    t *= 1 - beta1
    m += t
    np.multiply(g, g, out=g)
    g -= v
    g *= 1 - beta2
    v += g
    np.sqrt(v, out=g)
    g += eps
    np.multiply(m, lr_t, out=t)
    t /= g
    p -= t


@dataclass(frozen=True)
class OptimizerInfo:
    """How the compiler and CLI call one optimizer's kernel.

    Kernel arguments are `p, g, *state, *hyper-without-wd, [step,] wd`.
    """

    name: str
    kernel: Callable[..., None]
    state: tuple[str, ...]
    counts_steps: bool
    description: str

    @property
    def hyper(self) -> tuple[tuple[str, float], ...]:
        """(name, default) in kernel order, from the shared rules (`netc/rules.py`)."""
        return tuple((r.name, float(r.default)) for r in rules.OPTIMIZERS[self.name])


OPTIMIZERS: dict[str, OptimizerInfo] = {
    info.name: info
    for info in (
        OptimizerInfo(
            "sgd", sgd_update, (), False,
            "stochastic gradient descent: W -= lr * dW",
        ),
        OptimizerInfo(
            "momentum", momentum_update, ("v",), False,
            "momentum SGD: v = momentum*v - lr*dW; W += v",
        ),
        OptimizerInfo(
            "nesterov", nesterov_update, ("v",), False,
            "Nesterov accelerated gradient (DLFS form of momentum with look-ahead)",
        ),
        OptimizerInfo(
            "adagrad", adagrad_update, ("h",), False,
            "AdaGrad: per-weight learning rate shrinking with the summed squared gradient",
        ),
        OptimizerInfo(
            "rmsprop", rmsprop_update, ("h",), False,
            "RMSprop: AdaGrad with an exponentially decaying squared-gradient average",
        ),
        OptimizerInfo(
            "adam", adam_update, ("m", "v"), True,
            "Adam: momentum plus RMSprop scaling, with bias correction",
        ),
    )
}


class Optimizer:
    """Interpreted use of the kernels: `Optimizer("adam", lr=1e-3).update(params, grads)`.

    Each `update` uses the gradients as scratch space; they hold garbage afterwards.
    """

    def __init__(self, name: str, **hyper: float) -> None:
        # Why the shared checker: `lr=nan` or `beta1=1` would make every update NaN or
        # divide by zero; the spec, the CLI and `fit` refuse them with the same rules.
        self.hyper: dict[str, float] = rules.optimizer_values(name, hyper)
        self.name = name
        self.info = OPTIMIZERS[name]
        self.step = 0
        self.state: dict[str, dict[str, np.ndarray]] = {s: {} for s in self.info.state}

    def update(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """One step over every parameter, in `params` order; allocates state on first sight."""
        self.step += 1
        hyper = [v for k, v in self.hyper.items() if k != "wd"]
        tail = [self.step, self.hyper["wd"]] if self.info.counts_steps else [self.hyper["wd"]]
        for key, p in params.items():
            state = [self._state_for(s, key, p) for s in self.info.state]
            self.info.kernel(p, grads[key], *state, *hyper, *tail)

    def _state_for(self, name: str, key: str, p: np.ndarray) -> np.ndarray:
        arrays = self.state[name]
        if key not in arrays:
            arrays[key] = np.zeros_like(p)
        elif arrays[key].shape != p.shape:
            raise ValueError(
                f"optimizer state {name}/{key} has shape {arrays[key].shape}, "
                f"but the parameter has shape {p.shape}"
            )
        return arrays[key]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat copy: `"<state>/<param key>"` arrays plus `"step"` as a 0-d int64 array."""
        out = {f"{s}/{k}": a.copy() for s, arrays in self.state.items() for k, a in arrays.items()}
        out["step"] = np.array(self.step, dtype=np.int64)
        return out

    def load_state_dict(self, d: Mapping[str, np.ndarray]) -> None:
        """Replace step count and state with copies of those in `d` (from `state_dict`)."""
        if "step" not in d:
            raise ValueError("optimizer state has no 'step' entry")
        state: dict[str, dict[str, np.ndarray]] = {s: {} for s in self.info.state}
        for full_key, array in d.items():
            if full_key == "step":
                continue
            name, sep, key = full_key.partition("/")
            if not sep or name not in state:
                raise ValueError(
                    f"optimizer state entry {full_key!r} does not belong to {self.name!r} "
                    f"(expected 'step' or keys starting with "
                    f"{', '.join(s + '/' for s in self.info.state) or 'nothing else'})"
                )
            state[name][key] = np.array(array, copy=True)
        self.step = int(d["step"])
        self.state = state


@dataclass(frozen=True)
class UpdatePlan:
    """The update the trainer generates: kernel, its state and hyper-parameters, and the
    factor the backward pass must fold into the loss gradient (1 unless the kernel expects
    gradients already multiplied by the learning rate)."""

    kernel: Callable[..., None]
    state: tuple[str, ...]
    hyper: tuple[float, ...]
    counts_steps: bool
    grad_scale: float


def hyper_values(info: OptimizerInfo, lr: float | None, given: Mapping[str, float],
                 others: Iterable[str] = ()) -> dict[str, float]:
    """Every hyper-parameter of `info`: its defaults, then `given` (`weight_decay` is `wd`),
    then `lr` when not None, each checked by the shared rules (`netc/rules.py`).

    Raises ValueError naming an unknown one (suggesting the closest of the hyper-parameters
    and `others`) or one out of range, TypeError for one that is not a number: nothing
    non-finite reaches the generated update.
    """
    given = dict(given)
    if lr is not None:
        given.pop("lr", None)
        given["lr"] = lr
    return rules.optimizer_values(info.name, given, others)


def plan_update(info: OptimizerInfo, hyper: Mapping[str, float]) -> UpdatePlan:
    """How to run `info` with these settings (values in `info.hyper` order, wd last)."""
    if info.kernel is sgd_update and hyper.get("wd", 0.0) == 0.0:
        return UpdatePlan(sgd_prescaled_update, (), (), False, float(hyper["lr"]))
    return UpdatePlan(info.kernel, info.state, tuple(float(v) for v in hyper.values()),
                      info.counts_steps, 1.0)


def clip_norm(g: np.ndarray, limit: float) -> float:
    """Scale the flat gradient `g` down to global norm `limit` when it is larger (DLFS-2's
    `clip_grads`, `train: clip=`); returns the norm before. Why on the flat buffer: every
    parameter's gradient is a view of it, so the global norm is one dot product."""
    norm = math.sqrt(float(np.vdot(g, g)))
    if norm > limit:
        g *= limit / (norm + 1e-6)
    return norm
