"""Catalogue of hostile and broken inputs: every one ends in exit 1 (2 for usage) and exactly the
message in its `.expected` file, never a traceback.

- `tests/bad_inputs/specs/<case>.net`: `netc check` on it must print `<case>.expected`.
- `tests/bad_inputs/data/<case>.csv`: `netc run four_features.net --data <case>.csv` likewise.
- `tests/bad_inputs/generated/<case>.expected`: inputs built here in `tmp_path` (binary files,
  huge files, checkpoints, simulated faults); `<tmp>` in the file stands for `tmp_path`.
  Usage errors (exit 2) compare only the last line, since argparse's usage text varies by Python.

The spec faults already in `specs/invalid/` (see tests/test_corpus.py) are not repeated here.
Set NETC_UPDATE_GOLDEN=1 to rewrite the `.expected` files from the current output.
"""

from __future__ import annotations

import errno
import gzip
import os
import pickle
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import netc
from netc import outputs as outputs_module  # the probe of check_output
from netc.runtime import build as build_module
from netc.runtime.checkpoint import load_checkpoint
from netc.runtime.data import mnist

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from catalogue import (  # noqa: E402  (tests/ is not a package)
    DATA_SPEC,
    HANG_GUARD_S,
    HERE,
    ROOT,
    UPDATE,
    Catalogue,
    assert_golden,
    assert_user_error,
    data_run,
    good_arrays,
    npz,
    run_cli,
    spec_file,
    trained_checkpoint,
)

SPECS = sorted(p.stem for p in (ROOT / HERE / "specs").glob("*.net"))
CSVS = sorted(p.stem for p in (ROOT / HERE / "data").glob("*.csv"))


@pytest.fixture(autouse=True)
def _in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NETC_MNIST_MIRRORS", "")  # never download anything


# ---- committed text cases ------------------------------------------------------------------


def test_bad_inputs_catalogue_is_complete() -> None:
    assert len(SPECS) >= 25 and len(CSVS) >= 5
    invalid = {p.stem for p in (ROOT / "specs" / "invalid").glob("*.net")}
    assert not invalid & set(SPECS), "reuse specs/invalid cases; do not copy them"
    for folder, cases in (("specs", SPECS), ("data", CSVS)):
        have = {p.stem for p in (ROOT / HERE / folder).glob("*.expected")}
        assert UPDATE or have == set(cases), f"{folder}: stale or missing .expected files"


@pytest.mark.parametrize("case", SPECS)
def test_bad_inputs_spec_is_reported_exactly(case: str, capsys: pytest.CaptureFixture[str]):
    code, out, err = run_cli(capsys, ["check", HERE / "specs" / f"{case}.net"])
    assert_user_error(code, out, err)
    assert err.startswith(f"{HERE / 'specs' / case}.net:")  # file:line:col first
    assert_golden(ROOT / HERE / "specs" / f"{case}.expected", err)


@pytest.mark.parametrize("case", CSVS)
def test_bad_inputs_csv_is_reported_exactly(case: str, capsys: pytest.CaptureFixture[str]):
    data = HERE / "data" / f"{case}.csv"
    code, out, err = run_cli(capsys, ["run", DATA_SPEC, "--data", data, "--quiet"])
    assert_user_error(code, out, err)
    assert str(data) in err
    assert_golden(ROOT / HERE / "data" / f"{case}.expected", err)


# ---- generated cases -----------------------------------------------------------------------
# Each builder makes its input under `tmp` and returns the argv; the exit code is 1 unless the
# case name starts with "usage_" (2).

generated = Catalogue("generated")
case = generated.case




