"""The seq2seq commands end to end (DLFS-2 ch. 7-8): `netc run` trains on generated addition
problems and reports exact-match test accuracy, `netc generate` prints a checkpoint's answers
(the same as `net.generate`), `netc attention` draws the attention weights, and `netc export`
writes the encoder and the decoder step beside the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import netc
from netc.cli import main

SPEC = """\
data: addition(reverse=true)
input: src: tokens, tgt: tokens
optimizer: adam(lr=0.01)
train: epochs=1, batch_size=256, clip=5
src -> embed(8) -> lstm(16) => hs
tgt[:-1] -> embed(8) -> lstm(16, init=hs.last) => hd
concat(attention(hd, hs), hd) -> affine -> softmax_ce(tgt[1:])
generate: greedy(tgt, steps=4)
"""


def _run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The spec and a checkpoint of one epoch of `netc run` (about 45,000 problems)."""
    folder = tmp_path_factory.mktemp("s2s")
    spec, ckpt, metrics = folder / "s.net", folder / "s.ckpt.npz", folder / "m.json"
    spec.write_text(SPEC)
    assert main(["run", str(spec), "--checkpoint", str(ckpt), "--metrics-json", str(metrics),
                 "--quiet"]) == 0
    record = json.loads(metrics.read_text())["history"][-1]
    assert set(record) >= {"train_loss", "test_loss", "test_acc"} and "train_acc" not in record
    assert 0 <= record["test_acc"] <= 1
    return spec, ckpt


def test_generate_prints_the_networks_answers(trained, capsys, tmp_path):
    spec, ckpt = trained
    code, out, err = _run(capsys, "generate", spec, "--checkpoint", ckpt, "16+75", "999+1")
    assert code == 0, err
    net = netc.load(spec, checkpoint=ckpt)
    assert out.splitlines() == net.generate(["16+75", "999+1"])
    assert all(len(a) <= 4 and set(a) <= set("0123456789+ ") for a in out.splitlines())
    questions = tmp_path / "q.txt"
    questions.write_text("16+75\r\n\n999+1\n")
    code, again, _ = _run(capsys, "generate", spec, "--checkpoint", ckpt, f"@{questions}")
    assert code == 0 and again == out  # one answer a line, blank lines skipped


@pytest.mark.parametrize(("question", "message"), [
    ("16x75", "the question '16x75' holds 'x'"),
    ("1234+5678", "is 9 characters long, over the 7"),
])
def test_generate_refuses_a_question_it_cannot_encode(trained, capsys, question, message):
    spec, ckpt = trained
    code, _, err = _run(capsys, "generate", spec, "--checkpoint", ckpt, question)
    assert code == 1 and message in err and "Traceback" not in err


def test_generate_names_a_missing_questions_file(trained, capsys, tmp_path):
    spec, ckpt = trained
    code, _, err = _run(capsys, "generate", spec, "--checkpoint", ckpt, f"@{tmp_path}/none")
    assert code == 1 and "none" in err and "Traceback" not in err


def test_attention_draws_the_weights(trained, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    spec, ckpt = trained
    out = tmp_path / "att.png"
    code, _, err = _run(capsys, "attention", spec, "--checkpoint", ckpt, "16+75", "-o", out)
    assert code == 0, err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "16+75 ->" in err
    weights, question, answer = netc.load(spec, checkpoint=ckpt).attention("16+75")
    assert question == "16+75" and weights.shape == (max(len(answer), 1), 5)
    # the reversed question's weights come back in reading order: rows sum to at most 1
    assert np.all(weights.sum(axis=1) <= 1 + 1e-6) and np.all(weights >= 0)


def test_attention_needs_an_attention_layer(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    spec = tmp_path / "plain.net"
    spec.write_text(SPEC.replace("concat(attention(hd, hs), hd)", "hd"))
    ckpt = tmp_path / "c.npz"
    netc.compile(spec.read_text()).save_checkpoint(ckpt)
    code, _, err = _run(capsys, "attention", spec, "--checkpoint", ckpt, "1+1", "-o",
                        tmp_path / "a.png")
    assert code == 1 and "no attention layer" in err
    assert not (tmp_path / "a.png").exists()


def test_export_writes_the_encoder_and_the_decoder_step(trained, capsys, tmp_path):
    pytest.importorskip("onnx")
    spec, ckpt = trained
    out = tmp_path / "m.onnx"
    code, text, err = _run(capsys, "export", spec, "--checkpoint", ckpt, "-o", out)
    assert code == 0, err
    assert "input 'src' (batch, 7), 'tgt' (batch, 5)" in text
    assert (tmp_path / "m.encoder.onnx").exists() and (tmp_path / "m.decoder.onnx").exists()


def test_plot_attention_from_python_shows_or_writes_the_map(trained, tmp_path):
    pytest.importorskip("matplotlib")
    spec, ckpt = trained
    net = netc.load(spec, checkpoint=ckpt)
    shown = net.plot_attention("16+75")  # a notebook displays it
    assert shown._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert net.plot_attention("16+75", tmp_path / "a.svg") is None
    assert (tmp_path / "a.svg").read_text().lstrip().startswith("<?xml")
