"""Runtime stage 6b, the compiled backend: a network's training loop as a Numba module on disk.

`module_source` assembles one standalone module: the loop `compiler/jit_codegen.py` emits,
the loop kernels it calls (registered in `jit_kernels.py`; written there and in
`jit_base.py`, `jit_images.py`, `jit_updates.py`), NumPy's BLAS bound by name
(`jit_blas.py`), and the lines that compile each with Numba.
`load_module` writes it to netc's cache folder under the hash of its text and imports it.
Why a file and not `exec`: Numba caches only functions it can find in a file, and with the
cache a second run starts in a fraction of a second instead of compiling for seconds. The
text is the key, so a changed spec, dtype, optimizer or kernel gets a module of its own.

Numba is imported only here, and only when the backend is used (`netc check` stays fast).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..compiler.codegen import bound_bytes, header
from ..compiler.jit_codegen import steps_source
from ..compiler.plan import NetPlan
from ..errors import MissingDependencyError, NetcError, NetcWarning
from . import jit_base, jit_blas, jit_kernels
from .optim import UpdatePlan
from .user_cache import user_cache

BACKENDS = ("numpy", "numba")
MISSING = ("the numba backend needs Numba and SciPy: pip install 'netc[jit]' "
           "(or train with backend=numpy)")
# Numba's options for every function. error_model="numpy": a division by zero gives inf as
# in NumPy instead of a check per division (that branch blocks SIMD; sigmoid was 7x slower).
# Only these fast-math flags: the others assume no NaN or inf, and the trainer's divergence
# check must see them.
_OPTIONS = ('cache=True, nogil=True, error_model="numpy", '
            'fastmath={"nsz", "arcp", "contract", "reassoc"}')
_modules: dict[str, ModuleType] = {}
# Buffers larger than this are made once per batch size and kept (`jit_codegen`): below,
# the loop's own allocation is cheaper than passing them in.
_KEEP_BYTES = 1 << 20
# The head of a module that calls NumPy's own BLAS (runtime/jit_blas.py).
_CBLAS = ["import ctypes", "import glob", "import math", "import os", "",
          "import numpy as np", "from numba import njit", "",
          f"ROW_MAJOR, NO_TRANS, TRANS = {jit_blas.ROW_MAJOR}, {jit_blas.NO_TRANS}, "
          f"{jit_blas.TRANS}", "", "",
          inspect.getsource(jit_blas.numpy_cblas), "",
          inspect.getsource(jit_blas.bind_cblas).replace("  # noqa: ANN001, ANN201", ""), "",
          "_sgemm, _dgemm = bind_cblas(numpy_cblas())"]
# The NumPy functions the loop may call as they are (allocations, the divergence check).
_NUMPY_CALLS = {"empty", "zeros", "ones", "arange", "isfinite", "float32", "float64", "int64",
                "bool_", "ascontiguousarray"}


def cache_dir() -> Path:
    """Where compiled modules live: `$NETC_CACHE_DIR`, else `$XDG_CACHE_HOME/netc/jit`
    (~/.cache/netc/jit), beside the MNIST download."""
    given = os.environ.get("NETC_CACHE_DIR")
    return Path(given) / "jit" if given else user_cache("jit")


def clear_cache() -> tuple[Path, int]:
    """Remove every compiled module (`netc cache clear`); returns the folder and how many."""
    folder = cache_dir()
    count = len(list(folder.glob("*.py"))) if folder.is_dir() else 0
    shutil.rmtree(folder, ignore_errors=True)
    return folder, count


def check_backend(backend: object, who: str) -> str:
    """`backend` if it is one of `BACKENDS`, else a ValueError naming the choices."""
    if backend not in BACKENDS:
        raise ValueError(f"{who}: backend must be one of {', '.join(BACKENDS)}, "
                         f"got {backend!r}")
    return str(backend)


def require_numba() -> None:
    """A `MissingDependencyError` saying how to install the extra when Numba is missing."""
    if importlib.util.find_spec("numba") is None or importlib.util.find_spec("scipy") is None:
        raise MissingDependencyError(MISSING)


# Every loop function a module may copy: the ops' kernels and the helpers, by name.
_LOOP_FUNCS = {**jit_kernels.JIT_KERNELS, **{f.__name__: f for f in jit_kernels.HELPERS}}


def kernels_of(source: str) -> list[str]:
    """The names of the loop kernels and helpers `source` calls, in order of first call."""
    return list(dict.fromkeys(n for n in re.findall(r"\b(\w+)\(", source)
                              if n in _LOOP_FUNCS))


@functools.lru_cache(maxsize=32)
def unsupported(plan: NetPlan) -> str | None:
    """Why `plan` cannot train compiled (the first node using a kernel without a loop form,
    or a form the loop does not drive), or None when it can."""
    for line in steps_source(plan, "sgd_prescaled_update", 0, 0, False).splitlines():
        if "= P[" in line or "= G[" in line:
            continue
        for name in re.findall(r"\b(\w+_(?:forward|backward\w*))\(", line):
            if name not in jit_kernels.JIT_KERNELS:
                return f"{name} ({_place(plan, line)}) has no compiled kernel yet"
        for call in re.findall(r"\bnp\.(\w+)", line):
            if call not in _NUMPY_CALLS:  # an image's channel-major copy, ...
                return f"np.{call} in `{line.strip()}` is not compiled yet"
    if any(layer.uses for layer in plan.layers):
        return "shared weights (@A, tied=) are not compiled yet"
    if plan.run.generate or plan.loss.op not in ("softmax_ce", "sigmoid_ce", "mse"):
        return f"its loss {plan.loss.op} is not compiled yet"
    if len(plan.loss.in_shape) != 1:
        return "a loss over sequences is not compiled yet"
    return None


def _place(plan: NetPlan, line: str) -> str:
    """`1.dropout at spec.net:3:5` from a call's comment (`# 1.dropout (6 -> 6) at 3:5`)."""
    found = re.search(r"# (\S+) \(.*\) at (\d+:\d+)", line)
    if found is None:
        return line.strip()
    return f"{found[1]} at {plan.path or '<spec>'}:{found[2]}"


