"""Output that cannot attack the terminal, and the smaller items of issue 11.

Catalogue (`tests/bad_inputs/output/`): control characters from data (a CSV cell, an `.npz`
member name, a data path in a spec, a file name on the command line) reach the message escaped
(`\\x1b`), never raw; a too-large initialiser is named as the cause of a divergence.
Unit and subprocess tests: Ctrl-C during start-up, file names that are not UTF-8 in `graph` and
`export`, no NumPy `RuntimeWarning` on stderr, and the growing-loss warning (and its absence).
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netc
from netc.errors import NetcWarning, TrainingError
from netc.terminal import shown

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from catalogue import (  # noqa: E402  (tests/ is not a package)
    DATA_SPEC,
    ROOT,
    Catalogue,
    data_run,
    good_arrays,
    npz,
    run_cli,
    spec_file,
)

cat = Catalogue("output")
ESC = "\x1b[2J\x1b[31m"  # clear the screen, then red: what a hostile file would send
SPIRAL = ROOT / "specs" / "spiral.net"
NOT_UTF8 = os.fsdecode(b"caf\xe9")  # 'caf\udce9': a Latin-1 file name on a UTF-8 system


def _csv(tmp: Path, cell: str) -> Path:
    path = tmp / "cells.csv"
    path.write_text(f"a,b,c,d,label\n1,2,3,{cell},0\n", encoding="utf-8")
    return path


@cat.case
def csv_cell_with_escape_sequence(tmp: Path, mp: pytest.MonkeyPatch) -> list[object]:
    return data_run(_csv(tmp, f"{ESC}red"))


@cat.case
def csv_cell_with_c1_and_bidi_controls(tmp: Path, mp: pytest.MonkeyPatch) -> list[object]:
    # CSI as one C1 byte, then a right-to-left override that would reverse the rest.
    return data_run(_csv(tmp, "\x9b2J\u202eevil"))


@cat.case
def npz_member_name_with_escape_sequence(tmp: Path, mp: pytest.MonkeyPatch) -> list[object]:
    arrays = good_arrays()
    return data_run(npz(tmp, **{f"x_train{ESC}": arrays["x_train"],
                                "t_train": arrays["t_train"]}))


@cat.case
def spec_data_path_with_escape_sequence(tmp: Path, mp: pytest.MonkeyPatch) -> list[object]:
    text = DATA_SPEC.read_text(encoding="utf-8") + f'data: "gone{ESC}.csv"\n'
    return ["run", spec_file(tmp, text), "--quiet"]


@cat.case
def spec_c1_and_bidi_controls_in_excerpt(tmp: Path, mp: pytest.MonkeyPatch) -> list[object]:
    # One picture column each, so the caret still points at the right character.
    return ["check", spec_file(tmp, "input: 4\naffine(\x9b3, 4) -> \u202esigmod -> softmax_ce\n")]


@cat.case
def cli_spec_name_with_escape_sequence(tmp: Path, mp: pytest.MonkeyPatch) -> list[object]:
    return ["check", tmp / "x\x1b]0;owned\x07.net"]  # an OSC sequence sets the window title


@cat.case
def cli_spec_name_not_utf8(tmp: Path, mp: pytest.MonkeyPatch) -> list[object]:
    return ["check", tmp / f"{NOT_UTF8}.net"]


@cat.case
def cli_data_name_with_escape_sequence(tmp: Path, mp: pytest.MonkeyPatch) -> list[object]:
    return data_run(tmp / f"x{ESC}.csv")


@cat.case
def usage_argument_with_escape_sequence(tmp: Path, mp: pytest.MonkeyPatch) -> list[object]:
    return ["run", DATA_SPEC, "--bogus", ESC]


def _spiral_with(tmp: Path, old: str, new: str, name: str = "init.net") -> Path:
    return spec_file(tmp, SPIRAL.read_text(encoding="utf-8").replace(old, new), name)


@cat.case
def init_too_large_weights_not_finite(tmp: Path, mp: pytest.MonkeyPatch) -> list[object]:
    return ["run", _spiral_with(tmp, "std=0.01", "std=1e308"), "--quiet"]


@cat.case
def init_too_large_overflows_forward(tmp: Path, mp: pytest.MonkeyPatch) -> list[object]:
    # Finite float32 weights (1e38) whose products overflow in the first forward pass.
    return ["run", _spiral_with(tmp, "affine(3)", "affine(3, init=normal, std=1e38)"), "--quiet"]


test_output_catalogue_is_complete, test_output_case_is_reported_exactly = cat.tests()


# ---- escaping ---------------------------------------------------------------------------


def test_shown_escapes_controls_and_keeps_lines() -> None:
    assert shown("a\x1b[2Jb\x07\x00\x7f\x9b") == "a\\x1b[2Jb\\x07\\x00\\x7f\\x9b"
    assert shown("tab\there\rcr") == "tab\\there\\rcr"
    assert shown("rtl\u202eevil\u2066") == "rtl\\u202eevil\\u2066"
    assert shown(NOT_UTF8) == "caf\\xe9" and shown(b"caf\xe9") == "caf\\xe9"
    plain = "x.net:1:5: error: unknown op 'sigmod'\n  affine(2) -> sigmod\n  ^~~~~ ✓ é ␛"
    assert shown(plain) == plain  # legit multi-line messages, carets, pictures: unchanged


def test_file_names_in_command_output_are_escaped(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    # `netc fmt *.net` in a folder holding a hostile name must not replay its escape sequence.
    monkeypatch.chdir(tmp_path)
    spec_file(tmp_path, "input: 4\naffine(3)->softmax_ce\n", f"s{ESC}.net")
    code, out, _ = run_cli(capsys, ["fmt", f"s{ESC}.net"])
    assert code == 0 and out == "reformatted s\\x1b[2J\\x1b[31m.net\n"
    npz(tmp_path, f"d{ESC}.npz", **good_arrays())
    code, out, _ = run_cli(capsys, ["run", ROOT / DATA_SPEC, "--data", f"d{ESC}.npz", "--quiet",
                                    "--checkpoint", f"c{ESC}.npz"])
    assert code == 0 and " of d\\x1b[2J\\x1b[31m.npz with " in out.splitlines()[0]
    assert out.splitlines()[-1] == "checkpoint: c\\x1b[2J\\x1b[31m.npz"


# ---- Ctrl-C during start-up -------------------------------------------------------------

_SLOW = """
import runpy, sys, time
def slow(*a, **k):
    print("READY", flush=True)
    time.sleep(60)
{patch}
sys.argv = ["netc", *sys.argv[1:]]
runpy.run_module("netc", run_name="__main__")
"""
_PATCHES = {
    # while the parser is built (it imports pydantic and the op registry)
    "parser": "import netc.cli as c\norig = c._parser\nc._parser = lambda: (slow(), orig())[1]",
    # while numpy is imported by the command
    "numpy": "class F:\n    def find_spec(self, name, *a):\n        if name == 'numpy': slow()\n"
             "sys.meta_path.insert(0, F())",
    # while the data are loaded
    "data": "import netc.runtime.data as d\nd.load_dataset = slow",
}


@pytest.mark.parametrize("where", sorted(_PATCHES))
def test_ctrl_c_during_start_up_says_interrupted(where: str, tmp_path: Path) -> None:
    code = _SLOW.format(patch=_PATCHES[where])
    proc = subprocess.Popen([sys.executable, "-c", code, "run", str(SPIRAL), "--quiet"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready and proc.stdout.readline() == "READY\n", proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err == "interrupted\n"


# ---- file names that are not UTF-8 --------------------------------------------------------


def _netc(tmp: Path, *args: str | bytes) -> subprocess.CompletedProcess[bytes]:
    # Why PYTHONIOENCODING: it makes stdout strict UTF-8, as under a UTF-8 locale.
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "netc", *args], cwd=tmp, env=env,
                          capture_output=True, timeout=60, check=False)


@pytest.mark.parametrize("out", [b".dot", b".mmd", b".txt", b".svg"])
def test_graph_writes_a_file_named_in_latin1(out: bytes, tmp_path: Path) -> None:
    if out == b".svg" and shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    spec = os.fsencode(tmp_path) + b"/caf\xe9.net"
    Path(os.fsdecode(spec)).write_text(SPIRAL.read_text(encoding="utf-8"), encoding="utf-8")
    done = _netc(tmp_path, "graph", spec, "-o", b"caf\xe9" + out)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"wrote caf\\xe9" + out + b"\n"
    written = (tmp_path / os.fsdecode(b"caf\xe9" + out)).read_bytes()
    assert written.decode("utf-8")  # the file itself stays valid UTF-8
    if out == b".dot":
        assert b'digraph "' in written and b"caf\\\\xe9.net" in written


def test_export_of_a_spec_named_in_latin1(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    (tmp_path / f"{NOT_UTF8}.net").write_text(SPIRAL.read_text(encoding="utf-8"),
                                              encoding="utf-8")
    done = _netc(tmp_path, b"export", b"caf\xe9.net")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"wrote caf\\xe9.onnx (ONNX opset")
    assert (tmp_path / f"{NOT_UTF8}.onnx").stat().st_size > 0
    missing = _netc(tmp_path, b"export", b"nope\xe9.net")
    assert missing.returncode == 1
    assert missing.stderr.splitlines()[-1] == b"nope\\xe9.net: no such file"


# ---- NumPy warnings never reach the user ------------------------------------------------


@pytest.mark.parametrize("args", [["run", str(SPIRAL), "--lr", "1e30", "--quiet"],
                                  ["run", "init.net", "--quiet"],
                                  ["time", "init.net", "--steps", "2"]])
def test_no_runtime_warning_reaches_stderr(args: list[str], tmp_path: Path) -> None:
    _spiral_with(tmp_path, "std=0.01", "std=1e308")
    done = _netc(tmp_path, *args)
    err = done.stderr.decode()
    assert "Warning" not in err and "encountered" not in err, err
    if args[0] == "run":
        assert done.returncode == 1 and err.startswith("training diverged")


def test_fit_diverging_raises_no_numpy_warning() -> None:
    net = netc.compile(SPIRAL.read_text(encoding="utf-8"), seed=0)
    x = np.random.default_rng(0).standard_normal((60, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would now raise instead
        with pytest.raises(TrainingError, match="lower the learning rate"):
            net.fit(x, np.arange(60) % 3, epochs=3, batch_size=10, lr=1e30)


def test_fit_with_too_large_init_blames_the_init() -> None:
    text = SPIRAL.read_text(encoding="utf-8").replace("std=0.01", "std=1e308")
    with np.errstate(over="ignore"):  # building such weights overflows; only fit is tested
        net = netc.compile(text, seed=0)
    with pytest.raises(TrainingError, match=r"initial weights.*normal\(std=1e\+308\)") as e:
        net.fit(np.ones((6, 2)), np.arange(6) % 3, epochs=1, batch_size=3)
    assert "learning rate" not in str(e.value)


# ---- a loss that keeps growing ---------------------------------------------------------


def test_growing_loss_warns_once_on_the_command_line(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, ["run", SPIRAL, "--lr", "1000", "--epochs", "40",
                                      "--quiet", "--eval-train"])  # full-pass figures
    assert code == 0 and "33.33%" in out
    assert err == ("warning: the training loss has stayed above 3 times its starting value "
                   "for 10 epochs (1.1 at the start -> 8.223 in epoch 10); the learning "
                   "rate 1000.0 is probably too high\n")


def test_growing_loss_is_a_python_warning_in_the_api() -> None:
    net = netc.compile(SPIRAL.read_text(encoding="utf-8"), seed=0)
    from netc.runtime.data import load_dataset

    data = load_dataset("spiral", seed=0)
    assert netc.NetcWarning is NetcWarning  # exported for `warnings.filterwarnings`
    with pytest.warns(NetcWarning, match="learning rate 1000.0 is probably too high"):
        net.fit(data.x_train, data.t_train, epochs=12, batch_size=30, lr=1000)


@pytest.mark.parametrize("lr", ["1", "10"])
def test_healthy_spiral_runs_do_not_warn(lr: str, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, ["run", SPIRAL, "--lr", lr, "--quiet"])  # all 300 epochs
    assert code == 0 and err == ""


@pytest.mark.parametrize("spec", sorted(p.name for p in (ROOT / "specs").glob("*.net")))
def test_shipped_specs_do_not_warn(spec: str, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    plan = netc.plan_file(ROOT / "specs" / spec)
    rng = np.random.default_rng(0)  # MNIST is not downloaded here: data of its shape
    x = rng.random((600, plan.input_width))
    data = npz(tmp_path, x_train=x, t_train=(x[:, 0] * plan.n_outputs).astype(int))
    if plan.target is not None:  # seq2seq: 300 of its own question_answer lines
        data = _pairs_file(plan, tmp_path / "pairs.txt")
    elif plan.vocab:  # a language model: a short text over its vocabulary
        data = tmp_path / "text.txt"
        words = rng.integers(0, plan.vocab - 1, 1500)  # and "<eos>" ends each line
        data.write_text("\n".join(" ".join(f"w{i}" for i in words[k:k + 30])
                                  for k in range(0, len(words), 30)) + "\n")
    # Why fewer epochs for a language model: its steps are long (two 650-unit LSTMs)
    code, out, err = run_cli(capsys, ["run", ROOT / "specs" / spec, "--data", data,
                                      "--epochs", "2" if plan.vocab else "15", "--quiet"])
    assert code == 0 and err == "", err


def _pairs_file(plan: Any, path: Path) -> Path:
    """The first 300 problems of the spec's `data:` written in the book's format."""
    from netc.runtime.answers import pair_data

    found = pair_data(plan)
    lines = []
    for q, a in zip(found.questions[:300], found.answers[:300], strict=True):
        q = q[::-1] if found.reverse else q
        lines.append("".join(found.chars[i] for i in q) + "".join(found.chars[i] for i in a))
    path.write_text("\n".join(lines) + "\n")
    return path
