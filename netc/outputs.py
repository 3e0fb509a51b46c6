"""Output paths, checked before the work that fills them, and the lock that keeps two runs
from writing one checkpoint.

Every command checks each output path (`--plot`, `--metrics-json`, `--checkpoint`, `-o`)
with `check_output` before it trains or loads anything: a wrong suffix, a missing or
read-only folder or a directory in the way should cost seconds, not a whole run. The writing
itself (and its rules for devices, FIFOs and links) is `netc/atomic.py`.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Sequence
from types import TracebackType

from .atomic import reason, stream_fd
from .errors import DataError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, so no lock (see `acquire`)
    fcntl = None  # type: ignore[assignment]

PROBE_BYTES = 64 * 1024


def check_output(path: str | os.PathLike[str], *, what: str,
                 suffixes: Sequence[str] | None = None) -> None:
    """Raise a `DataError` now if `what` ("the plot") could not be written to `path` later:
    a suffix outside `suffixes`, a directory in the way, a missing or unwritable folder, a
    full disk (64 KiB are written and removed). Devices and FIFOs pass: they are written
    directly."""
    target = os.fspath(path)
    if suffixes is not None:
        check_suffix(target, what=what, suffixes=suffixes)
    if stream_fd(target) is not None:
        return
    try:
        st: os.stat_result | None = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        st = None  # not there yet, or a file in the folder's place: told below
    except OSError as e:
        raise DataError(f"{target}: cannot write {what}: {reason(e)}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise DataError(f"{target}: cannot write {what}: it is a directory")
    if st is not None and stat.S_ISSOCK(st.st_mode):
        raise DataError(f"{target}: cannot write {what}: it is a socket; write to a file, "
                        "a device or a FIFO")
    if st is not None and not stat.S_ISREG(st.st_mode):
        return
    folder = os.path.dirname(os.path.realpath(target))
    if not os.path.isdir(folder):
        state = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise DataError(f"{target}: cannot write {what}: folder {folder} {state}")
    try:
        # Writing real bytes (not just creating the file) also catches a full disk.
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".netc-write-test-") as probe:
            probe.write(b"\0" * PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as e:
        raise DataError(f"{target}: cannot write {what} in folder {folder}: {reason(e)}"
                        ) from None


def check_suffix(target: str, *, what: str, suffixes: Sequence[str]) -> None:
    """Refuse a name whose suffix (the format) is not one of `suffixes` (".png", ...)."""
    suffix = os.path.splitext(target)[1].lower()
    if suffix in suffixes:
        return
    choices = ", ".join(suffixes)
    choices = f"one of {choices}" if len(suffixes) > 1 else choices
    problem = f"unsupported suffix {suffix!r}" if suffix else "the name has no suffix"
    raise DataError(f"{target}: cannot write {what}: {problem}; use {choices}")


class OutputLock:
    """An exclusive `flock` on `<target>.lock`, held while one process writes `target`.

    The kernel drops a flock when its holder exits, however it exits, so the file a killed
    run leaves behind blocks nobody. The holder's pid in the file is for the message only.
    """

    def __init__(self, path: str | os.PathLike[str], *, what: str = "checkpoint") -> None:
        self.target, self.what, self.fd = os.fspath(path), what, -1
        self.path = os.path.realpath(self.target) + ".lock"  # links share one lock

    def acquire(self) -> OutputLock:
        if fcntl is None or not _lockable(self.target):
            return self  # no locks here, or /dev/null and the like: nothing to protect
        for _ in range(10):
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = _holder(fd)
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise DataError(
                        f"{self.target}: another run is writing this {self.what} ({holder} "
                        f"holds {self.path})\n  hint: wait for it to end, or give this run "
                        f"another {self.what} path") from None
                raise DataError(f"{self.target}: cannot lock the {self.what}: {reason(e)}"
                                ) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its last holder removed it meanwhile: lock the new one
        else:
            raise DataError(f"{self.target}: cannot lock the {self.what}: {self.path} keeps "
                            "changing")
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd < 0:
            return
        if _same_file(self.fd, self.path):  # removed while still held: no one races for it
            try:
                os.unlink(self.path)
            except OSError:
                pass
        os.close(self.fd)
        self.fd = -1

    def _open(self) -> int:
        try:
            # O_NOFOLLOW: a link planted at the lock's name must not truncate what it names.
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                           0o644)
        except OSError as e:
            why = ("a symbolic link is in its place; remove it" if e.errno == errno.ELOOP
                   else reason(e))
            raise DataError(f"{self.target}: cannot lock the {self.what} ({self.path}): "
                            f"{why}") from None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _lockable(target: str) -> bool:
    if stream_fd(target) is not None:
        return False
    try:
        return stat.S_ISREG(os.stat(target).st_mode)
    except OSError:
        return True  # not there yet


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return f"pid {text}" if text.isascii() and text.isdigit() else "another process"


def _same_file(fd: int, path: str) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
