"""Writes that must never damage what they replace: the outputs a command refuses, each with
its exact message (`tests/bad_inputs/writes/`).

Every output path (`--plot`, `--metrics-json`, `--checkpoint`, `-o`) is checked before the
work: a wrong suffix (the message names the supported ones), a directory or a socket in the
way, a missing folder, a checkpoint another run is writing. A FIFO nobody reads is refused
at once instead of hanging. What must succeed (devices, links, modes, stale temporaries, the
lock held for a whole run) is tested in `tests/test_atomic_writes.py`.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from catalogue import (  # noqa: E402  (tests/ is not a package)
    DATA_SPEC,
    Catalogue,
    data_run,
    good_arrays,
    npz,
)

cat = Catalogue("writes")
_HELD: list[int] = []  # lock files held by a case while netc runs


@pytest.fixture(autouse=True)
def _release_held_locks() -> Iterator[None]:
    yield
    while _HELD:
        os.close(_HELD.pop())


def _train(tmp: Path, *extra: object) -> list[object]:
    return data_run(npz(tmp, **good_arrays()), *extra)


def _socket(path: Path) -> Path:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))  # the socket file stays after close
    return path


@cat.case
def plot_no_suffix(tmp, mp):
    return _train(tmp, "--plot", tmp / "curves")


@cat.case
def plot_unknown_suffix(tmp, mp):
    return _train(tmp, "--plot", tmp / "curves.bmp")


@cat.case
def plot_folder_missing(tmp, mp):
    return _train(tmp, "--plot", tmp / "nope" / "curves.png")


@cat.case
def metrics_json_is_a_directory(tmp, mp):
    (tmp / "metrics").mkdir()
    return _train(tmp, "--metrics-json", tmp / "metrics")


@cat.case
def metrics_json_folder_missing(tmp, mp):
    return _train(tmp, "--metrics-json", tmp / "nope" / "m.json")


@cat.case
def metrics_json_is_a_socket(tmp, mp):
    return _train(tmp, "--metrics-json", _socket(tmp / "m.json"))


@cat.case
def metrics_json_fifo_without_reader(tmp, mp):
    os.mkfifo(tmp / "m.json")  # refused when written (opening it to check would end a reader)
    return _train(tmp, "--metrics-json", tmp / "m.json")


@cat.case
def ckpt_locked_by_another_run(tmp, mp):
    # The lock as another run holds it: an flock on `<checkpoint>.lock` with its pid inside
    # (a fixed one here, so the message is stable; test_atomic_writes uses a real process).
    fd = os.open(tmp / "ck.npz.lock", os.O_RDWR | os.O_CREAT)
    _HELD.append(fd)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"4242\n")
    return _train(tmp, "--checkpoint", tmp / "ck.npz")


@cat.case
def ckpt_lock_name_is_a_symlink(tmp, mp):
    (tmp / "victim.txt").write_text("not to be truncated")
    (tmp / "ck.npz.lock").symlink_to(tmp / "victim.txt")
    return _train(tmp, "--checkpoint", tmp / "ck.npz")


@cat.case
def ckpt_is_a_socket(tmp, mp):
    return _train(tmp, "--checkpoint", _socket(tmp / "ck.npz"))


@cat.case
def graph_unknown_suffix(tmp, mp):
    return ["graph", DATA_SPEC, "-o", tmp / "net.xyz"]


@cat.case
def graph_no_suffix(tmp, mp):
    return ["graph", DATA_SPEC, "-o", tmp / "net"]


@cat.case
def graph_output_is_a_directory(tmp, mp):
    (tmp / "net.dot").mkdir()
    return ["graph", DATA_SPEC, "-o", tmp / "net.dot"]


@cat.case
def export_not_onnx(tmp, mp):
    return ["export", DATA_SPEC, "-o", tmp / "model.pt"]


@cat.case
def export_folder_missing(tmp, mp):
    return ["export", DATA_SPEC, "-o", tmp / "nope" / "model.onnx"]


@cat.case
def predict_output_unknown_suffix(tmp, mp):
    # Checked before the checkpoint or the input is read: neither exists here.
    return ["predict", DATA_SPEC, tmp / "in.npz", "--checkpoint", tmp / "ck.npz",
            "-o", tmp / "out.txt"]


@cat.case
def compile_output_fifo_without_reader(tmp, mp):
    os.mkfifo(tmp / "net.py")
    return ["compile", DATA_SPEC, "-o", tmp / "net.py"]


@cat.case
def compile_output_is_a_directory(tmp, mp):
    (tmp / "net.py").mkdir()
    return ["compile", DATA_SPEC, "-o", tmp / "net.py"]


test_writes_catalogue_is_complete, test_writes_case_is_reported_exactly = cat.tests()
