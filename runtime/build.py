"""Runtime stage 6, build: `NetPlan` -> `Network`: arrays allocated and initialised, code loaded.

This is the first place any array exists. One seeded `np.random.Generator` initialises the
parameters in pipeline order, so the same seed gives the same network bit for bit. All
parameters live in one flat buffer (and so do their gradients): `net.params` are views into
it, so the optimizer updates every parameter with one call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..compiler.codegen import PART, passes_source
from ..compiler.plan import Memory, NetPlan, format_bytes
from ..errors import Diagnostic, SpecLimitError
from .buffers import views
from .generated import load
from .initializers import init_array
from .network import Network

DTYPES = ("float32", "float64")


def build(plan: NetPlan, *, seed: int | None = None, dtype: str | None = None,
          backend: str | None = None) -> Network:
    """Allocate and initialise every array of `plan` and load its generated passes;
    `backend` ("numpy", "numba"; default the spec's) is what `fit` trains on."""
    dtype = dtype or plan.run.dtype
    if backend is not None:
        from .jit import check_backend

        backend = check_backend(backend, "compile")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, not {dtype!r}")
    seed = plan.run.seed if seed is None else int(seed)
    check_memory(plan, plan.memory(f"building as {dtype}", dtype=dtype), fixes=_dtype_fix(dtype))
    rng = np.random.default_rng(seed)
    specs = [p for layer in plan.layers for p in layer.params]
    flat = np.empty(sum(p.size for p in specs), dtype)
    params = views(flat, [(p.key, p.shape) for p in specs])
    for p in specs:
        init_array(p.shape, p.init, fan_in=p.fan_in, std=p.std, rng=rng, dtype=dtype,
                   out=params[p.key])
    buffers: dict[str, np.ndarray] = {}
    for layer in plan.layers:
        for b in layer.buffers:
            buffers[b.key] = init_array(b.shape, b.init, fan_in=1, std=None, rng=rng,
                                        dtype=dtype)
    # Why no trace in a long network: its code is a third of the source to compile, and it is
    # only needed after a divergence; `_guarded` compiles it then.
    source = passes_source(plan, trace=len(plan.layers) <= PART + 1)
    bind = _guarded(plan, dtype, load(source, plan.path)["bind"])
    net = Network(plan, flat, params, buffers, np.dtype(dtype), rng, source, bind)
    if backend is not None:
        net.backend = backend
    return net


def physical_memory() -> int | None:
    """Bytes of RAM in this machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(plan: NetPlan, memory: Memory, *, rows: int = 0,
                 fixes: Sequence[str] = ()) -> None:
    """Refuse, before allocating, a job whose estimated memory exceeds this machine's.

    Every command that allocates calls this with its own job (`plan.memory`): building,
    training, timing, gradient checking, each bound batch size; `rows` are the batch rows
    bound at once, `fixes` what the user can change first. Why here and not in `lower`: the
    limit depends on the machine, and a plan must not.
    """
    have = physical_memory()
    if have is None or memory.total <= have:
        return
    # The layer that costs most: its parameters (with gradients and state) and its output.
    big = max(plan.layers, key=lambda lp: 4 * sum(p.size for p in lp.params) + rows * lp.n_out)
    count = sum(p.size for p in big.params)
    what = f"{big.n_out:,} wide" + (f", {count:,} parameters" if count else "")
    raise SpecLimitError([Diagnostic(
        "out_of_memory", f"this network needs {memory.describe()}; this machine has "
        f"{format_bytes(have)}", big.span,
        hint=f"{', or '.join([*fixes, 'use fewer or narrower layers'])}; the largest layer is "
             f"{big.label} ({what})")])


def check_training(net: Network, batch: int, optimizer: str, rows: int, eval_rows: int) -> None:
    """`check_memory` for `fit`: `rows` training samples in batches of `batch`, evaluation
    (`eval_rows` samples) `net.eval_rows` rows at a time, and the optimizer's state."""
    batch, eval_rows = max(1, min(batch, rows)), min(eval_rows, net.eval_rows)
    dtype = net.dtype.name
    check_memory(net.plan, net.plan.training_memory(batch, optimizer, dtype, eval_rows),
                 rows=batch + eval_rows, fixes=["lower the batch size", *_dtype_fix(dtype)])


def _dtype_fix(dtype: str) -> list[str]:
    return ["use --dtype float32"] if dtype == "float64" else []


def _guarded(plan: NetPlan, dtype: str, bind: Callable[..., Any]) -> Callable[..., Any]:
    """`bind` that first checks the buffers for batch size n fit, with the network's arrays.

    Why: every batch size a network is bound to (training, evaluation, `predict` of a large
    file, a gradcheck batch) passes here, so none can allocate more than the machine has.
    """
    # Why computed once: the buffers grow linearly with n, and counting them walks every layer.
    zero = plan.memory("", dtype=dtype, batches=(0,))
    one = plan.memory("", dtype=dtype, batches=(1,))
    per_row = one.total - zero.total
    fixed = [(k, v) for k, v in zero.parts if k not in ("activations", "initialiser")]
    start = dict(zero.parts).get("activations", 0)

    def guarded(P: Any, G: Any, S: Any, n: int, *rest: Any) -> Any:
        job = Memory(f"a batch of {n:,} rows", (*fixed, ("activations", start + n * per_row)))
        check_memory(plan, job, rows=n, fixes=_dtype_fix(dtype))
        passes = bind(P, G, S, n, *rest)
        if passes[5] is not None:
            return passes

        def first_nonfinite(x: Any, train: bool) -> int | None:
            # On its own buffers: the passes' own stay as training left them.
            traced = load(passes_source(plan), plan.path)["bind"](P, G, S, n, *rest)
            return traced[5](x, train)

        return (*passes[:5], first_nonfinite, *passes[6:])

    return guarded
