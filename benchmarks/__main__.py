"""`python -m benchmarks [--cases mlp,...,seq2seq] [--rounds N] [--json FILE] [--skip-extras]
[--no-numba]`.

Trains each case with netc (the NumPy backend, and the compiled `backend="numba"` where it
covers the case), PyTorch (CPU, eager, same threads), a plain NumPy loop (affine chains
only) and the GEMM-only bound, interleaved, and prints medians, ratios and the share of
netc's step outside the matrix products; then the startup, compile-time and memory
measurements, and the compiled backend's compile and cached-start costs. `--no-numba`
leaves the compiled backend out. The cases are in cases.py (all by default); `rnnlm` counts
tokens/s, `seq2seq` question/answer pairs. Needs the `bench` extra (`pip install -e
'.[bench]'`) and, for the compiled backend, the `jit` extra.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import date

from .cases import CASES, LMCase
from .compiled import compiled_reason, numba_runner, start_costs
from .contenders import gemm_runner, netc_runner, numpy_runner, torch_runner
from .extras import cold_start, compile_scaling, peak_memory
from .measure import interleaved, median, median_ratio, ratio_range


def training(names: list[str], rounds: int, threads: int, jit: bool = True) -> dict:
    results = {}
    for name in names:
        case = CASES[name]
        runners = {"netc": netc_runner(case), "gemm": gemm_runner(case)}
        compiled = numba_runner(case) if jit else None
        if compiled is not None:
            runners["numba"] = compiled
        if case.numpy_loop:  # the DLFS-style loop has no residual blocks, no images
            runners["numpy"] = numpy_runner(case)
        try:
            runners["torch"] = torch_runner(case, threads)
        except ImportError:
            print("PyTorch is not installed: pip install -e '.[bench]'", file=sys.stderr)
        times = interleaved(runners, rounds)
        done = case.samples * case.epochs
        # A language model's samples are tokens (each one prediction).
        row = {"unit": "tokens" if isinstance(case, LMCase) else "samples",
               "samples_per_s": {k: done / median(v) for k, v in times.items()},
               "efficiency": 1 / median_ratio(times["netc"], times["gemm"])}
        # What the rest of the step (im2col, pooling, elementwise, optimizer) costs.
        row["outside_gemm_share"] = 1 - median_ratio(times["gemm"], times["netc"])
        if "numpy" in times:
            row["netc_over_numpy"] = median_ratio(times["numpy"], times["netc"])
        if "torch" in times:
            row["netc_over_torch"] = median_ratio(times["torch"], times["netc"])
            row["netc_over_torch_range"] = ratio_range(times["torch"], times["netc"])
            # The ratio netc would reach at 100 % efficiency: what the matrix products alone
            # allow against PyTorch on this machine, whatever the rest of the step costs.
            row["ceiling_over_torch"] = median_ratio(times["torch"], times["gemm"])
        if "torch" in times and "numpy" in times:
            row["numpy_over_torch"] = median_ratio(times["torch"], times["numpy"])
        if "numba" in times:  # the compiled backend against the NumPy one and PyTorch
            row["numba_over_netc"] = median_ratio(times["netc"], times["numba"])
            if "torch" in times:
                row["numba_over_torch"] = median_ratio(times["torch"], times["numba"])
                row["numba_over_torch_range"] = ratio_range(times["torch"], times["numba"])
        elif jit:
            row["numba_fallback"] = compiled_reason(case)
        results[name] = row
        _print_case(name, row)
    return results


def _print_case(name: str, row: dict) -> None:
    sps = row["samples_per_s"]
    line = f"{name:5s} netc {sps['netc']:>10,.0f} {row['unit']}/s"
    if "torch" in sps:
        low, high = row["netc_over_torch_range"]
        line += (f"  torch {sps['torch']:>10,.0f}  netc/torch {row['netc_over_torch']:5.2f}x"
                 f" [{low:.2f}-{high:.2f}]"
                 f" (GEMM-only/torch {row['ceiling_over_torch']:.2f}x)")
    line += f"  efficiency {row['efficiency']:.0%} (outside GEMMs {row['outside_gemm_share']:.0%})"
    if "netc_over_numpy" in row:
        line += f"  netc/plain-NumPy {row['netc_over_numpy']:.2f}x"
    if "numpy_over_torch" in row:
        line += f" (plain-NumPy/torch {row['numpy_over_torch']:.2f}x)"
    if "numba_over_netc" in row:
        line += f"\n      numba backend: {row['numba_over_netc']:.2f}x the NumPy backend"
        if "numba_over_torch" in row:
            low, high = row["numba_over_torch_range"]
            line += f", {row['numba_over_torch']:.2f}x torch [{low:.2f}-{high:.2f}]"
    elif row.get("numba_fallback"):
        line += f"\n      numba backend: trains on NumPy ({row['numba_fallback']})"
    print(line, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks")
    p.add_argument("--cases", default="mlp,big,tiny,residual,conv,deepconv,rnnlm,seq2seq")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--skip-extras", action="store_true")
    p.add_argument("--no-numba", action="store_true",
                   help="leave out the compiled backend (backend=numba)")
    args = p.parse_args()
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    threads = blas[0]["num_threads"] if blas else 1
    info = {"date": date.today().isoformat(), "machine": platform.processor() or
            platform.machine(), "python": platform.python_version(),
            "blas": [{k: i.get(k) for k in ("internal_api", "version", "num_threads",
                                           "architecture")} for i in blas]}
    print(json.dumps(info))
    names = args.cases.split(",")
    out = {"info": info, "training": training(names, args.rounds, threads, not args.no_numba)}
    if not args.no_numba and not args.skip_extras:  # compiling, and a cached run's start
        out["numba_start"] = {}
        for name in (n for n in names if compiled_reason(CASES[n]) is None):
            costs = out["numba_start"][name] = start_costs(name)
            print(f"{name:5s} numba start: first run compiles in {costs['compile_fit_s']:.2f} s;"
                  f" cached, the first fit takes {costs['cached_fit_s']:.3f} s (NumPy "
                  f"{costs['numpy_fit_s']:.3f} s), a process {costs['cached_process_s']:.2f} s "
                  f"(NumPy {costs['numpy_process_s']:.2f} s)", flush=True)
    if not args.skip_extras:
        out["cold_start"] = cold_start()
        out["compile"] = compile_scaling()
        out["memory"] = peak_memory()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
