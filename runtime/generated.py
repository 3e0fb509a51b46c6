"""Runtime stage 6b: turn generated source into callable passes, and into standalone modules.

`load_passes` compiles the source `compiler.codegen` wrote against the kernels in
`kernels.py` and `optim.py`; `standalone_module` prepends the source of exactly the kernels
that code uses, so the result imports only numpy.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import linecache
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ..compiler.codegen import header, passes_source, step_source
from ..compiler.ops import OPS
from ..compiler.plan import NetPlan
from . import kernels, optim
from .fitsettings import WEIGHTS
from .initializers import _scheme_std

_KERNELS: dict[str, Callable[..., Any]] = {
    **kernels.KERNELS, **{i.kernel.__name__: i.kernel for i in optim.OPTIMIZERS.values()},
    optim.sgd_prescaled_update.__name__: optim.sgd_prescaled_update}


def _kernels() -> dict[str, Callable[..., Any]]:
    """netc's kernels and those of ops registered from outside (`OpDef.kernels`)."""
    extra = {f.__name__: f for op in OPS.values() for f in op.kernels}
    return {**_KERNELS, **extra} if extra else _KERNELS


def load(source: str, name: str, **extra: Any) -> dict[str, Any]:
    """Compile `source` with the kernels in scope; return its namespace.

    Why linecache: a traceback through generated code then shows the generated line.
    """
    digest = hashlib.sha1(source.encode()).hexdigest()[:10]
    filename = f"<netc generated {digest}: {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"np": np, **_kernels(), **extra}
    exec(_compiled(source, filename), namespace)  # noqa: S102 - our own generated code
    return namespace


@functools.lru_cache(maxsize=64)
def _compiled(source: str, filename: str) -> Any:
    # Why cached: `fit` generates the same optimizer step for every call with equal settings.
    return compile(source, filename, "exec")


def bind_update(plan: NetPlan, update: optim.UpdatePlan, params: np.ndarray,
                grads: np.ndarray, state: list[np.ndarray]) -> Callable[[int], None]:
    """The generated optimizer step over the flat buffers, as `step(t)` (t: the step count)."""
    source = step_source(plan, update.kernel.__name__, update.state, list(update.hyper),
                         update.counts_steps)
    return load(source, plan.path)["bind_step"](params, grads, *state)


def used_kernels(source: str) -> list[str]:
    """The kernel names a generated source calls, in first-use order."""
    seen: dict[str, None] = {}
    known = _kernels()
    for m in re.finditer(r"\b([a-z_][a-z0-9_]*)\(", source):
        if m.group(1) in known:
            seen.setdefault(m.group(1))
    return list(seen)