def module_source(plan: NetPlan, update: UpdatePlan, dtype: str) -> str:
    """The whole compiled module, standalone: imports numpy and numba only."""
    return _module_text(plan, update.kernel.__name__, len(update.state), len(update.hyper),
                        update.counts_steps, dtype)


# Why cached: every `fit` asks again, and reading the kernels' source takes milliseconds,
# a tenth of a small network's whole run.
@functools.lru_cache(maxsize=32)
def _module_text(plan: NetPlan, kernel: str, state: int, hyper: int, counts_steps: bool,
                 dtype: str) -> str:
    loop = steps_source(plan, kernel, state, hyper, counts_steps)
    names = ["fast_exp", *(f.__name__ for f in jit_kernels.HELPERS), *kernels_of(loop)]
    names = list(dict.fromkeys(names))
    funcs = {**_LOOP_FUNCS,
             "fast_exp": jit_base.exp32 if dtype == "float32" else jit_base.exp64}
    blas = jit_blas.numpy_cblas()
    gemm = inspect.getsource(jit_blas.gemm_cblas if blas else jit_blas.gemm_numba)
    kernels = "\n\n".join([re.sub(r"def \w+\(", "def gemm(", gemm, count=1),
                            *(re.sub(r"def \w+\(", f"def {n}(", inspect.getsource(funcs[n]),
                                     count=1) for n in names)])
    kernels = re.sub(r"  # noqa: ANN001, ANN201( - [^\n]*)?", "", kernels)
    names.insert(0, "gemm")
    return "\n".join([
        header(plan, "The compiled backend's training loop (`netc run --backend numba`):\n"
               "`train_steps` takes many mini-batch steps in one call. Edit the spec, not "
               "this file.\n"),
        *(_CBLAS if blas else ["import math", "", "import numpy as np", "from numba import njit"]),
        "", f"F = np.{dtype}  # the network's float type",
        *([f"GEMM = {'_sgemm' if dtype == 'float32' else '_dgemm'}  # NumPy's BLAS"]
          if blas else []),
        f"_jit = njit({_OPTIONS})", "", "",
        kernels, "", "",
        loop,
        "",
        *(f"{n} = _jit({n})" for n in [*names, "make_buffers", "train_steps"]), ""])


def spec_module(plan: NetPlan) -> str:
    """`netc compile --emit numba`: the module `netc run --backend numba` would compile for
    the spec's own optimizer and dtype; a `NetcError` for a network it does not cover."""
    from .fitsettings import decayed_update
    from .optim import OPTIMIZERS

    reason = unsupported(plan)
    if reason is not None:
        raise NetcError(f"{plan.path or 'spec'}: the numba backend cannot compile this "
                        f"network: {reason}\n  hint: netc run trains it on NumPy")
    update, _ = decayed_update(OPTIMIZERS[plan.run.optimizer], dict(plan.run.hyper),
                               bool(dict(plan.run.fit).get("wd_all")))
    return module_source(plan, update, plan.run.dtype)


