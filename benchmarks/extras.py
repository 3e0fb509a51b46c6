"""The non-training measurements: cold start, compile-time scaling, peak memory of an epoch."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .measure import interleaved, median

ROOT = Path(__file__).resolve().parents[1]


def _command(args: list[str]):
    def run() -> float:
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, cwd=ROOT)
        return time.perf_counter() - start
    return run


def cold_start(rounds: int = 9) -> dict:
    """`netc check specs/mnist_two_layer.net` against the `python -c "import numpy"` floor."""
    netc_bin = str(Path(sys.executable).with_name("netc"))
    times = interleaved({
        "numpy": _command([sys.executable, "-c", "import numpy"]),
        "check": _command([netc_bin, "check", "specs/mnist_two_layer.net"]),
    }, rounds)
    res = {k: median(v) for k, v in times.items()}
    res["over_floor_ms"] = (res["check"] - res["numpy"]) * 1000
    print(f"cold start: netc check {res['check'] * 1000:.0f} ms, import numpy "
          f"{res['numpy'] * 1000:.0f} ms, difference {res['over_floor_ms']:.0f} ms", flush=True)
    return res


def compile_scaling(rounds: int = 5) -> dict:
    """Seconds for `netc.compile` of 10-, 100- and 1000-layer specs (should grow linearly)."""
    import netc

    def spec(n: int) -> str:
        return "input: 32\n" + " -> ".join(["affine(32) -> relu"] * (n // 2)) + \
            " -> affine(4) -> softmax_ce\n"

    out = {}
    for n in (10, 100, 1000):
        text = spec(n)

        def run(text: str = text) -> float:
            start = time.perf_counter()
            netc.compile(text)
            return time.perf_counter() - start
        out[n] = median(interleaved({"c": run}, rounds)["c"])
    print("compile: " + ", ".join(f"{n} layers {s * 1000:.1f} ms" for n, s in out.items()) +
          f" (1000/100 ratio {out[1000] / out[100]:.1f})", flush=True)
    return out


# Runs in the child: its own high-water mark after the epoch. Why not the parent's rusage of
# the child: a forked child's ru_maxrss starts from the parent's size (with PyTorch loaded,
# about 500 MiB), while VmHWM belongs to the address space `exec` created.
_PEAK_SCRIPT = """
import sys
from netc.cli import main
code = main(["run", "specs/mnist_two_layer.net", "--epochs", "1", "--quiet"])
with open("/proc/self/status") as f:
    print(next(line for line in f if line.startswith("VmHWM:")).split()[1])
sys.exit(code)
"""


def peak_memory() -> dict:
    """Peak RSS of one MNIST epoch (`netc run --epochs 1`) against data + parameters."""
    if not os.environ.get("NETC_DATA_DIR"):
        print("memory: set NETC_DATA_DIR to the MNIST folder to measure", flush=True)
        return {}
    if not Path("/proc/self/status").exists():
        print("memory: needs Linux's /proc to measure", flush=True)
        return {}
    done = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    peak_mb = int(done.stdout.split()[-1]) / 1024
    data_mb = (70_000 * 784 * 4 + 70_000 * 8) / 2**20
    params_mb = 39_760 * 4 / 2**20
    print(f"memory: peak RSS {peak_mb:.0f} MiB for an MNIST epoch; data as float32 "
          f"{data_mb:.0f} MiB + parameters {params_mb:.2f} MiB", flush=True)
    return {"peak_rss_mib": peak_mb, "data_mib": data_mb, "params_mib": params_mb}
