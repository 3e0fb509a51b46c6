"""Interleaved timing: run the contenders A B C A B C ..., then report medians and ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

# Why a pause: OpenMP (PyTorch) and OpenBLAS worker threads spin for a while after a burst of
# work; on a 2-core machine they would steal the next contender's cores.
PAUSE_S = 0.3


def interleaved(runners: dict[str, Callable[[], float]], rounds: int,
                warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per round for each contender, taking turns so drift hits all alike."""
    for _ in range(warmup):
        for run in runners.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            time.sleep(PAUSE_S)
            times[name].append(run())
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def median_ratio(a: list[float], b: list[float]) -> float:
    """Median of the per-round ratios a/b (each round's pair ran back to back)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def ratio_range(a: list[float], b: list[float]) -> tuple[float, float]:
    """The smallest and largest per-round ratio a/b: the spread around median_ratio."""
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    return min(ratios), max(ratios)