def load_module(source: str) -> tuple[ModuleType, bool]:
    """Import `source` from the cache folder (written there first if new); returns the
    module and whether Numba has compiled it before (its marker file exists)."""
    require_numba()
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    name = f"netc_jit_{digest}"
    folder = cache_dir()
    path = folder / f"{name}.py"
    if name in _modules:
        return _modules[name], True
    folder.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != source:
        temp = folder / f".{name}.{os.getpid()}.tmp"
        temp.write_text(source)
        os.replace(temp, path)  # Why: a run beside this one never imports half a file
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Why: Numba's cache finds a function's module by name
    spec.loader.exec_module(module)
    _modules[name] = module
    return module, (folder / f"{name}.ok").is_file()


class CompiledSteps:
    """The compiled loop bound to one network's arrays and one update's settings."""

    def __init__(self, module: ModuleType, compiled: bool, net: Any, update: UpdatePlan,
                 state: Sequence[NDArray], decay: NDArray | None, quiet: bool,
                 source: str) -> None:
        self.module, self.compiled, self.quiet = module, compiled, quiet
        self.P = tuple(net.params.values())
        self.G = tuple(net.grads.values())
        self.S = tuple(net.buffers.values())
        self.flat, self.grads, self.M = net.flat_params, net.flat_grads, tuple(state)
        # Dropout's draws, shared with the NumPy passes. None where no kernel draws: Numba
        # takes a Generator apart on every call, 5 us, most of a small network's epoch.
        self.rng = net.rng if re.search(r"\w+_forward\([^)\n]*\brng\b", source) else None
        self.buffers: dict[int, tuple | None] = {}
        self.plan, self.itemsize = net.plan, net.dtype.itemsize
        self.hyper = np.array(update.hyper, np.float64)
        self.decay = decay if decay is not None else np.zeros(0, net.dtype)

    def run(self, x: NDArray, t: NDArray, perm: NDArray, first: int, last: int, n: int,
            bs: int, scale: float, count: int, clip: float, losses: NDArray, preds: NDArray,
            hits: NDArray) -> int:
        """Steps first..last-1 (n rows each); the step after the last one taken."""
        start = time.perf_counter()
        if not self.compiled and not self.quiet:
            print("netc: compiling the numba backend's training loop (the first run only; "
                  "cached after)...", file=sys.stderr, flush=True)
        if n not in self.buffers:  # None: small enough for the loop to make its own
            big = bound_bytes(self.plan, n, self.itemsize) > _KEEP_BYTES
            self.buffers[n] = self.module.make_buffers(n, x, t) if big else None
        buffers = self.buffers[n]
        done = self.module.train_steps(buffers, n, self.P, self.G, self.S, x, t, perm, first, last,
                                       bs, scale, self.flat, self.grads, self.M, self.hyper,
                                       count, clip, self.decay, losses, preds, hits, self.rng)
        if not self.compiled:
            self.compiled = True
            marker = Path(self.module.__file__ or "").with_suffix(".ok")
            marker.write_text(f"{time.perf_counter() - start:.2f}\n")
            if not self.quiet:
                print(f"netc: compiled in {time.perf_counter() - start:.1f} s",
                      file=sys.stderr, flush=True)
        return int(done)


def compiled_steps(net: Any, update: UpdatePlan, state: Sequence[NDArray],
                   decay: NDArray | None, *, quiet: bool = False,
                   streams: bool = False) -> CompiledSteps | None:
    """The compiled loop for `net` and `update`, or None (with one `NetcWarning` per
    network) when the network has a node the backend does not compile yet, or trains on
    truncated-BPTT `streams`, which only the NumPy trainer drives."""
    reason = "truncated BPTT (train: bptt=) is not compiled yet" if streams else None
    reason = reason or unsupported(net.plan)
    if reason is not None:
        if not net._jit_warned:
            warnings.warn(f"the numba backend trains this network on NumPy: {reason}",
                          NetcWarning, stacklevel=4)
            net._jit_warned = True
        return None
    source = module_source(net.plan, update, net.dtype.name)
    module, compiled = load_module(source)
    return CompiledSteps(module, compiled, net, update, state, decay, quiet, source)
