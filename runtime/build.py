"""Runtime stage 6, build: `NetPlan` -> `Network`: arrays allocated and initialised, code loaded.

This is the first place any array exists. One seeded `np.random.Generator` initialises the
parameters in pipeline order, so the same seed gives the same network bit for bit. All
parameters live in one flat buffer (and so do their gradients): `net.params` are views into
it, so the optimizer updates every parameter with one call.
"""

from __future__ import annotations

import os

import numpy as np

from ..compiler.codegen import passes_source
from ..compiler.plan import NetPlan
from ..errors import Diagnostic, SpecLimitError
from .buffers import views
from .generated import load
from .initializers import init_array
from .network import Network

DTYPES = ("float32", "float64")


def build(plan: NetPlan, *, seed: int | None = None, dtype: str | None = None) -> Network:
    """Allocate and initialise every array of `plan` and load its generated passes."""
    dtype = dtype or plan.run.dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, not {dtype!r}")
    seed = plan.run.seed if seed is None else int(seed)
    _check_memory(plan, dtype)
    rng = np.random.default_rng(seed)
    specs = [p for layer in plan.layers for p in layer.params]
    flat = np.empty(sum(p.size for p in specs), dtype)
    params = views(flat, [(p.key, p.shape) for p in specs])
    for p in specs:
        params[p.key][...] = init_array(p.shape, p.init, fan_in=p.fan_in, std=p.std, rng=rng,
                                        dtype=dtype)
    buffers: dict[str, np.ndarray] = {}
    for layer in plan.layers:
        for b in layer.buffers:
            buffers[b.key] = init_array(b.shape, b.init, fan_in=1, std=None, rng=rng,
                                        dtype=dtype)
    source = passes_source(plan)
    namespace = load(source, plan.path)
    return Network(plan, flat, params, buffers, np.dtype(dtype), rng, source, namespace["bind"])


def physical_memory() -> int | None:
    """Bytes of RAM in this machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _needed(plan: NetPlan, dtype: str) -> int:
    # Why twice: every parameter has a gradient array of the same size (Network.grads).
    return 2 * plan.param_count * np.dtype(dtype).itemsize


def _check_memory(plan: NetPlan, dtype: str) -> None:
    """Refuse, before allocating, a network whose parameters would not fit in memory.

    Why here and not in `lower`: the limit depends on the machine, and a plan must not.
    """
    memory = physical_memory()
    if memory is not None and _needed(plan, dtype) > memory:
        raise _too_big(plan, dtype, memory)


def _too_big(plan: NetPlan, dtype: str, memory: int) -> SpecLimitError:
    big = max(plan.layers, key=lambda lp: sum(p.size for p in lp.params))
    has = f"this machine has {_size(memory)}"
    hint = "use fewer or narrower layers" + (", or --dtype float32" if dtype == "float64"
                                             else "")
    return SpecLimitError([Diagnostic(
        "out_of_memory", f"the network's {plan.param_count:,} parameters and their gradients "
        f"need {_size(_needed(plan, dtype))} as {dtype}, but {has}", big.span,
        hint=f"{hint}; the largest layer is {big.label} with "
             f"{sum(p.size for p in big.params):,} parameters")])


def _size(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.1f} MiB"
