"""Shared file output: every file netc writes (checkpoints, metrics, plots, code, diagrams,
ONNX models, predictions, formatted specs) goes through `output_file`, so the rules below hold
for all of them and live in one place.

- A regular file is written to a unique temporary beside it (`tempfile`, O_EXCL: a symlink
  planted at a temporary name is never followed), flushed and fsynced, given the old file's
  mode (or the umask's, not tempfile's 0600), renamed onto the target, and the folder fsynced.
  A reader never sees half a file, and a failure leaves the old one intact.
- A symlink is written through: the file it finally names is replaced; the link stays.
- Anything that is not a regular file is written directly, never replaced: `/dev/null` stays
  a device, and `/dev/stdout`, `/dev/stderr`, `/dev/fd/N` write to that descriptor (so a
  shell's `>>` still appends). A FIFO is opened without blocking: with no reader the write is
  refused at once rather than hanging (a reader that is already waiting, as in
  `cat fifo & netc compile -o fifo`, still works). A socket is refused (it cannot be opened).
- Temporaries carry their writer's pid in their name and a `flock` while written; one whose
  writer is gone (a `kill -9` mid-write) is removed by the next write to the same target.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from .errors import DataError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locks, the pid check alone decides
    fcntl = None  # type: ignore[assignment]

TMP_MARK = ".netc-tmp"
_NAME_KEEP = 100  # characters of the target's name kept in a temporary's name (NAME_MAX)
_FD_PATH = re.compile(r"/dev/(stdout|stderr|fd/([0-9]+))"
                      r"|/proc/(self|thread-self|[0-9]+)/fd/([0-9]+)")


def write_atomically(path: str | os.PathLike[str], write: Callable[[BinaryIO], None], *,
                     what: str = "the file",
                     errors: tuple[type[Exception], ...] = (OSError,)) -> None:
    """Call `write(f)` with a binary file that becomes `path` (see the module docstring); on
    failure raise a `DataError` naming `path`: "<path>: cannot write <what>: <reason>"."""
    target = os.fspath(path)
    try:
        with output_file(target) as f:
            write(f)
    except errors as e:
        raise DataError(f"{target}: cannot write {what}: {reason(e)}") from None


def reason(e: BaseException) -> str:
    """An OS error's own words ("No space left on device"), without "[Errno 28]"."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


