"""The runtime's data stage: reading IDX files (the MNIST container format), gzipped or not.

`read_bytes` returns a file's decompressed content, `sha256_of` its digest, and `parse_idx`
turns IDX bytes into a uint8 NumPy array after checking the magic number, the dimensions and
that the byte count matches the header. Every problem is a `DataError` naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from ...errors import DataError
from ...reading import open_regular

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
# Real MNIST images decompress to 47 MB; the cap stops a gzip bomb from exhausting memory.
MAX_BYTES = 128 * 1024 * 1024


def read_bytes(
    path: str | os.PathLike[str], *, gzipped: bool | None = None, limit: int = MAX_BYTES
) -> bytes:
    """The decompressed content of `path`; `gzipped` defaults to whether it ends in `.gz`."""
    p = Path(path)
    if gzipped is None:
        gzipped = p.suffix == ".gz"
    with open_regular(p, "data file") as raw_file:
        try:
            with gzip.GzipFile(fileobj=raw_file) if gzipped else raw_file as f:
                raw = _read_all(f, limit + 1)
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise DataError(f"{p}: corrupt gzip data ({e or 'unexpected end of data'})") from None
        except OSError as e:
            raise DataError(f"{p}: cannot read the file ({e.strerror or e})") from None
    if len(raw) > limit:
        raise DataError(f"{p}: larger than {limit // (1024 * 1024)} MiB; not an MNIST file")
    return raw


def _read_all(f: IO[bytes], limit: int) -> bytes:
    # Read to the end: a truncated gzip stream only raises once its end is reached.
    chunks, size = [], 0
    while size < limit and (chunk := f.read(min(1 << 20, limit - size))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def sha256_of(raw: bytes) -> str:
    """Hex SHA-256 of decompressed content, so any faithful copy of a file matches."""
    return hashlib.sha256(raw).hexdigest()


def parse_idx(raw: bytes, path: str | os.PathLike[str], magic: int) -> np.ndarray:
    """IDX bytes -> uint8 array of the header's shape; `magic` is the kind expected."""
    kind = "images" if magic == IMAGES_MAGIC else "labels"
    if len(raw) < 4:
        raise DataError(f"{path}: truncated: {len(raw)} bytes, too short for an IDX header")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(
            f"{path}: not an IDX {kind} file: magic number is 0x{found:08x}, expected 0x{magic:08x}"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"{path}: truncated: the header needs {header} bytes, file holds {len(raw)} bytes"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if any(d == 0 for d in dims[1:]):
        raise DataError(f"{path}: bad IDX dimensions {dims}: every item must be non-empty")
    # Why math.prod: Python ints cannot wrap (np.prod of (2**22, 2**21, 2**21) is 0).
    expected = header + math.prod(dims)
    if expected > MAX_BYTES:
        raise DataError(
            f"{path}: the header's dimensions {dims} declare {expected:,} bytes, the file has "
            f"{len(raw):,} bytes; not an MNIST file"
        )
    if len(raw) < expected:
        raise DataError(
            f"{path}: truncated: header says {dims[0]} items, file holds {len(raw)} bytes "
            f"(expected {expected})"
        )
    if len(raw) > expected:
        raise DataError(
            f"{path}: {len(raw) - expected} unexpected bytes after the {dims[0]} items "
            f"the header declares"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
