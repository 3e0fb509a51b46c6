"""The runtime's data stage: fetching missing MNIST files from public mirrors.

`fetch` downloads `<name>.gz` into a folder, trying each mirror in turn, and returns the path of
the verified file. A download streams into a temporary file beside the target, is checked
against the SHA-256 of its decompressed content, and only then is renamed into place, so an
interrupted or wrong download never leaves a file behind.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO

from tqdm import tqdm

from ...errors import DataError
from .idx import read_bytes, sha256_of

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MIRRORS_ENV = "NETC_MNIST_MIRRORS"
TIMEOUT_S = 30.0  # for each connect and read
DEADLINE_S = 600.0  # for a whole file; a server trickling a byte every 29 s never trips TIMEOUT_S
DEADLINE_ENV = "NETC_DOWNLOAD_DEADLINE_S"
# The largest real archive is under 10 MiB; a cap keeps a misbehaving server from filling the disk.
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024


class FetchError(Exception):
    """Every mirror failed for one file; the message is a short reason for the user."""


def mirrors() -> tuple[str, ...]:
    """`$NETC_MNIST_MIRRORS` (comma-separated base URLs; empty disables downloads) or `MIRRORS`."""
    env = os.environ.get(MIRRORS_ENV)
    if env is None:
        return MIRRORS
    return tuple(m.strip() for m in env.split(",") if m.strip())


def deadline_s() -> float:
    """`$NETC_DOWNLOAD_DEADLINE_S` (seconds per file, a positive number) or `DEADLINE_S`."""
    env = os.environ.get(DEADLINE_ENV, "").strip()
    if not env:
        return DEADLINE_S
    try:
        value = float(env)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise FetchError(f"{DEADLINE_ENV} must be a positive number of seconds, not {env!r}")
    return value


def fetch(
    name: str, sha256: str, folder: Path, *, progress: bool = True, deadline: float | None = None
) -> Path:
    """Download `<name>.gz` into `folder`, verified; raises `FetchError` when every mirror fails.

    Each mirror gets `deadline` seconds (default `deadline_s()`) for the whole file; a slower
    download is abandoned and its partial file removed.
    """
    limit = deadline_s() if deadline is None else deadline
    bases = mirrors()
    if not bases:
        raise FetchError(f"no download mirrors configured: {MIRRORS_ENV} is empty")
    if not os.access(folder, os.W_OK):
        raise FetchError(f"cannot write to {folder}")
    reasons = []
    for base in bases:
        url = base.rstrip("/") + "/" + name + ".gz"
        try:
            return _fetch_one(url, name, sha256, folder, progress, limit)
        except FetchError as e:
            host = urllib.parse.urlsplit(url).netloc or url
            reasons.append(f"{host}: {e}")
    raise FetchError(f"{name}.gz: " + "; ".join(reasons))


def _fetch_one(
    url: str, name: str, sha256: str, folder: Path, progress: bool, limit: float
) -> Path:
    target = folder / (name + ".gz")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    except OSError as e:
        raise FetchError(f"cannot write to {folder}: {e.strerror or e}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _stream(url, out, name, progress, time.monotonic() + limit)
        try:
            digest = sha256_of(read_bytes(tmp, gzipped=True))
        except DataError:
            raise FetchError("the download is not valid gzip data") from None
        if digest != sha256:
            raise FetchError(f"SHA-256 mismatch: {url} is not the real MNIST {name} file")
        os.replace(tmp, target)
        return target
    finally:
        # Reached with the temporary file still present only when something failed.
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _stream(url: str, out: IO[bytes], name: str, progress: bool, deadline: float) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"unsupported mirror URL {url!r}: only http and https are used")
    request = urllib.request.Request(url, headers={"User-Agent": "netc"})
    try:
        timeout = max(0.1, min(TIMEOUT_S, deadline - time.monotonic()))
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isascii() and length.isdigit() else None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=name,
                file=sys.stderr,
                disable=not progress,
                leave=False,
            ) as bar:
                _copy(response, out, bar, deadline)
    except urllib.error.HTTPError as e:
        raise FetchError(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise FetchError(_short(e.reason)) from None
    except (OSError, http.client.HTTPException, ValueError) as e:
        raise FetchError(_short(e)) from None


def _copy(response: IO[bytes], out: IO[bytes], bar: tqdm, deadline: float) -> None:
    received = 0
    # read1 returns what one socket read brings, so the deadline is checked as bytes trickle
    # in; read(n) would wait for all n bytes.
    read = getattr(response, "read1", response.read)
    while chunk := read(_CHUNK):
        if time.monotonic() > deadline:
            raise FetchError(f"too slow: {received + len(chunk):,} bytes in the time allowed "
                             f"(set {DEADLINE_ENV} to allow more)")
        received += len(chunk)
        if received > MAX_DOWNLOAD_BYTES:
            raise FetchError(f"response larger than {MAX_DOWNLOAD_BYTES // (1024 * 1024)} MiB")
        out.write(chunk)
        bar.update(len(chunk))


def _short(e: object) -> str:
    if isinstance(e, (socket.timeout, TimeoutError)):
        return f"timed out after {TIMEOUT_S:g} s"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__
