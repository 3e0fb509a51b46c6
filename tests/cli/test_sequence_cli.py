"""The language-model commands end to end: `netc check` shows token shapes, `netc run` trains a
spec on a generated corpus or a text file (perplexity reported, checkpoint and resume), and
`netc similar` prints the nearest words and analogies from a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from netc.cli import main

LM = """\
data: markov(words=32, tokens=6000)
input: tokens
optimizer: sgd(lr=5)
train: epochs=2, batch_size=8, bptt=6, clip=0.5
embed(12) -> lstm(12) -> affine(32) -> softmax_ce
"""
CBOW = """\
data: markov(words=32, tokens=8000)
input: tokens, steps=2
optimizer: adam(lr=0.01)
train: epochs=2, batch_size=50
embed(10) -> mean -> ns_loss(k=4)
"""


def _run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_shows_token_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "lm.net"
    spec.write_text(LM)
    code, out, _ = _run(capsys, "check", spec)
    assert code == 0
    assert "input tokens(32)  (batch, 6)" in out
    assert "lstm(12, 12)" in out and "(batch, 6, 12)" in out and "(batch, 6, 32)" in out


def test_run_reports_perplexity_and_resumes(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    spec, ck, metrics = tmp_path / "lm.net", tmp_path / "lm.ckpt.npz", tmp_path / "m.json"
    spec.write_text(LM)
    code, out, err = _run(capsys, "run", spec, "--checkpoint", ck, "--metrics-json", metrics,
                          "--epochs", "1")
    assert code == 0, err
    assert "ppl" in out and "val perplexity" in out
    code, out, err = _run(capsys, "run", spec, "--resume", ck, "--metrics-json", metrics)
    assert code == 0, err
    assert "resumed after epoch 1" in out
    history = json.loads(metrics.read_text())["history"]
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(r["val_ppl"] == pytest.approx(np.exp(r["val_loss"])) for r in history)
    # the same run straight through gives the same figures (bit for bit, timings aside)
    again = tmp_path / "again.json"
    assert _run(capsys, "run", spec, "--metrics-json", again)[0] == 0
    straight = json.loads(again.read_text())["history"]
    assert [r["val_loss"] for r in straight] == [r["val_loss"] for r in history]


def test_run_trains_on_a_text_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    text = tmp_path / "tiny.train.txt"
    rng = np.random.default_rng(0)
    text.write_text("\n".join(" ".join(f"w{i}" for i in rng.integers(0, 31, 12))
                              for _ in range(300)) + "\n")
    (tmp_path / "tiny.valid.txt").write_text("w1 w2 w3\n" * 60)
    (tmp_path / "tiny.test.txt").write_text("w3 w2 w1\n" * 60)
    spec = tmp_path / "lm.net"
    spec.write_text(LM.replace("data: markov(words=32, tokens=6000)",
                               f'data: corpus("{text.name}")'))
    monkeypatch.chdir(tmp_path)  # the corpus path is relative, as a user writes it
    code, out, err = _run(capsys, "run", spec, "--epochs", "1")
    assert code == 0, err
    assert "val perplexity" in out
    assert "test perplexity" in out and "(240 tokens)" in out  # 60 lines of 3 words + <eos>


def test_similar_prints_neighbours_and_analogies(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    spec, ck = tmp_path / "cbow.net", tmp_path / "cbow.ckpt.npz"
    spec.write_text(CBOW)
    assert _run(capsys, "run", spec, "--checkpoint", ck, "--quiet")[0] == 0
    code, out, err = _run(capsys, "similar", spec, "w4", "--checkpoint", ck, "--top", "3")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "nearest to w4:" and len(lines) == 4
    assert sum(line.split()[0] in ("w5", "w6", "w7") for line in lines[1:]) >= 2
    code, out, _ = _run(capsys, "similar", spec, "-", "--checkpoint", ck, "--analogy",
                        "w0", "w1", "w4")
    assert code == 0 and out.startswith("nearest to w1 - w0 + w4:")
    code, _, err = _run(capsys, "similar", spec, "king", "--checkpoint", ck)
    assert code == 1 and "'king' is not in the vocabulary (32 words)" in err
