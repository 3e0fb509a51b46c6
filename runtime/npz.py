"""Runtime read stage: `.npz` archives (data, checkpoints, predict inputs) read without trust.

`np.load` allocates whatever a member's `.npy` header declares before reading a byte of data,
and inflates members nobody asked for. `NpzArchive` reads the zip directory, then for each
member asked for its header, and checks the declared size against the zip entry and the
memory available before anything is allocated or decompressed. Object arrays (pickles) are
never loaded. Problems a caller words itself (not a zip, a pickle, a corrupt member) are an
`ArchiveError` carrying its `kind`; size problems are `DataError`s naming the file.
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
import zlib
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy

from ..errors import DataError
from ..reading import open_regular
from ..terminal import printable

try:
    import lzma
except ImportError:  # Python built without liblzma: zipfile cannot read such members either
    lzma = None  # type: ignore[assignment]

_CHUNK = 16 << 20
# What reading a tampered member can raise, from zipfile and the decompressors under it.
_CORRUPT: tuple[type[Exception], ...] = (
    zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError, NotImplementedError,
    zlib.error, *((lzma.LZMAError,) if lzma else ()))
_MAX_LISTED = 10  # member names listed in a message


class ArchiveError(Exception):
    """`kind` is "not_zip", "pickle" or "corrupt"; `detail` says what was found."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(detail or kind)
        self.kind, self.detail = kind, detail


class NpzArchive:
    """An open `.npz` file: `names` of its members, and `read(name)` for one array."""

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        self.path = os.fsdecode(os.fspath(path))
        self._file = open_regular(path, what)
        try:
            self._zip = _open_zip(self._file)
        except BaseException:
            self._file.close()
            raise
        infos = {}
        for info in self._zip.infolist():
            infos[info.filename.removesuffix(".npy")] = info
        self._infos = infos

    @property
    def names(self) -> list[str]:
        """Member names as `np.load` gives them (`.npy` removed), in archive order."""
        return list(self._infos)

    def listing(self) -> str:
        """The member names for a message: escaped, and at most `_MAX_LISTED` of them."""
        names = [printable(n) for n in sorted(self._infos)]
        more = len(names) - _MAX_LISTED
        shown = ", ".join(names[:_MAX_LISTED]) + (f" and {more:,} more" if more > 0 else "")
        return shown or "no arrays"

    def read(self, name: str) -> np.ndarray:
        """The array `name`, after its header has been checked against the zip entry."""
        info = self._infos[name]
        try:
            with self._zip.open(info) as fp:
                return self._read_member(name, info, fp)
        except DataError:
            raise
        except _CORRUPT as e:
            raise ArchiveError("corrupt", f"member '{printable(name)}': {_reason(e)}") from None

    def _read_member(self, name: str, info: zipfile.ZipInfo, fp: IO[bytes]) -> np.ndarray:
        shown = printable(name)
        if fp.read(len(npy.MAGIC_PREFIX)) != npy.MAGIC_PREFIX:
            raise DataError(f"{self.path}: member '{shown}' is not a NumPy array")
        try:
            with warnings.catch_warnings():
                # Why: a header numpy must re-parse warns "created on Python 2"; a user
                # needs the file's verdict, not numpy's advice.
                warnings.simplefilter("ignore")
                shape, fortran, dtype = _header(fp, fp.read(2))
        except Exception as e:  # noqa: BLE001  Why: numpy's header parser raises ValueError,
            # SyntaxError or tokenize.TokenError on tampered text; all mean the same here.
            raise ArchiveError("corrupt", f"member '{shown}': bad .npy header "
                                          f"({_reason(e)})") from None
        if dtype.hasobject:
            raise ArchiveError("pickle", f"member '{shown}' is an object array")
        if any(d < 0 for d in shape):
            raise ArchiveError("corrupt", f"member '{shown}' declares shape {shape}")
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        offset = fp.tell()
        if offset + nbytes != info.file_size:
            raise ArchiveError(
                "corrupt", f"member '{shown}' declares shape {shape} of {dtype}, "
                f"{size_text(nbytes)} of data, but its zip entry holds "
                f"{size_text(max(info.file_size - offset, 0))}")
        available = available_memory()
        if available is not None and nbytes > available:
            raise DataError(
                f"{self.path}: array '{shown}' declares shape {shape} of {dtype}, "
                f"{size_text(nbytes)}, more than the {size_text(available)} of memory "
                f"available; refusing to read it")
        return _read_data(fp, dtype, shape, fortran, nbytes)

    def close(self) -> None:
        self._zip.close()
        self._file.close()

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_zip(f: IO[bytes]) -> zipfile.ZipFile:
    # Why check first: np.load treats anything that is not a zip as a pickle or .npy.
    try:
        if not zipfile.is_zipfile(f):
            raise ArchiveError("not_zip")
        f.seek(0)
        return zipfile.ZipFile(f)
    except _CORRUPT as e:
        raise ArchiveError("corrupt", _reason(e)) from None


def _header(fp: IO[bytes], version: bytes) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, fortran order, dtype) from a .npy header, as `np.lib.format` reads it."""
    if version == b"\x01\x00":
        return npy.read_array_header_1_0(fp)
    if version == b"\x02\x00":
        return npy.read_array_header_2_0(fp)
    if version == b"\x03\x00" and hasattr(npy, "_read_array_header"):
        return npy._read_array_header(fp, (3, 0))  # UTF-8 header; no public reader
    raise ValueError(f"unsupported .npy format version {tuple(version)}")


def _read_data(fp: IO[bytes], dtype: np.dtype[Any], shape: tuple[int, ...], fortran: bool,
               nbytes: int) -> np.ndarray:
    """The member's data, read in chunks into one buffer: no second full-size copy."""
    if dtype.itemsize == 0:
        return np.empty(shape, dtype)
    buf = np.empty(nbytes, np.uint8)
    pos = 0
    while pos < nbytes:
        chunk = fp.read(min(_CHUNK, nbytes - pos))
        if not chunk:
            raise EOFError(f"data ends after {pos:,} of {nbytes:,} bytes")
        buf[pos:pos + len(chunk)] = np.frombuffer(chunk, np.uint8)
        pos += len(chunk)
    fp.read(1)  # reach the end of the entry, so zipfile checks its CRC
    return buf.view(dtype).reshape(shape, order="F" if fortran else "C")


def available_memory() -> int | None:
    """Bytes this process can still allocate: Linux `MemAvailable` (less, inside a container
    with a memory limit, what that limit leaves), else the machine's RAM, else None."""
    found = [n for n in (_meminfo_available(), _cgroup_left()) if n is not None]
    if found:
        return min(found)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_left() -> int | None:
    # cgroup v2: memory.max is "max" (no limit) or bytes; memory.current is what is used.
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as f:
            used = int(f.read().strip())
        return None if limit == "max" else max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None


def size_text(n: int) -> str:
    """A byte count for people: "29.1 TiB", "2.0 GiB", "512.0 KiB"."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} bytes"


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return printable(str(e), 200) or type(e).__name__