@case
def spec_5mb_one_line(tmp, mp):
    unit = "affine(2) -> relu -> "
    return ["check", spec_file(tmp, "input: 2\n" + unit * (5_000_000 // len(unit)) +
                               "affine(3) -> softmax_ce\n")]


@case
def spec_5mb_many_lines(tmp, mp):
    return ["check", spec_file(tmp, "input: 2\n" + "b = relu\n" * 600_000 +
                               "affine(3) -> softmax_ce\n")]


@case
def spec_5000_digit_width(tmp, mp):
    return ["check", spec_file(tmp, "input: 2\naffine(" + "9" * 5000 + ") -> softmax_ce\n")]


@case
def spec_5000_digit_repeat(tmp, mp):
    return ["check", spec_file(tmp, "input: 2\n(affine(2) -> relu) * " + "7" * 5000 +
                               " -> affine(3) -> softmax_ce\n")]


@case
def spec_deep_nesting_never_closed(tmp, mp):
    return ["check", spec_file(tmp, "input: 2\n" + "(" * 10_000 + "relu\n")]


@case
def spec_deep_nesting_closed(tmp, mp):
    return ["check", spec_file(tmp, "input: 2\n" + "(" * 10_000 + "relu" + ")" * 10_000 +
                               " -> affine(3) -> softmax_ce\n")]


@case
def spec_huge_name(tmp, mp):
    return ["check", spec_file(tmp, "input: 2\naffine(3) -> " + "x" * 200_000 +
                               " -> softmax_ce\n")]


@case
def spec_thousands_of_errors(tmp, mp):
    return ["check", spec_file(tmp, "input: 2\n" + "affine(0) -> " * 5000 + "softmax_ce\n")]


@case
def spec_not_utf8(tmp, mp):
    return ["check", spec_file(tmp, "input: 2\n# café\naffine(3) -> softmax_ce\n"
                               .encode("latin-1"))]


@case
def spec_nul_byte(tmp, mp):
    return ["check", spec_file(tmp, b"input: 2\naffine(3)\0 -> softmax_ce\n")]


@case
def spec_escape_sequence(tmp, mp):
    # Control characters from the file are shown as pictures, never sent to the terminal.
    return ["check", spec_file(tmp, "input: 2\naffine(3) \x1b[31m-> softmax_ce\n")]


@case
def spec_is_a_directory(tmp, mp):
    (tmp / "specs.net").mkdir()
    return ["check", tmp / "specs.net"]


@case
def spec_missing(tmp, mp):
    return ["check", tmp / "missing.net"]


@case
def spec_unreadable(tmp, mp):
    # CI runs as root, which can read anything: simulate what the OS reports to a user.
    path = spec_file(tmp, "input: 2\naffine(3) -> softmax_ce\n")
    real = os.open

    def os_open(name, flags, *args, **kwargs):  # what netc.reading opens files with
        if os.fspath(name) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(name))
        return real(name, flags, *args, **kwargs)

    mp.setattr(os, "open", os_open)
    return ["check", path]


@case
def spec_too_big_for_memory(tmp, mp):
    # Under the 2**31 parameter limit but more than this (pretend 64 MiB) machine holds.
    mp.setattr(build_module, "physical_memory", lambda: 64 * 2**20)
    spec = spec_file(tmp, "input: 4000\naffine(4000) -> relu -> affine(3) -> softmax_ce\n")
    return ["run", spec, "--quiet"]


def idx(magic: int, dims: tuple[int, ...], body: bytes) -> bytes:
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return head + body


def mnist_dir(tmp: Path, train_images: bytes, name: str = mnist.TRAIN_IMAGES) -> Path:
    folder = tmp / "mnist"
    folder.mkdir()
    for n in mnist.FILES:
        magic = 0x803 if "idx3" in n else 0x801
        (folder / n).write_bytes(idx(magic, (0, 28, 28) if magic == 0x803 else (0,), b""))
    (folder / mnist.TRAIN_IMAGES).unlink()
    (folder / name).write_bytes(train_images)
    return folder


def mnist_run(folder: Path) -> list[object]:
    return ["run", DATA_SPEC, "--data", "mnist", "--data-dir", folder, "--quiet"]


@case
def idx_truncated(tmp, mp):
    return mnist_run(mnist_dir(tmp, idx(0x803, (60000, 28, 28), bytes(1000))))


@case
def idx_truncated_header(tmp, mp):
    return mnist_run(mnist_dir(tmp, b"\0\0\x08\x03\0\0"))


@case
def idx_wrong_magic(tmp, mp):
    return mnist_run(mnist_dir(tmp, b"PK\x03\x04" + bytes(100)))


@case
def idx_corrupt_gzip(tmp, mp):
    cut = gzip.compress(idx(0x803, (10, 28, 28), bytes(7840)))[:40]
    return mnist_run(mnist_dir(tmp, cut, mnist.TRAIN_IMAGES + ".gz"))


@case
def idx_data_dir_is_a_file(tmp, mp):
    (tmp / "mnist").write_text("not a folder")
    return mnist_run(tmp / "mnist")








@case
def npz_missing_labels(tmp, mp):
    return data_run(npz(tmp, x_train=np.zeros((10, 4))))


@case
def npz_test_split_half_given(tmp, mp):
    return data_run(npz(tmp, **good_arrays(), x_test=np.zeros((5, 4))))


@case
def npz_object_array(tmp, mp):
    arrays = good_arrays()
    arrays["x_train"] = np.array([{"a": 1}] * 10, dtype=object)
    return data_run(npz(tmp, **arrays))


@case
def npz_is_a_pickle(tmp, mp):
    path = tmp / "data.npz"
    path.write_bytes(pickle.dumps({"x_train": [[0.0] * 4]}))
    return data_run(path)


@case
def npz_label_out_of_range(tmp, mp):
    return data_run(npz(tmp, x_train=np.zeros((10, 4)), t_train=np.arange(10)))


@case
def npz_width_mismatch(tmp, mp):
    return data_run(npz(tmp, **good_arrays(width=3)))