def standalone_module(plan: NetPlan, extra: str = "") -> str:
    """A module that imports only numpy and the standard library: kernels, `bind`, the
    optimizer step of the spec's `optimizer:`, and a `Net` that predicts and trains.

    Why the same generated step and the same order of random draws as `build` and `Trainer`:
    the module run with the spec's settings then ends with netc's parameters, bit for bit.
    """
    info = optim.OPTIMIZERS[plan.run.optimizer]
    hyper = optim.hyper_values(info, None, dict(plan.run.hyper))
    fit = {"subset": 0, "validation_split": 0.0, "wd_all": 0, **dict(plan.run.fit)}
    # Why wd=0 in the kernel by default: netc decays the weights only (the Trainer's
    # `_rebind`), added to the gradients before the step; the kernel would decay them all.
    masked = bool(hyper.get("wd")) and not fit["wd_all"]
    update = optim.plan_update(info, {**hyper, "wd": 0.0} if masked else hyper)
    step = step_source(plan, update.kernel.__name__, update.state, list(update.hyper),
                       update.counts_steps)
    code = passes_source(plan) + "\n\n" + step + extra
    kernel_src = "\n\n".join(inspect.getsource(_kernels()[k]) for k in used_kernels(code))
    params = [(p.key, p.shape) for layer in plan.layers for p in layer.params]
    inits = [(p.key, p.init if p.init in ("zeros", "ones") else "normal",
              _scheme_std(p.init, p.fan_in, p.std) if p.init not in ("zeros", "ones") else 0.0)
             for layer in plan.layers for p in layer.params]
    buffers = [(b.key, b.shape, b.init) for layer in plan.layers for b in layer.buffers]
    r = plan.run
    settings = {"optimizer": r.optimizer, "hyper": hyper, "epochs": r.epochs,
                "batch_size": r.batch_size, "seed": r.seed, "dtype": r.dtype,
                "wd_all": bool(fit["wd_all"]), "subset": int(fit["subset"]),
                "validation_split": float(fit["validation_split"])}
    return "\n".join([
        header(plan, usage=_USAGE), "from __future__ import annotations", "",
        "import argparse", "", "import numpy as np", "",
        "NDArray = np.ndarray  # the kernels' annotations name it", "",
        "# ---- kernels (copied from netc.runtime) " + "-" * 40, "", kernel_src, "",
        "# ---- this network " + "-" * 60, "",
        _constant("PARAMS", params), _constant("INITS", inits), _constant("BUFFERS", buffers),
        # Why by name: netc's weight decay (unless wd_all) skips biases, gamma and beta.
        _constant("DECAYED", [k for k, _ in params if k.endswith(WEIGHTS)]),
        f"INPUT_WIDTH = {plan.input_width!r}", f"LOSS = {plan.loss.op!r}",
        # Why not the data's name: it may be a path, and no spec text enters the module.
        f"RAW_PIXELS = {plan.run.data == 'mnist'!r}  # uint8 inputs are MNIST pixels",
        f"VOCAB = {plan.vocab!r}  # inputs are token ids below this (0: features)",
        f"STATE = {tuple(update.state)!r}  # the optimizer's state arrays",
        f"UPDATE = {update.kernel.__name__}  # the kernel of `bind_step`, for other settings",
        f"COUNTS_STEPS = {update.counts_steps!r}  # the kernel takes the step count (Adam)",
        f"PRESCALED = {update.kernel is optim.sgd_prescaled_update!r}  # lr in GRAD_SCALE",
        f"GRAD_SCALE = {update.grad_scale!r}  # folded into the loss gradient (1/n times this)",
        _constant("SETTINGS", settings), "", "", code, "", _NET_CLASS, _MAIN])


def _constant(name: str, value: Any) -> str:
    """`NAME = value` with one entry per line, so no line outgrows a linter's limit."""
    if isinstance(value, dict):
        items = [f"    {k!r}: {v!r}," for k, v in value.items()]
        return "\n".join([f"{name} = {{", *items, "}"])
    return "\n".join([f"{name} = [", *[f"    {v!r}," for v in value], "]"])


_USAGE = """Usage: python net.py --data data.npz [--epochs N] [--batch-size N] [--lr X] [--seed N]
trains on an .npz holding x_train and t_train (and x_test, t_test if present) with the
spec's settings, printing the loss per epoch; `--save params.npz` keeps the result.
From Python: `Net(params)` or `Net(seed=0)`, then `net.fit(x, t)`, `net.predict(x)`.
"""


