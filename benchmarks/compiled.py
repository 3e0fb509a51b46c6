"""The compiled backend (`backend="numba"`) as a benchmark contender, and what it costs to start.

`numba_runner` trains a case as `netc_runner` does, on the compiled loop; None for a case the
backend does not compile yet (it would train on NumPy and measure nothing new).
`start_costs` measures, in fresh processes over an empty cache folder, the first run's
compile time and a cached run's start, beside the NumPy backend's start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import netc

from .contenders import netc_runner

# One step of a case in a fresh process: the seconds from before `import netc` to the end of
# a one-batch fit, and of the fit alone.
_ONE_STEP = """
import json, sys, time
start = time.perf_counter()
import netc
from benchmarks.cases import CASES
case = CASES[sys.argv[1]]
x, t = case.data()
net = netc.compile(case.spec, seed=0, backend=sys.argv[2])
began = time.perf_counter()
net.fit(x[:case.batch], t[:case.batch], epochs=1, batch_size=case.batch, optimizer="sgd",
        lr=case.lr, verbose=0)
end = time.perf_counter()
print(json.dumps({"process": end - start, "fit": end - began}))
"""


def compiled_reason(case: object) -> str | None:
    """Why the compiled backend would not train `case` itself (None: it does)."""
    from netc.runtime.jit import unsupported

    return unsupported(netc.plan(case.spec))  # type: ignore[attr-defined]


def numba_runner(case: Any) -> Callable[[], float] | None:
    """netc's runner on the compiled backend; None where it would train on NumPy."""
    return None if compiled_reason(case) is not None else netc_runner(case, "numba")


def start_costs(name: str) -> dict:
    """Seconds for one-step runs in fresh processes: compiling (empty cache), cached, NumPy."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NETC_CACHE_DIR": cache}

        def one(backend: str) -> dict:
            done = subprocess.run([sys.executable, "-c", _ONE_STEP, name, backend], env=env,
                                  cwd=root, capture_output=True, text=True, check=True)
            return json.loads(done.stdout.strip().splitlines()[-1])

        first = one("numba")
        cached = [one("numba") for _ in range(3)]
        numpy = [one("numpy") for _ in range(3)]
    best = {k: min(r[k] for r in cached) for k in ("process", "fit")}
    plain = {k: min(r[k] for r in numpy) for k in ("process", "fit")}
    return {"compile_fit_s": first["fit"], "cached_fit_s": best["fit"],
            "numpy_fit_s": plain["fit"], "cached_process_s": best["process"],
            "numpy_process_s": plain["process"]}