@case
def npz_nan_features(tmp, mp):
    arrays = good_arrays()
    arrays["x_train"][3, 2] = np.nan
    return data_run(npz(tmp, **arrays))


@case
def data_unknown_type(tmp, mp):
    path = tmp / "data.json"
    path.write_text("{}")
    return data_run(path)




@case
def ckpt_from_another_spec(tmp, mp):
    ck = trained_checkpoint(tmp)
    other = spec_file(tmp, DATA_SPEC.read_text().replace("affine(8)", "affine(9)"), "other.net")
    return ["run", other, "--data", tmp / "train.npz", "--resume", ck, "--quiet"]


@case
def ckpt_truncated(tmp, mp):
    ck = trained_checkpoint(tmp)
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    return data_run(tmp / "train.npz", "--resume", ck)


@case
def ckpt_is_text(tmp, mp):
    ck = tmp / "ck.npz"
    ck.write_text("epoch 3\n")
    return data_run(npz(tmp, **good_arrays()), "--resume", ck)


@case
def ckpt_resume_missing(tmp, mp):
    return data_run(npz(tmp, **good_arrays()), "--resume", tmp / "nope.npz")


@case
def ckpt_folder_is_a_file(tmp, mp):
    (tmp / "runs").write_text("a file, not a folder")
    return data_run(npz(tmp, **good_arrays()), "--checkpoint", tmp / "runs" / "ck.npz")


class _FullDisk:
    """A temporary file on a full disk: the first write fails as the OS would (ENOSPC)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.name = "probe"

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


@case
def ckpt_disk_full(tmp, mp):
    mp.setattr(outputs_module.tempfile, "NamedTemporaryFile", _FullDisk)
    return data_run(npz(tmp, **good_arrays()), "--checkpoint", tmp / "ck.npz")


@case
def ckpt_read_only_folder(tmp, mp):
    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    mp.setattr(outputs_module.tempfile, "NamedTemporaryFile", denied)
    return data_run(npz(tmp, **good_arrays()), "--checkpoint", tmp / "ck.npz")


@case
def usage_lr_infinite(tmp, mp):
    return ["run", DATA_SPEC, "--lr", "inf"]


@case
def usage_epochs_not_a_number(tmp, mp):
    return ["run", DATA_SPEC, "--epochs", "many"]


@case
def usage_unknown_flag(tmp, mp):
    return ["check", DATA_SPEC, "--fast"]


GENERATED = sorted(generated.cases)
(test_bad_inputs_generated_catalogue_is_complete,
 test_bad_inputs_generated_case_is_reported_exactly) = generated.tests()


def test_bad_inputs_5mb_spec_is_refused_quickly_by_the_console_script(tmp_path: Path) -> None:
    unit = "affine(2) -> relu -> "
    spec = spec_file(tmp_path, "input: 2\n" + (unit + "\n") * (5_000_000 // len(unit)))
    exe = shutil.which("netc")
    cmd = [exe] if exe else [sys.executable, "-m", "netc"]
    started = time.perf_counter()
    r = subprocess.run([*cmd, "check", str(spec)], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert time.perf_counter() - started < HANG_GUARD_S
    assert r.returncode == 1 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"{spec}:45456:4: error: the spec is 5,238,099 characters "
                               f"long; the limit is 1,000,000"), r.stderr


# ---- faults while training -----------------------------------------------------------------


def test_bad_inputs_nan_stops_cleanly_and_keeps_the_last_good_checkpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2))
    data = npz(tmp_path, x_train=x, t_train=x @ np.array([[1.0], [-2.0]]) + 0.5)
    spec = spec_file(tmp_path, "input: 2\ntrain: batch_size=20\naffine(1) -> mse\n", "reg.net")
    ck = tmp_path / "ck.npz"
    base = ["run", spec, "--data", data, "--checkpoint", ck, "--quiet"]
    code, _, err = run_cli(capsys, [*base, "--epochs", 1, "--lr", 0.05])
    assert code == 0, err
    good = ck.read_bytes()

    # The same run, continued with a learning rate that makes the loss overflow in epoch 2.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        code, out, err = run_cli(capsys, [*base, "--epochs", 3, "--lr", 1e9, "--resume", ck,
                                          "--resume-anyway"])
    assert code == 1 and "Traceback" not in err
    assert "training diverged in epoch 2 at step " in err
    assert f"({spec}:3:" in err  # the layer, located in the spec
    assert f"the checkpoint {ck} keeps epoch 1" in err
    assert "hint: lower the learning rate (now 1000000000.0)" in err
    assert ck.read_bytes() == good
    assert load_checkpoint(ck).meta["epoch"] == 1
    net = netc.load(spec, checkpoint=ck)
    assert all(np.isfinite(p).all() for p in net.params.values())