_NET_CLASS = """
class Net:
    \"\"\"Drive `bind` for any batch size: predict, and train with the spec's optimizer.

    `params`: name -> array, as in netc's `net.params`; None draws them from `seed` as
    `netc.load(spec, seed=seed)` does. The parameters live in one flat buffer, as in netc.
    \"\"\"

    def __init__(self, params=None, dtype=SETTINGS["dtype"], seed=SETTINGS["seed"]):
        self.dtype = np.dtype(dtype)
        self.flat = np.empty(sum(int(np.prod(s)) for _, s in PARAMS), self.dtype)
        self.flat_g = np.zeros_like(self.flat)
        self.P, self.G = _views(self.flat), _views(self.flat_g)
        self.rng = np.random.default_rng(seed)  # draws the init, then dropout's masks
        for key, scheme, std in INITS:
            if params is not None:
                self.P[key][...] = np.asarray(params[key], self.dtype)
            elif scheme == "normal":  # float64 draws, scaled, then cast: as netc draws them
                self.P[key].reshape(-1)[:] = self.rng.standard_normal(self.P[key].size) * std
            else:
                self.P[key].fill(1 if scheme == "ones" else 0)
        self.S = {k: (np.ones if init == "ones" else np.zeros)(s, self.dtype)
                  for k, s, init in BUFFERS}
        self._bound = {}

    def _passes(self, n):
        if n not in self._bound:
            self._bound[n] = bind(self.P, self.G, self.S, n, self.dtype, self.rng)
        return self._bound[n]

    def predict(self, x):
        x = _inputs(x, self.dtype)
        return self._passes(len(x))[3](x).copy()

    def loss(self, x, t):
        x = _inputs(x, self.dtype)
        forward, loss = self._passes(len(x))[:2]
        forward(x, False)
        return loss(self._targets(t))

    def gradients(self, x, t):
        x, t = _inputs(x, self.dtype), self._targets(t)
        forward, loss, backward = self._passes(len(x))[:3]
        forward(x, True)
        loss(t)
        backward(x, t)
        return {k: g.copy() for k, g in self.G.items()}

    def _targets(self, t):
        t = np.asarray(t)
        if LOSS == "ns_loss" or LOSS == "softmax_ce" and (t.ndim == 1 or np.issubdtype(
                t.dtype, np.integer)):
            return t.astype(np.int64)  # class indices (one per step of a sequence)
        return t.reshape(len(t), -1).astype(self.dtype)

    def fit(self, x, t, epochs=SETTINGS["epochs"], batch_size=SETTINGS["batch_size"],
            seed=SETTINGS["seed"], hyper=None, log=print):
        \"\"\"Mini-batch training, as netc's `Trainer`: a permutation per epoch from
        `default_rng(seed)`, one generated optimizer step per batch. Returns the mean batch
        loss of each epoch. `hyper` (e.g. {"lr": 0.1}) replaces the spec's values.\"\"\"
        x, t = _inputs(x, self.dtype), self._targets(t)
        x, t, val = _held_out(x, t, seed)
        step, scale = _bind_optimizer(self, hyper)
        order, losses, updates = np.random.default_rng(seed), [], 0
        for epoch in range(epochs):
            perm, total = order.permutation(len(x)), 0.0
            for start in range(0, len(x), batch_size):
                idx = perm[start:start + batch_size]
                xb, tb = x[idx], t[idx]
                forward, loss, backward = self._passes(len(idx))[:3]
                forward(xb, True)
                total += loss(tb) * len(idx)  # weighted by batch size, as netc's fit
                backward(xb, tb, None, scale / len(idx))
                updates += 1
                step(updates)
            losses.append(total / len(x))
            if log:
                held = f", val loss {self.loss(*val):.4f}" if val else ""
                log(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}{held}")
        return losses


def _held_out(x, t, seed):
    \"\"\"The spec's `subset` (the first N samples) and `validation_split` (a fraction held
    out after a shuffle from `default_rng((seed, 1))`), as netc's `fit` takes them.\"\"\"
    if SETTINGS["subset"]:
        x, t = x[:SETTINGS["subset"]], t[:SETTINGS["subset"]]
    held = int(len(x) * SETTINGS["validation_split"])
    if not SETTINGS["validation_split"]:
        return x, t, None
    if held < 1 or held == len(x):
        raise ValueError(f"validation_split leaves no sample on one side of {len(x)}")
    order = np.random.default_rng((seed, 1)).permutation(len(x))
    train = np.sort(order[held:])
    return x[train], t[train], (x[order[:held]], t[order[:held]])


def _inputs(x, dtype):
    \"\"\"(n, features) in `dtype`; uint8 pixels scaled as netc scales them (data: mnist).\"\"\"
    x = np.asarray(x)
    if VOCAB:  # token ids stay integers (a language model's embed gathers rows by them)
        return x.astype(np.int64)
    if x.dtype == np.uint8:
        if not RAW_PIXELS:
            raise ValueError("uint8 inputs (raw pixels?): pass floats scaled as in training")
        out = np.empty(x.shape, dtype)
        np.divide(x, 255.0, out=out, dtype=np.float64, casting="same_kind")
        x = out
    x = np.asarray(x, dtype)
    return x.reshape(len(x), -1) if x.ndim > 2 else x


def _views(flat):
    out, at = {}, 0
    for key, shape in PARAMS:
        size = int(np.prod(shape))
        out[key] = flat[at:at + size].reshape(shape)
        at += size
    return out


def _bind_optimizer(net, hyper):
    \"\"\"The optimizer step over the flat buffers, and the loss gradient's scale. `hyper`
    replaces some of the spec's values (`--lr`): the same kernel then runs with them.\"\"\"
    state = [np.zeros_like(net.flat) for _ in STATE]
    unknown = sorted(set(hyper or ()) - set(SETTINGS["hyper"]))
    if unknown:
        raise ValueError(f"{SETTINGS['optimizer']} has no hyper-parameter {unknown[0]!r}")
    values = {**SETTINGS["hyper"], **{k: float(v) for k, v in (hyper or {}).items()}}
    # Why: netc decays the weights only unless the spec says wd_all=1 (see DECAYED).
    wd, kernel_wd = values["wd"], values["wd"] if SETTINGS["wd_all"] else 0.0
    if not hyper:
        step, scale = bind_step(net.flat, net.flat_g, *state), GRAD_SCALE
    elif PRESCALED:  # plain SGD: lr rides in the loss gradient's scale
        if kernel_wd:
            raise ValueError("weight decay needs sgd's own kernel: set wd in the spec instead")
        step, scale = bind_step(net.flat, net.flat_g), values["lr"]
    else:
        args = [v for k, v in values.items() if k != "wd"]

        def step(t):
            UPDATE(net.flat, net.flat_g, *state, *args, *([t] if COUNTS_STEPS else []),
                   kernel_wd)

        scale = 1.0
    if wd and not kernel_wd:
        step = _with_decay(step, net, wd * scale)
    return step, scale


def _with_decay(update, net, wd):
    \"\"\"`update` after adding wd * W to the weights' gradients (wd times lr where the step
    has lr folded into the gradient), in one pass over the flat buffer as netc does.\"\"\"
    mask = np.concatenate([np.full(int(np.prod(s)), 1 if k in DECAYED else 0, net.dtype)
                           for k, s in PARAMS])
    decay, tmp = mask * wd, np.empty_like(net.flat)

    def step(n):
        np.multiply(net.flat, decay, out=tmp)
        np.add(net.flat_g, tmp, out=net.flat_g)
        update(n)

    return step
"""

