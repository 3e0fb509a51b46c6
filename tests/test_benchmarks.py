"""The benchmark suite runs (PyTorch optional) and its measurement helpers do what they say.

Speed itself is never asserted here (machines are noisy); `python -m benchmarks` measures it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from benchmarks import contenders, measure
from benchmarks.__main__ import training
from benchmarks.cases import CASES


def test_interleaved_takes_turns_and_times_every_round(monkeypatch):
    monkeypatch.setattr(measure, "PAUSE_S", 0.0)
    calls: list[str] = []

    def runner(name: str):
        return lambda: calls.append(name) or float(len(calls))

    times = measure.interleaved({"a": runner("a"), "b": runner("b")}, rounds=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert times == {"a": [3.0, 5.0, 7.0], "b": [4.0, 6.0, 8.0]}


def test_median_ratio_pairs_rounds():
    assert measure.median_ratio([2.0, 9.0, 4.0], [1.0, 3.0, 1.0]) == 3.0


def test_cases_describe_the_issue_networks():
    assert CASES["mlp"].spec == "input: 784\naffine(50) -> sigmoid -> affine(10) -> softmax_ce\n"
    x, t = CASES["tiny"].data()
    assert x.shape == (300, 2) and x.dtype == np.float32 and set(np.unique(t)) <= {0, 1, 2}
    # The batch order is the permutation netc's trainer draws from seed 0.
    assert np.array_equal(CASES["tiny"].orders()[0], np.random.default_rng(0).permutation(300))


def test_netc_and_plain_numpy_contenders_train_the_case():
    short = dataclasses.replace(CASES["tiny"], epochs=3)
    assert contenders.netc_runner(short)() > 0
    assert contenders.numpy_runner(short)() > 0


def test_training_reports_samples_per_second_and_efficiency(monkeypatch, capsys):
    monkeypatch.setattr(measure, "PAUSE_S", 0.0)
    monkeypatch.setitem(CASES, "tiny", dataclasses.replace(CASES["tiny"], epochs=3))
    row = training(["tiny"], rounds=1, threads=1)["tiny"]
    assert row["samples_per_s"]["netc"] > 0 and row["samples_per_s"]["gemm"] > 0
    assert 0 < row["efficiency"] < 10 and row["netc_over_numpy"] > 0
    out = capsys.readouterr().out
    assert out.startswith("tiny  netc") and "efficiency" in out


def test_gemm_bound_multiplies_the_case_shapes():
    assert contenders.gemm_runner(CASES["mlp"])() > 0
