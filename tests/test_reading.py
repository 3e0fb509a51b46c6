"""`netc/reading.py`: regular files only, opened without blocking, read up to a limit; and
the readers built on it (spec sources, `fmt`, checkpoints). CLI messages are in the `reads`
bad-input catalogue."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from netc import reading
from netc.errors import DataError
from netc.reading import open_regular, read_bounded
from netc.runtime.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from netc.source import Source
from netc.terminal import printable


def _within(seconds: float, fn, *args):  # noqa: ANN001, ANN202
    """`fn(*args)` in a thread; fails (instead of hanging the suite) if it blocks."""
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001  (handed to the test thread)
            result["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} blocked"
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]


def test_fifo_swapped_in_after_stat_is_refused_without_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race the second check closes: stat saw a regular file, open finds a FIFO.
    pipe = tmp_path / "spec.net"
    os.mkfifo(pipe)
    real = os.stat
    regular = os.stat_result((stat.S_IFREG | 0o644, 0, 0, 1, 0, 0, 10, 0, 0, 0))
    monkeypatch.setattr(reading.os, "stat", lambda p, *a, **k: regular if str(p) == str(pipe)
                        else real(p, *a, **k))
    with pytest.raises(DataError, match=r"spec\.net: is a FIFO, not a spec file"):
        _within(5, open_regular, pipe, "spec file")


def test_devices_and_sockets_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^/dev/null: is a device, not a checkpoint file$"):
        open_regular("/dev/null", "checkpoint file")
    import socket

    sock_path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock_path))
        with pytest.raises(DataError, match="is a socket, not a data file"):
            open_regular(sock_path, "data file")


def test_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "real.net").write_text("input: 2\n")
    (tmp_path / "link.net").symlink_to(tmp_path / "real.net")
    assert read_bounded(tmp_path / "link.net", "spec file", 100) == b"input: 2\n"


def test_read_bounded_limit_is_inclusive(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_bounded(path, "spec file", 10) == b"x" * 10
    with pytest.raises(DataError, match=r"too large for a spec file \(10 bytes\); the limit is 9"):
        read_bounded(path, "spec file", 9)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_read_bounded_stops_at_the_limit_when_the_size_lies() -> None:
    # /proc files report size 0 but have content: only limit + 1 bytes are read.
    assert os.stat("/proc/self/status").st_size == 0
    with pytest.raises(DataError, match=r"too large for a spec file; the limit is 10 bytes"):
        read_bounded("/proc/self/status", "spec file", 10)


def test_spec_from_path_refuses_dev_zero_at_once() -> None:
    with pytest.raises(DataError, match="^/dev/zero: is a device, not a spec file$"):
        _within(5, Source.from_path, "/dev/zero")


def test_spec_from_path_keeps_the_character_limit_message_below_the_byte_limit(
    tmp_path: Path,
) -> None:
    # 1.5 million characters: over the parser's limit, under the reader's, so the parser's
    # located message (with its hint) is still what a user sees.
    from netc.dsl.parser import MAX_SOURCE_CHARS
    from netc.errors import SpecLimitError
    from netc.source import MAX_SPEC_BYTES

    assert MAX_SPEC_BYTES >= 4 * MAX_SOURCE_CHARS  # any file over it is over the char limit
    path = tmp_path / "long.net"
    path.write_text("input: 2\n" + "# " + "x" * 1_500_000 + "\n")
    with pytest.raises(SpecLimitError, match="1,500,012 characters long; the limit is"):
        import netc

        netc.parse(netc.read(path))


@pytest.mark.parametrize("text, shown", [
    ("plain", "plain"), ("\x1b[31mred", "\\x1b[31mred"), ("a\nb\tc", "a\\nb\\tc"),
    ("\u202eevil", "\\u202eevil"), ("naïve ٣", "naïve ٣"),
])
def test_printable_escapes_control_characters(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_cuts_long_text() -> None:
    out = printable("a" * 10_000 + "\x07", limit=20)
    assert len(out) < 30 and out.startswith("a" * 10) and out.endswith("\\x07")


# ---- checkpoints --------------------------------------------------------------------------------


def _ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "ck.npz"
    save_checkpoint(path, Checkpoint({"W": np.ones((2, 2))}, meta={"spec_hash": "abc"}))
    return path


def test_checkpoint_fifo_is_refused_at_once(tmp_path: Path) -> None:
    pipe = tmp_path / "ck.npz"
    os.mkfifo(pipe)
    with pytest.raises(DataError, match=r"ck\.npz: is a FIFO, not a checkpoint file"):
        _within(5, load_checkpoint, pipe)


def test_checkpoint_spec_hash_is_checked_before_any_array_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zipfile

    path = _ckpt(tmp_path)
    opened: list[str] = []
    real = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, name, *a, **k: (
        opened.append(getattr(name, "filename", name)), real(self, name, *a, **k))[1])
    with pytest.raises(DataError, match="different spec"):
        load_checkpoint(path, spec_hash="other")
    assert opened == ["meta.npy"]
    assert load_checkpoint(path, spec_hash="abc").params["W"].shape == (2, 2)


def test_checkpoint_member_declaring_more_than_its_entry_is_corrupt(tmp_path: Path) -> None:
    import io
    import zipfile

    path = _ckpt(tmp_path)
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 4)})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("param/V.npy", head.getvalue() + bytes(8))
    with pytest.raises(DataError, match=r"ck\.npz: corrupt checkpoint: member 'param/V' "
                                        r"declares shape \(1000000000000, 4\) of float64"):
        load_checkpoint(path)
