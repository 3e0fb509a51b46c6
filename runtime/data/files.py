"""The runtime's data stage: user data files, `.npz` archives (CSV tables are in `tables.py`).

`load_npz` returns a `Dataset` of features cast once to the network's dtype, with int64 class
indices (`n_classes` = largest label + 1) or float (n, k) regression targets. Only the four
arrays it uses are read, each after its declared size is checked (`netc.runtime.npz`). Every
problem is a `DataError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...reading import refuse_kind
from ...terminal import printable
from ..npz import ArchiveError, NpzArchive
from ..targets import image_mismatch, too_large
from .dataset import Dataset

_INT64_MAX = int(np.iinfo(np.int64).max)


def check_readable(path: Path) -> None:
    """Reject a missing, directory, FIFO or device, unreadable or empty path, naming it."""
    try:
        st = path.stat()
        # Why: opening a FIFO blocks until a writer comes; a device may never end.
        refuse_kind(str(path), st.st_mode, "data file")
        if not os.access(path, os.R_OK):
            raise DataError(f"{path}: cannot read the file: permission denied")
        if st.st_size == 0:
            raise DataError(f"{path}: the file is empty")
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror or e})") from None
    except ValueError:  # a NUL character in the name
        raise DataError(f"{printable(str(path))}: not a valid file name") from None


@contextmanager
def open_npz(p: str | os.PathLike[str], what: str = "data file",
             noun: str = "data file") -> Iterator[NpzArchive]:
    """`p` as an `NpzArchive` (`what`: its role, for a file that cannot be opened); its
    archive problems become `DataError`s naming `p` and the `noun` (`archive_error`: a
    checkpoint and a data file word the same problem alike)."""
    try:
        with NpzArchive(p, what) as archive:
            yield archive
    except ArchiveError as e:
        raise archive_error(os.fspath(p), e, noun) from None


def archive_error(source: str, e: ArchiveError, what: str) -> DataError:
    """The one wording of each archive problem for every .npz netc reads (`what`: "data
    file", "checkpoint"). Why one place: the reviewer found the two readers saying the same
    fault two ways."""
    if e.kind == "not_zip":
        return DataError(f"{source}: not a netc {what} (not an .npz archive, or truncated)")
    if e.kind == "pickle":
        return DataError(f"{source}: refusing to load pickled data (the {what} holds object "
                         "arrays, which netc refuses to load because unpickling can run code); "
                         "save plain numeric arrays")
    return DataError(f"{source}: corrupt {what}: {e.detail}")


def load_npz(
    path: str | os.PathLike[str], *, flatten: bool = True, dtype: str = "float64",
    image: tuple[int, int, int] | None = None,
) -> Dataset:
    """Arrays `x_train`, `t_train` and optionally `x_test`, `t_test` from a NumPy archive.

    Features come as `dtype` (the network's), so training makes no second copy; other
    members of the archive are never read. `image`: the spec's input (C, H, W), when it is
    an image; samples must then be such images ((H, W) for one channel) or rows of C*H*W.
    """
    p = Path(path)
    check_readable(p)
    with open_npz(p) as archive:
        names = set(archive.names)
        for key in ("x_train", "t_train"):
            if key not in names:
                raise DataError(f"{p}: missing array '{key}' (the archive holds: "
                                f"{archive.listing()})")
        if ("x_test" in names) != ("t_test" in names):
            have, lack = ("x_test", "t_test") if "x_test" in names else ("t_test", "x_test")
            raise DataError(f"{p}: has '{have}' but no '{lack}'; give both or neither")
        x_train = _features(p, "x_train", archive.read("x_train"), flatten, dtype, image)
        t_train = _targets(p, "t_train", archive.read("t_train"), len(x_train), dtype)
        x_test = t_test = None
        if "x_test" in names:
            x_test = _features(p, "x_test", archive.read("x_test"), flatten, dtype, image)
            t_test = _targets(p, "t_test", archive.read("t_test"), len(x_test), dtype)
            _check_split(p, x_train, t_train, x_test, t_test)
    n_classes = None
    if t_train.dtype == np.int64:
        top = max(int(t.max()) for t in (t_train, t_test) if t is not None)
        n_classes = top + 1
    return Dataset(str(path), x_train, t_train, x_test, t_test, str(path), n_classes)


def _check_split(
    p: Path, x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray, t_test: np.ndarray
) -> None:
    if x_test.shape[1:] != x_train.shape[1:]:
        raise DataError(
            f"{p}: x_test samples have shape {x_test.shape[1:]}, but x_train samples "
            f"have {x_train.shape[1:]}"
        )
    if t_test.dtype != t_train.dtype or t_test.shape[1:] != t_train.shape[1:]:
        raise DataError(
            f"{p}: t_test ({t_test.dtype}, shape {t_test.shape}) and t_train ({t_train.dtype}, "
            f"shape {t_train.shape}) hold different kinds of targets"
        )


def _features(p: Path, key: str, x: np.ndarray, flatten: bool, dtype: str,
              image: tuple[int, int, int] | None) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise DataError(f"{p}: array '{key}' must be numeric, not {x.dtype}")
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"{p}: array '{key}' holds no samples (shape {x.shape})")
    # Why here, before any cast: the file and the array can be named, and a run that
    # cannot train stops before the network is built.
    if image and x.ndim > 1 and (wrong := image_mismatch(x.shape[1:], image,
                                                         f"{p}: {key} holds")):
        raise DataError(wrong)
    if x.ndim == 1:
        x = x.reshape(-1, 1)  # one feature per sample
    elif flatten and x.ndim > 2:
        x = x.reshape(len(x), -1)
    return as_dtype(p, key, x, dtype)


def as_dtype(p: Path, key: str, x: np.ndarray, dtype: str) -> np.ndarray:
    """`x` as `dtype`, copied at most once; NaN, infinities and values too large for `dtype`
    are refused here, where the row can be named, rather than seen later as a NaN loss."""
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise DataError(f"{p}: array '{key}' contains NaN or infinite values")
        over = too_large(x, dtype)
        if over is not None:
            raise DataError(
                f"{p}: value {over[1]:g} in '{key}' row {over[0]} does not fit {dtype} (at "
                f"most {float(np.finfo(dtype).max):.4g} in size); rescale the data, or train "
                "with --dtype float64")
    return x.astype(dtype, copy=False)


def _targets(p: Path, key: str, t: np.ndarray, n: int, dtype: str) -> np.ndarray:
    if t.ndim == 0 or len(t) != n:
        x_key = "x" + key[1:]
        raise DataError(
            f"{p}: '{key}' holds {t.shape[0] if t.ndim else 0} labels but '{x_key}' holds "
            f"{n} samples"
        )
    if t.dtype.kind in "biu":
        if t.ndim == 2 and t.shape[1] == 1:
            t = t[:, 0]
        if t.ndim != 1:
            raise DataError(
                f"{p}: integer array '{key}' must be 1-D class indices, not shape {t.shape}"
            )
        if t.dtype.kind == "i" and t.size and int(t.min()) < 0:
            raise DataError(f"{p}: array '{key}' has negative labels ({int(t.min())})")
        if t.size and int(t.max()) > _INT64_MAX:  # uint64: would wrap to a negative int64
            raise DataError(f"{p}: array '{key}' has label {int(t.max())}, too large for a "
                            f"class index")
        return t.astype(np.int64, copy=False)
    if t.dtype.kind == "f" and t.ndim == 2:
        return as_dtype(p, key, t, dtype)
    raise DataError(
        f"{p}: array '{key}' has dtype {t.dtype} and shape {t.shape}; save class indices as "
        f"a 1-D integer array or regression targets as a 2-D float array (n, k)"
    )
