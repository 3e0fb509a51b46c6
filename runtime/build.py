"""Runtime stage 6, build: `NetPlan` -> `Network`: arrays allocated and initialised, code loaded.

This is the first place any array exists. One seeded `np.random.Generator` initialises the
parameters in pipeline order, so the same seed gives the same network bit for bit. All
parameters live in one flat buffer (and so do their gradients): `net.params` are views into
it, so the optimizer updates every parameter with one call.
"""

from __future__ import annotations

import numpy as np

from ..compiler.codegen import passes_source
from ..compiler.plan import NetPlan
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