# The standalone modules' command line up to the data read: the `--emit torch` module
# (runtime/torch_text.py) takes the same flags.
MAIN_HEAD = """
def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="an .npz with x_train and t_train")
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"], help="%(default)s")
    parser.add_argument("--batch-size", type=int, default=SETTINGS["batch_size"],
                        help="%(default)s")
    parser.add_argument("--seed", type=int, default=SETTINGS["seed"], help="%(default)s")
    parser.add_argument("--lr", type=float, help="learning rate (default: the spec's)")
    parser.add_argument("--save", help="write the trained parameters to this .npz")
    args = parser.parse_args(argv)
    with np.load(args.data, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
"""

_MAIN = MAIN_HEAD + """    missing = [k for k in ("x_train", "t_train") if k not in arrays]
    if missing:
        parser.exit(1, f"{args.data}: no {' or '.join(missing)} array\\n")
    net = Net(seed=args.seed)
    hyper = {"lr": args.lr} if args.lr is not None else None
    net.fit(arrays["x_train"], arrays["t_train"], args.epochs, args.batch_size, args.seed,
            hyper)
    if "x_test" in arrays and "t_test" in arrays:
        print(f"test loss {net.loss(arrays['x_test'], arrays['t_test']):.4f}")
    if args.save:
        np.savez(args.save, **net.P)


if __name__ == "__main__":
    main()
"""
