"""Shared file output: write beside the target, then rename, so a reader never sees half a
file and a failure leaves the old one intact. Used by every command that writes a file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .errors import DataError


def write_atomically(path: str | os.PathLike[str], write: Callable[[str], None], *,
                     what: str = "", errors: tuple[type[Exception], ...] = (OSError,)) -> None:
    """Call `write(tmp)`, then rename `tmp` onto `path`; on failure remove `tmp` and raise a
    `DataError` naming `path` ("cannot write the <what> (reason)").

    Why `tmp` keeps the extension: numpy and matplotlib choose the format from it.
    """
    target = os.fspath(path)
    root, ext = os.path.splitext(target)
    tmp = f"{root}.tmp{ext}"
    try:
        write(tmp)
        os.replace(tmp, target)
    except errors as e:
        Path(tmp).unlink(missing_ok=True)
        reason = getattr(e, "strerror", None) or e
        raise DataError(f"{target}: cannot write{' the ' + what if what else ''} ({reason})"
                        ) from None
