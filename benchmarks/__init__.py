"""netc's benchmark suite: `python -m benchmarks` (see BENCHMARKS.md for the method)."""
