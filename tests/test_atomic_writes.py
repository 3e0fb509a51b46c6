"""Writes that never damage what they replace (issue 11): devices, FIFOs and descriptors are
written directly, links are written through, modes are kept, temporaries are unique and a
killed writer's are cleaned up, and one run at a time writes a checkpoint.

Tests that touch the real `/dev/null` or `/dev/stdout` have `real_dev` in their names: the
code before this fix replaced them (as root), so check it with the `mknod` twins instead.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
SPIRAL = ROOT / "specs" / "spiral.net"
UNFORMATTED = "input: 2\n   affine(3)  ->   softmax_ce\n"
# Another run as the lock's protocol sees it: an flock on `<checkpoint>.lock`, its pid inside.
HOLD = """\
import fcntl, os, sys, time
fd = os.open(sys.argv[1] + ".lock", os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, b"%d\\n" % os.getpid())
print("held", flush=True)
time.sleep(120)
"""
KILLED_MID_WRITE = """\
import sys, time
from netc.runtime import checkpoint

def slow(f, **arrays):
    f.write(b"PK" * 50_000)
    f.flush()
    print("writing", flush=True)
    time.sleep(120)

checkpoint.np.savez = slow
checkpoint.save_checkpoint(sys.argv[1], checkpoint.Checkpoint({}))
"""


def netc_proc(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netc", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def started(script: str, *args: object, ready: str) -> subprocess.Popen[str]:
    """A Python child running `script`, once it has printed `ready`."""
    proc = subprocess.Popen([sys.executable, "-c", script, *map(str, args)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == ready
    return proc


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def char_device(tmp_path: Path) -> Path:
    """A private twin of /dev/null (char 1:3) that a broken writer may destroy."""
    dev = tmp_path / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root")
    return dev


def assert_null_device(path: str | Path) -> None:
    st = os.stat(path)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3), path


def compiled(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["compile", str(SPIRAL)]) == 0
    return capsys.readouterr().out


# ---------------------------------------------------------------- devices and descriptors


def test_run_writes_metrics_and_checkpoint_into_a_device_without_replacing_it(tmp_path, capsys):
    dev = char_device(tmp_path)
    code, _, err = cli(capsys, "run", SPIRAL, "--epochs", "2", "--quiet",
                       "--metrics-json", dev, "--checkpoint", dev)
    assert code == 0, err
    assert_null_device(dev)
    assert os.listdir(tmp_path) == ["null"]  # no temporary, no lock file left


def test_real_dev_null_as_metrics_json_and_checkpoint_stays_a_device(capsys):
    code, _, err = cli(capsys, "run", SPIRAL, "--epochs", "2", "--quiet",
                       "--metrics-json", "/dev/null", "--checkpoint", "/dev/null")
    assert code == 0, err
    assert_null_device("/dev/null")


def test_real_dev_stdout_compile_prints_and_keeps_the_link(tmp_path, capsys):
    link = os.readlink("/dev/stdout")
    done = netc_proc("compile", SPIRAL, "-o", "/dev/stdout", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == compiled(capsys)
    assert os.readlink("/dev/stdout") == link


def test_link_to_dev_stdout_writes_to_stdout_and_stays_a_link(tmp_path, capsys):
    out = tmp_path / "out.py"
    out.symlink_to("/dev/stdout")
    done = netc_proc("compile", SPIRAL, "-o", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == compiled(capsys)
    assert out.is_symlink() and os.readlink(out) == "/dev/stdout"


def test_link_to_dev_stdout_appends_when_stdout_is_a_file_opened_to_append(tmp_path):
    log, link = tmp_path / "log.txt", tmp_path / "m.json"
    log.write_text("before\n")
    link.symlink_to("/dev/stdout")  # a private link: the code before the fix replaced it
    with open(log, "a") as f:  # as a shell's `>>` opens it
        done = subprocess.run([sys.executable, "-m", "netc", "run", str(SPIRAL), "--epochs",
                               "1", "--quiet", "--metrics-json", str(link)], cwd=tmp_path,
                              stdout=f, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert text.startswith('before\n{\n  "history"') and "trained 1 epoch" in text
    assert link.is_symlink()


def test_fifo_without_a_reader_is_refused_at_once_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "out.py"
    os.mkfifo(fifo)
    done = netc_proc("compile", SPIRAL, "-o", fifo, cwd=tmp_path)  # 120 s: a hang guard
    assert done.returncode == 1
    assert done.stderr == (f"{fifo}: cannot write the file: it is a FIFO that no process is "
                           "reading; start the reader first\n")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_fifo_with_a_reader_receives_the_output(tmp_path, capsys):
    fifo = tmp_path / "out.py"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        expected = compiled(capsys)
        assert len(expected) < 60_000  # fits the pipe's buffer: no second thread needed
        assert main(["compile", str(SPIRAL), "-o", str(fifo)]) == 0
        assert os.read(reader, 1 << 20).decode() == expected
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_socket_is_refused_and_kept(tmp_path, capsys):
    path = tmp_path / "out.py"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        code, _, err = cli(capsys, "compile", SPIRAL, "-o", path)
    assert code == 1 and "it is a socket" in err
    assert stat.S_ISSOCK(os.stat(path).st_mode)


# ---------------------------------------------------------------- links, modes, names


def test_symlinked_target_is_written_through(tmp_path, capsys):
    real, link = tmp_path / "real.py", tmp_path / "link.py"
    real.write_text("old")
    link.symlink_to("real.py")
    assert main(["compile", str(SPIRAL), "-o", str(link)]) == 0
    assert link.is_symlink() and os.readlink(link) == "real.py"
    assert real.read_text() == compiled(capsys)
    assert sorted(os.listdir(tmp_path)) == ["link.py", "real.py"]


def test_dangling_symlink_creates_its_target(tmp_path, capsys):
    link = tmp_path / "link.json"
    link.symlink_to("metrics.json")
    assert main(["run", str(SPIRAL), "--epochs", "1", "--quiet", "--metrics-json",
                 str(link)]) == 0
    assert link.is_symlink() and '"history"' in (tmp_path / "metrics.json").read_text()


def test_fmt_keeps_a_read_only_spec_read_only(tmp_path, capsys):
    spec = tmp_path / "s.net"
    spec.write_text(UNFORMATTED)
    spec.chmod(0o400)
    assert main(["fmt", str(spec)]) == 0
    assert stat.S_IMODE(spec.stat().st_mode) == 0o400
    assert spec.read_text() != UNFORMATTED


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_new_files_get_the_umask_mode_not_0600(tmp_path, capsys, mask):
    old = os.umask(mask)
    try:
        assert main(["run", str(SPIRAL), "--epochs", "1", "--quiet", "--checkpoint",
                     str(tmp_path / "ck.npz"), "--metrics-json", str(tmp_path / "m.json")]) == 0
    finally:
        os.umask(old)
    for name in ("ck.npz", "m.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name


def test_existing_out_tmp_dot_is_not_consumed(tmp_path, capsys):
    mine = tmp_path / "out.tmp.dot"
    mine.write_text("mine")
    assert main(["graph", str(SPIRAL), "-o", str(tmp_path / "out.dot")]) == 0
    assert mine.read_text() == "mine"
    assert (tmp_path / "out.dot").read_text().startswith("digraph")


def test_symlink_at_the_old_fixed_temp_name_is_not_followed(tmp_path, capsys):
    victim, spec = tmp_path / "victim.txt", tmp_path / "spec.net"
    victim.write_text("precious")
    spec.write_text(UNFORMATTED)
    (tmp_path / "spec.tmp.net").symlink_to(victim)
    assert main(["fmt", str(spec)]) == 0
    assert victim.read_text() == "precious"
    assert (tmp_path / "spec.tmp.net").is_symlink()


def test_temporary_is_unique_hidden_and_beside_the_target(tmp_path):
    from netc.atomic import write_atomically

    seen: list[str] = []
    write_atomically(tmp_path / "out.bin", lambda f: seen.extend(os.listdir(tmp_path)))
    pid = os.getpid()
    assert len(seen) == 1 and re.fullmatch(rf"\.out\.bin\.{pid}\.\w{{8}}\.netc-tmp\.bin", seen[0])
    assert os.listdir(tmp_path) == ["out.bin"]


# ---------------------------------------------------------------- a killed writer's leftovers


def test_stale_temporaries_are_removed_by_the_next_write(tmp_path, capsys):
    gone = dead_pid()
    stale = tmp_path / f".out.py.{gone}.abcdefgh.netc-tmp.py"
    other_target = tmp_path / f".other.py.{gone}.abcdefgh.netc-tmp.py"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    live = tmp_path / f".out.py.{sleeper.pid}.ijklmnop.netc-tmp.py"
    locked = tmp_path / f".out.py.{gone}.qrstuvwx.netc-tmp.py"  # a writer in another pid ns
    try:
        for path in (stale, other_target, live, locked):
            path.write_bytes(b"x" * 1000)
        with open(locked, "rb") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            assert main(["compile", str(SPIRAL), "-o", str(tmp_path / "out.py")]) == 0
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not stale.exists()
    assert live.exists() and other_target.exists() and locked.exists()


def test_kill_9_during_a_checkpoint_write_leaves_nothing_after_the_next_write(tmp_path):
    from netc.runtime.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

    ck = tmp_path / "ck.npz"
    save_checkpoint(ck, Checkpoint({"w": np.zeros(3)}))
    victim = started(KILLED_MID_WRITE, ck, ready="writing")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert len(os.listdir(tmp_path)) == 2  # the checkpoint and the killed writer's temporary
    save_checkpoint(ck, Checkpoint({"w": np.ones(3)}))
    assert os.listdir(tmp_path) == ["ck.npz"]
    assert load_checkpoint(ck).params["w"].tolist() == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------- one writer per checkpoint


def _tiny_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((20, 2)), np.arange(20) % 3


def test_second_writer_of_a_checkpoint_is_refused_while_the_first_holds_it(tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    holder = started(HOLD, ck, ready="held")
    try:
        code, out, err = cli(capsys, "run", SPIRAL, "--epochs", "1", "--checkpoint", ck)
        assert code == 1 and "epoch" not in out
        assert err == (f"{ck}: another run is writing this checkpoint (pid {holder.pid} holds "
                       f"{ck}.lock)\n  hint: wait for it to end, or give this run another "
                       "checkpoint path\n")
        net = netc.load(SPIRAL)
        with pytest.raises(DataError, match=f"pid {holder.pid} holds"):
            net.fit(*_tiny_data(), epochs=1, checkpoint=ck)
        assert not ck.exists()
    finally:
        holder.kill()  # kill -9: the kernel drops the lock, the lock file stays behind
        holder.wait()
    assert (tmp_path / "ck.npz.lock").exists()
    code, _, err = cli(capsys, "run", SPIRAL, "--epochs", "1", "--quiet", "--checkpoint", ck)
    assert code == 0, err
    assert os.listdir(tmp_path) == ["ck.npz"]


def test_two_real_runs_on_one_checkpoint_the_second_is_refused(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "big.npz"
    np.savez(data, x_train=rng.standard_normal((20000, 2)), t_train=np.arange(20000) % 3)
    ck = tmp_path / "ck.npz"
    first = subprocess.Popen(
        [sys.executable, "-m", "netc", "run", str(SPIRAL), "--data", str(data), "--epochs", "50",
         "--batch-size", "10", "--checkpoint", str(ck)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert first.stdout is not None
        assert first.stdout.readline().startswith("epoch ")  # it is training now
        code, out, err = cli(capsys, "run", SPIRAL, "--epochs", "1", "--checkpoint", ck)
        assert code == 1 and "epoch" not in out
        assert f"another run is writing this checkpoint (pid {first.pid} holds" in err
    finally:
        first.kill()
        first.wait()
        first.stdout.close()


def test_fit_holds_the_checkpoint_lock_for_the_whole_run_and_releases_it(tmp_path):
    from netc.outputs import OutputLock

    ck = tmp_path / "ck.npz"
    refused: list[str] = []

    def on_epoch(record: dict) -> None:
        with pytest.raises(DataError, match="another run is writing") as info:
            OutputLock(ck).acquire()
        refused.append(str(info.value))
        if record["epoch"] == 2:
            raise RuntimeError("stop")

    net = netc.load(SPIRAL)
    with pytest.raises(RuntimeError, match="stop"):
        net.fit(*_tiny_data(), epochs=3, checkpoint=ck, on_epoch=on_epoch)
    assert len(refused) == 2 and f"pid {os.getpid()}" in refused[0]
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]  # released, lock file removed
    net.fit(*_tiny_data(), epochs=1, checkpoint=ck)


def test_checkpoints_through_two_links_share_one_lock(tmp_path):
    from netc.outputs import OutputLock

    (tmp_path / "a.npz").symlink_to("ck.npz")
    with OutputLock(tmp_path / "ck.npz"), pytest.raises(DataError, match="another run"):
        OutputLock(tmp_path / "a.npz").acquire()


# ---------------------------------------------------------------- checked before the work


def test_bad_plot_name_fails_before_training_and_writes_nothing(tmp_path, capsys):
    code, out, err = cli(capsys, "run", SPIRAL, "--epochs", "3", "--metrics-json",
                         tmp_path / "m.json", "--plot", tmp_path / "curves")
    assert code == 1 and "epoch" not in out
    assert "the name has no suffix; use one of .png, .svg, .pdf" in err
    assert os.listdir(tmp_path) == []


def test_export_refuses_a_suffix_other_than_onnx_before_loading(tmp_path, capsys):
    code, _, err = cli(capsys, "export", SPIRAL, "-o", tmp_path / "model.pt", "--checkpoint",
                       tmp_path / "missing.npz")
    assert code == 1 and "unsupported suffix '.pt'; use .onnx" in err
    assert os.listdir(tmp_path) == []
