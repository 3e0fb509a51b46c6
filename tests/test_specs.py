"""The example specs in `specs/`: each one checks, and the spiral trains as the book says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netc.cli import main

SPECS = Path(__file__).resolve().parents[1] / "specs"
ALL = sorted(SPECS.glob("*.net"))


def test_the_examples_are_there():
    assert {p.name for p in ALL} >= {"spiral.net", "mnist_two_layer.net", "mnist_deep.net"}


@pytest.mark.parametrize("spec", ALL, ids=[p.name for p in ALL])
def test_every_spec_passes_check(spec, capsys):
    assert main(["check", str(spec), "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["ok"] is True and data["params"] > 0 and err == ""
    assert data["layers"][-1]["op"] in {"softmax_ce", "sigmoid_ce", "mse", "ns_loss"}


def test_spiral_trains_to_95_percent(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metrics = tmp_path / "m.json"
    assert main(["run", str(SPECS / "spiral.net"), "--metrics-json", str(metrics),
                 "--quiet"]) == 0
    history = json.loads(metrics.read_text())["history"]
    assert len(history) == 300  # the spec's train: epochs=300
    assert history[-1]["train_acc"] >= 0.95
    assert history[-1]["train_loss"] < history[0]["train_loss"]
