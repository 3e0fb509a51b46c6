"""Runtime stage: training checkpoints as one `.npz` file, written atomically, read without pickle.

Layout: arrays under `param/<key>`, `buffer/<key>` and `optim/<key>` in insertion order (npz is a
zip archive, which keeps it), and `meta` as a JSON string in a 0-d unicode array. JSON rather
than pickle keeps loading safe and still carries the big ints of a PCG64 `bit_generator.state`.
"""

from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..atomic import output_file
from ..errors import DataError
from ..outputs import OutputLock, check_output
from ..terminal import printable
from .npz import NpzArchive

_SECTIONS = ("param", "buffer", "optim")


@dataclass(frozen=True)
class Checkpoint:
    """Everything needed to resume training; `meta` must be JSON-native (lists, str keys)."""

    params: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray] = field(default_factory=dict)
    optimizer: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str | os.PathLike[str], ckpt: Checkpoint) -> None:
    """Write `ckpt` to exactly `path`; a failure leaves any previous file there untouched.
    How (temporary, fsync, rename; devices and links) is `netc/atomic.py`'s `output_file`."""
    target = os.fspath(path)
    arrays = _to_entries(target, ckpt)
    try:
        with output_file(target) as f:
            # A file object, not a name: np.savez would append ".npz" to a name.
            np.savez(f, **arrays)
    except Exception as e:
        raise DataError(f"{target}: cannot write checkpoint: {_reason(e)}") from e


def _to_entries(target: str, ckpt: Checkpoint) -> dict[str, np.ndarray]:
    entries: dict[str, np.ndarray] = {}
    for section, arrays in zip(_SECTIONS, (ckpt.params, ckpt.buffers, ckpt.optimizer), strict=True):
        for key, value in arrays.items():
            array = np.asarray(value)
            if array.dtype.hasobject:
                raise DataError(
                    f"{target}: cannot write checkpoint: {section}/{key} is an object array"
                )
            entries[f"{section}/{key}"] = array
    try:
        entries["meta"] = np.array(json.dumps(ckpt.meta))
    except (TypeError, ValueError) as e:
        raise DataError(f"{target}: cannot write checkpoint: meta is not JSON: {e}") from e
    return entries


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


def load_checkpoint(path: str | os.PathLike[str], *, spec_hash: str | None = None) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`; with `spec_hash`, insist it matches.

    Entry names, the meta and the spec hash are checked before any array is read, and each
    array's declared size before it is decompressed (`netc.runtime.npz`).
    """
    source = os.fspath(path)
    if os.path.isdir(source):
        raise DataError(f"{source}: is a directory, not a checkpoint file")
    if not os.path.exists(source):
        raise DataError(f"{source}: no such checkpoint file")
    with _read_entries(source) as archive:
        names = [n for n in archive.names if n != "meta"]
        for name in names:
            section, sep, _ = name.partition("/")
            if not sep or section not in _SECTIONS:
                raise DataError(f"{source}: not a netc checkpoint (unexpected entry "
                                f"'{printable(name)}')")
        meta = _parse_meta(source, archive.read("meta") if "meta" in archive.names else None)
        if spec_hash is not None and meta.get("spec_hash") != spec_hash:
            raise DataError(
                f"{source}: checkpoint was written for a different spec "
                f"(hash {_short(meta.get('spec_hash'))} ≠ {_short(spec_hash)}); "
                "resume with the spec it came from, or start without --resume"
            )
        sections: dict[str, dict[str, np.ndarray]] = {s: {} for s in _SECTIONS}
        for name in names:
            section, _, key = name.partition("/")
            sections[section][key] = archive.read(name)
    return Checkpoint(sections["param"], sections["buffer"], sections["optim"], meta)


def _read_entries(source: str) -> AbstractContextManager[NpzArchive]:
    """The checkpoint as an `NpzArchive`; its archive problems worded as a data file's are
    (`archive_error`), naming the checkpoint."""
    from .data.files import open_npz

    return open_npz(source, "checkpoint file", "checkpoint")


def _parse_meta(source: str, raw: np.ndarray | None) -> dict[str, Any]:
    if raw is None:
        raise DataError(f"{source}: not a netc checkpoint (no 'meta' entry)")
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise DataError(f"{source}: corrupt checkpoint: 'meta' is not a JSON string")
    try:
        meta = json.loads(str(raw[()]))
    except (json.JSONDecodeError, RecursionError) as e:
        raise DataError(f"{source}: corrupt checkpoint: 'meta' is not valid JSON "
                        f"({printable(str(e), 200)})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{source}: corrupt checkpoint: 'meta' is not a JSON object")
    return meta


def _short(spec_hash: object) -> str:
    if not isinstance(spec_hash, str) or not spec_hash:
        return "(none)"
    return spec_hash if len(spec_hash) <= 12 else spec_hash[:12] + "…"


class Probed(str):
    """A checkpoint path `check_writable` has probed. Why: `netc run` probes before loading
    the data and then hands the path to the Trainer, which would probe it again (another
    64 KiB write and fsync); the lock is taken again when training starts anyway."""


def check_writable(path: str | os.PathLike[str]) -> str:
    """Fail before training, not after it, if a checkpoint could not be written to `path`
    (a missing or read-only folder, a full disk, a directory in the way, another run's lock).
    Returns the path as `Probed`, which a second call passes without probing again."""
    if isinstance(path, Probed):
        return path
    check_output(path, what="checkpoint")
    with OutputLock(path, what="checkpoint"):
        pass
    return Probed(os.fspath(path))


def lock_checkpoint(path: str | os.PathLike[str] | None) -> OutputLock | nullcontext[None]:
    """Held while a run writes `path` (`with lock_checkpoint(p):`): a second run that names
    the same checkpoint is refused at its start instead of interleaving its epochs."""
    return nullcontext() if path is None else OutputLock(path, what="checkpoint")
