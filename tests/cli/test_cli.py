"""The `netc` command line: exit codes (0 ok, 1 user problem, 2 usage, 130 interrupted), what
`check`, `layers` and `run` print, flags overriding the spec, data files, checkpoints, MNIST and
the public contract script."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.compiler.registry import OPS, OPTIMIZERS
from netc.runtime.checkpoint import load_checkpoint
from netc.runtime.data import load_dataset

ROOT = Path(__file__).resolve().parents[2]
SPIRAL = ROOT / "specs" / "spiral.net"
MNIST_SPEC = ROOT / "specs" / "mnist_two_layer.net"
INVALID = "input: 2\naffine(10) -> sigmod -> affine(3) -> softmax_ce\n"


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Anything a command writes by default (e.g. an interrupt checkpoint) lands in tmp_path.
    monkeypatch.chdir(tmp_path)


def netc_cmd(*args: str) -> list[str]:
    exe = shutil.which("netc")
    return [exe, *args] if exe else [sys.executable, "-m", "netc", *args]


def cli(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *args: Any) -> str:
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    assert e.value.code == 2
    return capsys.readouterr().err


def history(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    assert list(data) == ["history"]
    return data["history"]


# --- check ----------------------------------------------------------------------------------


def test_check_prints_the_layer_table(capsys):
    code, out, err = cli(capsys, "check", SPIRAL)
    assert code == 0 and err == ""
    for row in ("affine(2, 10)", "sigmoid", "affine(10, 3)", "softmax_ce", "9:26",
                "parameters: 63"):
        assert row in out


def test_check_verbose_adds_the_run_settings(capsys):
    code, out, _ = cli(capsys, "check", SPIRAL, "-v")
    assert code == 0
    assert "optimizer: sgd(lr=1" in out and "epochs=300, batch_size=30" in out


def test_check_json_for_a_valid_spec(capsys):
    code, out, _ = cli(capsys, "check", SPIRAL, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True and data["params"] == 63 and data["input_width"] == 2
    assert [layer["op"] for layer in data["layers"]] == ["affine", "sigmoid", "affine",
                                                         "softmax_ce"]
    assert data["run"]["optimizer"] == "sgd" and data["run"]["epochs"] == 300


def test_check_json_for_an_invalid_spec(capsys, tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_text(INVALID)
    code, out, err = cli(capsys, "check", bad, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False
    (diag,) = data["diagnostics"]
    assert (diag["code"], diag["line"], diag["column"]) == ("unknown_op", 2, 15)
    assert diag["path"] == str(bad) and "sigmoid" in diag["hint"]


def test_check_invalid_spec_is_located_without_traceback(capsys, tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_text(INVALID)
    code, out, err = cli(capsys, "check", bad)
    assert code == 1 and out == ""
    assert f"{bad}:2:15: error: unknown layer 'sigmod'" in err
    assert "did you mean 'sigmoid'?" in err
    assert "Traceback" not in err


def test_check_unreadable_inputs_exit_1(capsys, tmp_path):
    code, _, err = cli(capsys, "check", tmp_path / "missing.net")
    assert code == 1 and f"{tmp_path / 'missing.net'}: no such file" in err
    code, _, err = cli(capsys, "check", tmp_path)
    assert code == 1 and f"{tmp_path}: is a directory" in err
    latin = tmp_path / "latin.net"
    latin.write_bytes("input: 2\naffine(3) -> relu # caf\xe9\n".encode("latin-1"))
    code, _, err = cli(capsys, "check", latin)
    assert code == 1 and f"{latin}:2: not UTF-8 text" in err
    assert "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    assert "unrecognized arguments: --no-such-flag" in usage_error(
        capsys, "check", SPIRAL, "--no-such-flag")
    assert "must be at least 1, got 0" in usage_error(capsys, "run", SPIRAL, "--epochs", "0")
    assert "must be a positive finite number" in usage_error(capsys, "run", SPIRAL, "--lr", "-1")
    assert "invalid choice: 'adamw'" in usage_error(capsys, "run", SPIRAL, "--optimizer",
                                                    "adamw")
    usage_error(capsys)  # no command at all


def test_debug_shows_the_traceback(capsys, tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_text(INVALID)
    with pytest.raises(netc.SpecError):
        main(["check", str(bad), "--debug"])
    r = subprocess.run(netc_cmd("check", str(bad), "--debug"), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    assert "Traceback (most recent call last)" in r.stderr
    assert "unknown layer 'sigmod'" in r.stderr


# --- layers ---------------------------------------------------------------------------------


def test_layers_lists_every_op_and_optimizer(capsys):
    code, out, _ = cli(capsys, "layers")
    assert code == 0
    names = {line.split()[0].split("(")[0] for line in out.splitlines()
             if line.startswith("  ")}
    assert set(OPS) <= names
    assert set(OPTIMIZERS) <= names
    assert "dropout(p=0.5)" in out and "batchnorm(momentum=0.9, eps=1e-05)" in out


# --- run ------------------------------------------------------------------------------------


def test_run_writes_the_metrics_json(capsys, tmp_path):
    m = tmp_path / "m.json"
    code, out, err = cli(capsys, "run", SPIRAL, "--epochs", 3, "--metrics-json", m, "--quiet")
    assert code == 0
    assert out.startswith("trained 3 epochs of spiral with sgd") and "epoch 1/3" not in out
    h = history(m)
    assert [r["epoch"] for r in h] == [1, 2, 3]
    for rec in h:
        assert set(rec) == {"epoch", "train_loss", "train_acc", "seconds"}


def test_run_prints_one_line_per_epoch(capsys):
    code, out, _ = cli(capsys, "run", SPIRAL, "--epochs", 2)
    assert code == 0
    assert [line.split("  ")[0] for line in out.splitlines()[:2]] == ["epoch 1/2", "epoch 2/2"]


def test_flags_override_the_spec(capsys, tmp_path):
    ck = tmp_path / "ck.npz"
    code, _, _ = cli(capsys, "run", SPIRAL, "--epochs", 2, "--optimizer", "adam", "--lr", 0.01,
                     "--batch-size", 50, "--seed", 2, "--dtype", "float64", "--checkpoint", ck,
                     "--quiet")
    assert code == 0
    meta = load_checkpoint(ck).meta
    assert meta["optimizer"] == "adam" and meta["hyper"]["lr"] == 0.01
    assert meta["hyper"]["beta1"] == 0.9
    assert (meta["batch_size"], meta["dtype"], meta["epoch"]) == (50, "float64", 2)
    assert meta["updates"] == 2 * 6  # 300 samples / 50

    # The same run through the Python API gives the same parameters, bit for bit.
    d = load_dataset("spiral", seed=2)
    net = netc.load(SPIRAL, seed=2, dtype="float64")
    net.fit(d.x_train, d.t_train, epochs=2, batch_size=50, optimizer="adam", lr=0.01, seed=2)
    saved = load_checkpoint(ck).params
    for k, p in net.params.items():
        np.testing.assert_array_equal(saved[k], p, err_msg=k)

    # Another optimizer does not inherit the spec's hyper-parameters (sgd's lr=1.0).
    code, _, _ = cli(capsys, "run", SPIRAL, "--epochs", 1, "--optimizer", "adam",
                     "--checkpoint", ck, "--quiet")
    assert code == 0
    meta = load_checkpoint(ck).meta
    assert meta["hyper"]["lr"] == 0.001 and (meta["batch_size"], meta["dtype"]) == (30,
                                                                                    "float32")


def test_seed_flag_changes_the_run(capsys, tmp_path):
    runs = {}
    for seed in (0, 0, 1):
        m = tmp_path / f"m{len(runs)}.json"
        assert cli(capsys, "run", SPIRAL, "--epochs", 2, "--seed", seed, "--metrics-json", m,
                   "--quiet")[0] == 0
        runs[len(runs)] = [(r["train_loss"], r["train_acc"]) for r in history(m)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_run_on_an_npz_with_a_test_split(capsys, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 2))
    t = (x[:, 0] * x[:, 1] > 0).astype(np.int64) + (x[:, 0] > 1)
    data = tmp_path / "d.npz"
    np.savez(data, x_train=x[:300], t_train=t[:300], x_test=x[300:], t_test=t[300:])
    m = tmp_path / "m.json"
    code, out, _ = cli(capsys, "run", SPIRAL, "--data", data, "--epochs", 2, "--metrics-json",
                       m, "--quiet")
    assert code == 0 and "test acc" in out
    for rec in history(m):
        assert set(rec) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc",
                            "seconds"}


def test_run_on_a_csv(capsys, tmp_path):
    rows = ["x1,x2,label"] + [f"{i / 10},{-i / 10},{i % 3}" for i in range(30)]
    data = tmp_path / "d.csv"
    data.write_text("\n".join(rows) + "\n")
    m = tmp_path / "m.json"
    code, out, _ = cli(capsys, "run", SPIRAL, "--data", data, "--epochs", 2, "--batch-size", 7,
                       "--metrics-json", m, "--quiet")
    assert code == 0 and f"trained 2 epochs of {data}" in out
    assert [set(r) for r in history(m)] == [{"epoch", "train_loss", "train_acc", "seconds"}] * 2


def test_data_width_mismatch_names_file_and_spec(capsys, tmp_path):
    data = tmp_path / "wide.npz"
    np.savez(data, x_train=np.zeros((10, 3)), t_train=np.zeros(10, np.int64))
    code, out, err = cli(capsys, "run", SPIRAL, "--data", data, "--quiet")
    assert code == 1 and out == ""
    assert f"{data}: the data has 3 features per sample, but the network takes 2" in err
    assert f"{SPIRAL}:9:1" in err and "Traceback" not in err


def test_missing_checkpoint_folder_fails_before_training(capsys, tmp_path):
    m = tmp_path / "m.json"
    code, out, err = cli(capsys, "run", SPIRAL, "--checkpoint", tmp_path / "no" / "ck.npz",
                         "--metrics-json", m)
    assert code == 1
    assert "cannot write checkpoint" in err and "does not exist" in err
    assert "epoch" not in out and not m.exists()


def test_resume_from_another_spec_is_refused(capsys, tmp_path):
    ck = tmp_path / "ck.npz"
    assert cli(capsys, "run", SPIRAL, "--epochs", 1, "--checkpoint", ck, "--quiet")[0] == 0
    other = tmp_path / "other.net"
    other.write_text(SPIRAL.read_text().replace("affine(10)", "affine(12)"))
    code, out, err = cli(capsys, "run", other, "--epochs", 2, "--resume", ck, "--quiet")
    assert code == 1
    assert f"{ck}: checkpoint was written for a different spec" in err
    assert "Traceback" not in err
    # The same spec continues the run.
    code, out, _ = cli(capsys, "run", SPIRAL, "--epochs", 2, "--resume", ck, "--quiet")
    assert code == 0 and "trained 2 epochs" in out


def test_run_summary_counts_epochs_and_says_when_nothing_was_left(capsys, tmp_path):
    ck = tmp_path / "ck.npz"
    code, out, _ = cli(capsys, "run", SPIRAL, "--epochs", 1, "--checkpoint", ck, "--quiet")
    assert code == 0 and out.startswith("trained 1 epoch of spiral with sgd"), out
    code, out, _ = cli(capsys, "run", SPIRAL, "--epochs", 3, "--resume", ck, "--quiet")
    assert code == 0 and out.startswith("trained 3 epochs (resumed after epoch 1) of"), out
    # The checkpoint was written by the first run only; resuming it at its own length is a no-op.
    code, out, err = cli(capsys, "run", SPIRAL, "--epochs", 1, "--resume", ck, "--quiet")
    assert code == 0 and err == ""
    assert out == (f"nothing to train: the checkpoint {ck} already holds 1 epoch; pass a "
                   "larger --epochs to train on\n")


def test_ctrl_c_exits_130_and_the_run_resumes(tmp_path):
    ck = tmp_path / "ck.npz"
    cmd = netc_cmd("run", str(SPIRAL), "--epochs", "100000", "--checkpoint", str(ck))
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed after epoch 1 and its checkpoint
        assert first.startswith("epoch      1/100000"), first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    assert proc.returncode == 130, err
    assert f"the run so far is saved in {ck}; continue it with --resume {ck}" in err
    meta = load_checkpoint(ck).meta
    assert 1 <= meta["epoch"] < 100000
    r = subprocess.run(netc_cmd("run", str(SPIRAL), "--epochs", str(meta["epoch"] + 1),
                                "--resume", str(ck), "--quiet"),
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"trained {meta['epoch'] + 1} epochs" in r.stdout


# --- MNIST ----------------------------------------------------------------------------------


def test_one_epoch_of_mnist_reaches_90_percent(capsys, monkeypatch, tmp_path, mnist_dir):
    monkeypatch.setenv("NETC_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("NETC_MNIST_MIRRORS", "")  # the files must be there; never download
    m = tmp_path / "m.json"
    code, out, err = cli(capsys, "run", MNIST_SPEC, "--epochs", 1, "--metrics-json", m,
                         "--quiet", "--eval-train")  # the full pass: the running mean is lower
    assert code == 0, err
    (rec,) = history(m)
    assert rec["test_acc"] >= 0.90 and rec["train_acc"] >= 0.90


def test_mnist_missing_says_where_to_put_the_files(capsys, monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("NETC_DATA_DIR", str(empty))
    monkeypatch.setenv("NETC_MNIST_MIRRORS", "")
    code, out, err = cli(capsys, "run", MNIST_SPEC, "--quiet")
    assert code == 1 and out == ""
    assert f"MNIST files not found in {empty}" in err
    assert f"Put the four files (gzipped or not) in {empty}" in err
    assert "NETC_DATA_DIR" in err and "Traceback" not in err


# --- subprocess smoke tests -----------------------------------------------------------------


def test_console_script_and_module_entry_points(tmp_path):
    r = subprocess.run(netc_cmd("--version"), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"netc {netc.__version__}"
    r = subprocess.run([sys.executable, "-m", "netc", "check", str(SPIRAL)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "parameters: 63" in r.stdout


def test_contract_holds(shared_dir):
    script = shared_dir / "checks" / "contract.py"
    r = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.stdout.strip().splitlines()[-1:] == ["contract holds"], r.stdout + r.stderr
    assert r.returncode == 0
