"""`kill -9` in the middle of an epoch loses nothing finished: `netc run --resume` from the last
per-epoch checkpoint ends bit-identical to a run that was never interrupted."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from netc.runtime.checkpoint import load_checkpoint

EPOCHS = 5
TIMEOUT = 30.0  # per wait; the whole test normally takes a few seconds
SPEC = f"""\
input: 20
optimizer: momentum(lr=0.05)
train: epochs={EPOCHS}, batch_size=10, seed=4

affine(64) -> relu -> affine(5) -> softmax_ce
"""


def netc_cmd(*args: str) -> list[str]:
    exe = shutil.which("netc")
    return [exe, *args] if exe else [sys.executable, "-m", "netc", *args]


def make_data(folder: Path) -> Path:
    # 20000 samples in batches of 10: 2000 steps, a few tenths of a second per epoch.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20000, 20))
    t = np.argmax(x @ rng.standard_normal((20, 5)), axis=1)
    path = folder / "big.npz"
    np.savez(path, x_train=x, t_train=t)
    return path


def read_lines(proc: subprocess.Popen[str], out: queue.Queue[tuple[float, str | None]]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        out.put((time.monotonic(), line))
    out.put((time.monotonic(), None))


def next_epoch_line(lines: queue.Queue[tuple[float, str | None]]) -> tuple[float, str]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        stamp, line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        assert line is not None, "netc run ended before printing the next epoch"
        if line.startswith("epoch "):
            return stamp, line


def test_kill_9_mid_epoch_then_resume_is_bit_identical(tmp_path: Path) -> None:
    spec = tmp_path / "big.net"
    spec.write_text(SPEC)
    data = make_data(tmp_path)
    full_ck, ck = tmp_path / "full.npz", tmp_path / "ck.npz"
    base = ["run", str(spec), "--data", str(data)]

    full = subprocess.Popen(netc_cmd(*base, "--checkpoint", str(full_ck), "--quiet"),
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    victim = subprocess.Popen(netc_cmd(*base, "--checkpoint", str(ck)), cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    waited = False
    try:
        lines: queue.Queue[tuple[float, str | None]] = queue.Queue()
        threading.Thread(target=read_lines, args=(victim, lines), daemon=True).start()
        # Each epoch line is printed right after that epoch's checkpoint was written.
        t1, _ = next_epoch_line(lines)
        t2, line2 = next_epoch_line(lines)
        assert line2.startswith(f"epoch 2/{EPOCHS}") and ck.exists()
        time.sleep((t2 - t1) / 2)  # about half way through epoch 3
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=TIMEOUT) == -signal.SIGKILL
        done = 2
        while True:
            _, line = lines.get(timeout=TIMEOUT)
            if line is None:
                break
            done += line.startswith("epoch ")
        waited = True
    finally:
        for proc in (victim, full):  # never leave a process behind when a wait failed
            if proc.poll() is None and (proc is victim or not waited):
                proc.kill()
                proc.wait(timeout=TIMEOUT)
    try:
        out, _ = full.communicate(timeout=TIMEOUT)
    finally:
        if full.poll() is None:
            full.kill()
            full.wait(timeout=TIMEOUT)
    assert full.returncode == 0, out
    # The checkpoint is intact, holds exactly the epochs that finished, and the run stopped
    # before the end (so the kill landed inside an epoch, not after the last one).
    stopped = load_checkpoint(ck)
    assert stopped.meta["epoch"] == done < EPOCHS
    assert stopped.meta["step"] == 0 and stopped.meta["perm"] is None

    resumed = subprocess.run(netc_cmd(*base, "--checkpoint", str(ck), "--resume", str(ck),
                                      "--quiet"),
                             cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"trained {EPOCHS} epochs" in resumed.stdout
    a, b = load_checkpoint(full_ck), load_checkpoint(ck)
    assert a.meta["epoch"] == b.meta["epoch"] == EPOCHS
    for mine, theirs in ((a.params, b.params), (a.buffers, b.buffers),
                         (a.optimizer, b.optimizer)):
        assert list(mine) == list(theirs)
        for k in mine:
            np.testing.assert_array_equal(mine[k], theirs[k], err_msg=k)
    assert a.meta["updates"] == b.meta["updates"] == EPOCHS * 2000
    assert a.meta["shuffle_rng"] == b.meta["shuffle_rng"]

    def losses(meta: dict) -> list[tuple[float, float]]:
        return [(r["train_loss"], r["train_acc"]) for r in meta["history"]]

    assert losses(a.meta) == losses(b.meta)
    assert not list(tmp_path.glob("*.interrupted.ckpt.npz"))
    assert os.path.getsize(ck) > 0
