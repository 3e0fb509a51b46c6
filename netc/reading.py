"""Shared read stage: every file netc reads is opened here, so no read can hang or balloon.

`open_regular` refuses anything but a regular file (a FIFO would block `open` forever, and
`/dev/zero` never ends) and opens it without blocking; `read_bounded` reads at most its limit
plus one byte. Standard library only: `netc check` reads specs through this module and must
not load numpy.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from .errors import DataError
from .terminal import printable

_CHUNK = 1 << 20


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"  # character or block device, such as /dev/zero


def refuse_kind(path: str, mode: int, what: str) -> None:
    """A `DataError` unless `mode` is a regular file's: "<path>: is a FIFO, not a <what>"."""
    kind = _kind(mode)
    if kind is not None:
        raise DataError(f"{path}: is {kind}, not a {what}")


def open_regular(path: str | os.PathLike[str], what: str) -> BinaryIO:
    """`path` opened for binary reading, or a `DataError` naming it; `what` names the role.

    The mode is checked twice: before opening (`os.stat` follows symlinks) and on the open
    descriptor, which is what is read. `O_NONBLOCK` keeps a FIFO swapped in between the two
    from blocking `open`; on a regular file the flag has no effect.
    """
    name = os.fspath(path)
    name = os.fsdecode(name) if isinstance(name, bytes) else name
    try:
        refuse_kind(name, os.stat(name).st_mode, what)
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, not a {what}") from None
    except OSError as e:
        raise DataError(f"{name}: cannot read: {e.strerror or e}") from None
    except ValueError:  # a NUL character in the name (possible in a spec's data path)
        raise DataError(f"{printable(name)}: not a valid file name") from None
    try:
        refuse_kind(name, os.fstat(fd).st_mode, what)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_bounded(path: str | os.PathLike[str], what: str, limit: int) -> bytes:
    """The whole content of `path`, refused with a `DataError` if it holds over `limit` bytes.

    Why the size is checked before reading: a 500 MB file is refused without loading it, and
    reading at most `limit + 1` bytes bounds a file that grows while it is read.
    """
    with open_regular(path, what) as f:
        name = os.fsdecode(os.fspath(path))
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise DataError(_too_large(name, what, size, limit))
        try:
            raw = _read_at_most(f, limit + 1)
        except OSError as e:
            raise DataError(f"{name}: cannot read: {e.strerror or e}") from None
    if len(raw) > limit:
        raise DataError(_too_large(name, what, None, limit))
    return raw


def _read_at_most(f: BinaryIO, n: int) -> bytes:
    chunks, size = [], 0
    while size < n and (chunk := f.read(min(_CHUNK, n - size))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _too_large(name: str, what: str, size: int | None, limit: int) -> str:
    has = f" ({size:,} bytes)" if size is not None else ""
    return f"{name}: too large for a {what}{has}; the limit is {limit:,} bytes"

