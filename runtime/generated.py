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
from ..compiler.plan import NetPlan
from . import kernels, optim

_KERNELS: dict[str, Callable[..., Any]] = {
    **kernels.KERNELS, **{i.kernel.__name__: i.kernel for i in optim.OPTIMIZERS.values()},
    optim.sgd_prescaled_update.__name__: optim.sgd_prescaled_update}


def load(source: str, name: str, **extra: Any) -> dict[str, Any]:
    """Compile `source` with the kernels in scope; return its namespace.

    Why linecache: a traceback through generated code then shows the generated line.
    """
    digest = hashlib.sha1(source.encode()).hexdigest()[:10]
    filename = f"<netc generated {digest}: {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"np": np, **_KERNELS, **extra}
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
    for m in re.finditer(r"\b([a-z_]+)\(", source):
        if m.group(1) in _KERNELS:
            seen.setdefault(m.group(1))
    return list(seen)


def standalone_module(plan: NetPlan, extra: str = "") -> str:
    """A module that imports only numpy: kernels, `bind`, and a small `Net` to drive it."""
    code = passes_source(plan) + extra
    kernel_src = "\n\n".join(inspect.getsource(_KERNELS[k]) for k in used_kernels(code))
    params = [(p.key, p.shape) for layer in plan.layers for p in layer.params]
    buffers = [(b.key, b.shape, b.init) for layer in plan.layers for b in layer.buffers]
    return "\n".join([
        header(plan), "from __future__ import annotations", "", "import numpy as np", "", "",
        "# ---- kernels (copied from netc.runtime) " + "-" * 40, "", kernel_src, "",
        "# ---- this network " + "-" * 60, "",
        f"PARAMS = {params!r}", f"BUFFERS = {buffers!r}", f"INPUT_WIDTH = {plan.input_width!r}",
        "", "", code, "", _NET_CLASS])


_NET_CLASS = '''
class Net:
    """Drive `bind` for any batch size. `params`: name -> array, as in netc's `net.params`."""

    def __init__(self, params, dtype="float32", seed=0):
        self.dtype = np.dtype(dtype)
        self.P = {k: np.asarray(params[k], self.dtype) for k, _ in PARAMS}
        self.G = {k: np.zeros(s, self.dtype) for k, s in PARAMS}
        self.S = {k: (np.ones if init == "ones" else np.zeros)(s, self.dtype)
                  for k, s, init in BUFFERS}
        self.rng = np.random.default_rng(seed)
        self._bound = {}

    def _passes(self, n):
        if n not in self._bound:
            self._bound[n] = bind(self.P, self.G, self.S, n, self.dtype, self.rng)
        return self._bound[n]

    def predict(self, x):
        x = np.asarray(x, self.dtype)
        return self._passes(len(x))[3](x).copy()

    def loss(self, x, t):
        x = np.asarray(x, self.dtype)
        forward, loss = self._passes(len(x))[:2]
        forward(x, False)
        return loss(t)

    def gradients(self, x, t):
        x = np.asarray(x, self.dtype)
        forward, loss, backward = self._passes(len(x))[:3]
        forward(x, True)
        loss(t)
        backward(x, t)
        return {k: g.copy() for k, g in self.G.items()}
'''
