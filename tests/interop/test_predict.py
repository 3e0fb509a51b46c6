"""`netc predict` on .npz and .csv inputs, printed or written, its errors, and `netc summary`."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

import netc
from netc.runtime.data import load_dataset

ROOT = Path(__file__).resolve().parents[2]
SPIRAL = ROOT / "specs" / "spiral.net"


def _expected(ckpt: Path, x: np.ndarray) -> np.ndarray:
    return netc.load(SPIRAL, checkpoint=ckpt).predict(x)


def test_predict_npz_prints_class_and_probability(netc_run, spiral_checkpoint, tmp_path):
    x = load_dataset("spiral").x_train[::50]
    np.savez(tmp_path / "in.npz", x=x)
    done = netc_run("predict", SPIRAL, "--checkpoint", spiral_checkpoint, "in.npz")
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["row", "class", "probability"] and len(rows) == len(x) + 1
    y = _expected(spiral_checkpoint, x)
    assert [int(r[1]) for r in rows[1:]] == list(y.argmax(axis=1))
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], y.max(axis=1), atol=1e-6)


def test_predict_csv_with_and_without_labels_writes_npz(netc_run, spiral_checkpoint, tmp_path):
    data = load_dataset("spiral")
    x, t = data.x_train[:7], data.t_train[:7]
    np.savetxt(tmp_path / "features.csv", x, delimiter=",", header="x0,x1", comments="")
    np.savetxt(tmp_path / "labelled.csv", np.c_[x, t], delimiter=",")
    for name in ("features.csv", "labelled.csv"):
        done = netc_run("predict", SPIRAL, "--checkpoint", spiral_checkpoint, name,
                        "-o", "out.npz")
        assert done.returncode == 0, done.stderr
        with np.load(tmp_path / "out.npz") as out:
            np.testing.assert_allclose(out["y"], _expected(spiral_checkpoint, x), atol=1e-6)
            assert list(out["labels"]) == list(out["y"].argmax(axis=1))


def test_predict_writes_csv(netc_run, spiral_checkpoint, tmp_path):
    np.savez(tmp_path / "in.npz", x_test=load_dataset("spiral").x_train[:3])
    done = netc_run("predict", SPIRAL, "--checkpoint", spiral_checkpoint, "in.npz",
                    "-o", "out.csv")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.csv").read_text().splitlines()[0] == "row,class,probability"
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 4


def test_predict_missing_checkpoint_names_it(netc_run, tmp_path):
    np.savez(tmp_path / "in.npz", x=np.zeros((2, 2)))
    done = netc_run("predict", SPIRAL, "--checkpoint", "nope.ckpt", "in.npz")
    assert done.returncode == 1 and "nope.ckpt" in done.stderr


def test_predict_wrong_width_names_the_file(netc_run, spiral_checkpoint, tmp_path):
    np.savez(tmp_path / "wide.npz", x=np.zeros((2, 5)))
    np.savetxt(tmp_path / "wide.csv", np.zeros((2, 5)), delimiter=",")
    for name in ("wide.npz", "wide.csv"):
        done = netc_run("predict", SPIRAL, "--checkpoint", spiral_checkpoint, name)
        assert done.returncode == 1, done.stdout
        assert name in done.stderr and "Traceback" not in done.stderr


def test_predict_npz_without_x_lists_its_arrays(netc_run, spiral_checkpoint, tmp_path):
    np.savez(tmp_path / "odd.npz", features=np.zeros((2, 2)))
    done = netc_run("predict", SPIRAL, "--checkpoint", spiral_checkpoint, "odd.npz")
    assert done.returncode == 1 and "odd.npz" in done.stderr and "features" in done.stderr


def test_summary_is_check_verbose(netc_run):
    summary, check = netc_run("summary", SPIRAL), netc_run("check", "-v", SPIRAL)
    assert summary.returncode == check.returncode == 0
    assert summary.stdout == check.stdout and "optimizer: sgd" in summary.stdout