@contextmanager
def output_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file whose contents become `path` when the block ends without an exception.
    Raises `OSError`s as they come (callers add the file's role to the message)."""
    target = os.fspath(path)
    fd = stream_fd(target)
    if fd is not None:
        with _open_stream(fd) as f:
            yield f
        return
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None  # a new file (or a dangling link: its target is created)
    if st is not None and not stat.S_ISREG(st.st_mode):
        with _open_special(target, st) as f:
            yield f
        return
    with _replacing(os.path.realpath(target), st) as f:
        yield f


def stream_fd(target: str) -> int | None:
    """The descriptor that `target` names (`/dev/stdout`, `/dev/fd/3`, a link to either), or
    None. Followed link by link: `realpath` would skip past it to a pipe or a tty."""
    path = os.path.abspath(target)
    for _ in range(40):  # the kernel's own limit on links followed
        m = _FD_PATH.fullmatch(path)
        if m and (m[3] in (None, "self", "thread-self") or int(m[3]) == os.getpid()):
            return {"stdout": 1, "stderr": 2}.get(m[1]) or int(m[2] or m[4])
        try:
            link = os.readlink(path)
        except OSError:
            return None
        folder = os.path.realpath(os.path.dirname(path))
        path = os.path.normpath(os.path.join(folder, link))
    return None


@contextmanager
def _open_stream(fd: int) -> Iterator[BinaryIO]:
    for stream in (sys.stdout, sys.stderr):  # keep netc's own output in order
        if stream is not None:
            stream.flush()
    with _direct(os.dup(fd)) as f:
        yield f


@contextmanager
def _open_special(target: str, st: os.stat_result) -> Iterator[BinaryIO]:
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a directory")
    if stat.S_ISSOCK(st.st_mode):
        raise OSError(errno.ENXIO, "it is a socket; write to a file, a device or a FIFO")
    try:
        # Why O_NONBLOCK: opening a FIFO for writing otherwise waits forever for a reader.
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ENXIO and stat.S_ISFIFO(st.st_mode):
            raise OSError(errno.ENXIO, "it is a FIFO that no process is reading; start the "
                          "reader first") from None
        raise
    if fcntl is not None:  # writes may block again: a slow reader is not an error
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    with _direct(fd) as f:
        yield f


class _Unseekable(io.RawIOBase):
    """Writes to a descriptor that must not be seeked. `/dev/null` accepts seeks but always
    says offset 0, which makes zipfile (np.savez) write a broken end record; refusing them
    makes zipfile and matplotlib's PDF writer stream instead."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return os.write(self._fd, data)

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if not self.closed:
            super().close()
            os.close(self._fd)


def _direct(fd: int) -> BinaryIO:
    return io.BufferedWriter(_Unseekable(fd))  # type: ignore[return-value]


@contextmanager
def _replacing(real: str, st: os.stat_result | None) -> Iterator[BinaryIO]:
    folder, name = os.path.split(real)
    remove_stale_temporaries(folder, name)
    ext = os.path.splitext(name)[1]
    tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, kept on success
        mode="wb", dir=folder or ".", delete=False, prefix=f"{_temp_prefix(name)}{os.getpid()}.",
        suffix=TMP_MARK + (ext if len(ext) <= 16 else ""))
    try:
        with tmp:
            if fcntl is not None:
                fcntl.flock(tmp.fileno(), fcntl.LOCK_EX)  # "my writer is alive"
            _set_mode(tmp.fileno(), st)
            yield tmp  # type: ignore[misc]
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, real)
    except BaseException:
        _remove_quietly(tmp.name)
        raise
    sync_folder(folder or ".")


def _temp_prefix(name: str) -> str:
    return f".{name[:_NAME_KEEP]}."


def _set_mode(fd: int, st: os.stat_result | None) -> None:
    """The replaced file's mode and owner; a new file gets 0666 less the umask."""
    if st is None:
        os.fchmod(fd, 0o666 & ~_umask())
        return
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
        try:  # as root, rewriting another user's file keeps it theirs; best effort
            os.fchown(fd, st.st_uid, st.st_gid)
        except OSError:
            pass


def _umask() -> int:
    try:  # Why /proc first: os.umask can only be read by setting it, which races threads
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temporaries(folder: str, name: str) -> None:
    """Remove the temporaries of `name` left in `folder` by writers that are gone."""
    pattern = re.compile(re.escape(_temp_prefix(name)) + r"([0-9]+)\.[^./]+" + re.escape(TMP_MARK))
    try:
        entries = [e for e in os.scandir(folder or ".") if e.name.startswith(_temp_prefix(name))]
    except OSError:
        return  # the write itself will report the folder
    for entry in entries:
        m = pattern.match(entry.name)
        if m and entry.is_file(follow_symlinks=False) and _writer_gone(entry.path, int(m[1])):
            _remove_quietly(entry.path)


def _writer_gone(path: str, pid: int) -> bool:
    if pid == os.getpid():
        return False  # another thread of this process may be writing it
    try:
        os.kill(pid, 0)
        return False
    except ProcessLookupError:
        pass
    except OSError:
        return False  # EPERM: alive, another user's
    if fcntl is None:
        return True
    # A pid from another pid namespace (a container sharing the folder) looks dead: the lock
    # that a live writer holds says otherwise.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _remove_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass


def sync_folder(folder: str) -> None:
    """fsync a folder, which makes a rename in it durable; best effort (not every platform or
    file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
