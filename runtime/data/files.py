"""The runtime's data stage: user data files, `.npz` archives and `.csv` tables.

`load_npz` and `load_csv` return a `Dataset` of float64 features with int64 class indices
(`n_classes` = largest label + 1) or, for `.npz` only, float (n, k) regression targets. Every
problem is a `DataError` naming the file (and, for CSV, the line).
"""

from __future__ import annotations

import csv
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from ...errors import DataError
from .dataset import Dataset


def check_readable(path: Path) -> None:
    """Reject a missing, directory, unreadable or empty path with a message naming it."""
    try:
        if not path.exists():
            raise DataError(f"{path}: no such file")
        if path.is_dir():
            raise DataError(f"{path}: is a directory, not a data file")
        if not path.is_file():
            # Opening a pipe or device could block forever.
            raise DataError(f"{path}: not a regular file")
        if not os.access(path, os.R_OK):
            raise DataError(f"{path}: cannot read the file: permission denied")
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty")
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror or e})") from None


def load_npz(path: str | os.PathLike[str], *, flatten: bool = True) -> Dataset:
    """Arrays `x_train`, `t_train` and optionally `x_test`, `t_test` from a NumPy archive."""
    p = Path(path)
    check_readable(p)
    arrays = _read_npz(p)
    for key in ("x_train", "t_train"):
        if key not in arrays:
            found = ", ".join(sorted(arrays)) or "no arrays"
            raise DataError(f"{p}: missing array '{key}' (the archive holds: {found})")
    if ("x_test" in arrays) != ("t_test" in arrays):
        have, lack = ("x_test", "t_test") if "x_test" in arrays else ("t_test", "x_test")
        raise DataError(f"{p}: has '{have}' but no '{lack}'; give both or neither")
    x_train = _features(p, "x_train", arrays["x_train"], flatten)
    t_train = _targets(p, "t_train", arrays["t_train"], len(x_train))
    x_test = t_test = None
    if "x_test" in arrays:
        x_test = _features(p, "x_test", arrays["x_test"], flatten)
        t_test = _targets(p, "t_test", arrays["t_test"], len(x_test))
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


def _read_npz(p: Path) -> dict[str, np.ndarray]:
    # np.load falls back to unpickling anything that is not a zip or .npy; check the zip first.
    if not zipfile.is_zipfile(p):
        raise DataError(f"{p}: not a .npz archive (it is not a zip file)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(p, allow_pickle=False) as archive:
            for key in archive.files:
                value = archive[key]
                if not isinstance(value, np.ndarray):
                    raise DataError(f"{p}: member '{key}' is not a NumPy array")
                arrays[key] = value
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickle" in str(e).lower():
            raise DataError(
                f"{p}: holds pickled (object) arrays, which netc refuses to load because "
                f"unpickling can run code; save plain numeric arrays"
            ) from None
        raise DataError(f"{p}: not a valid .npz archive ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise DataError(f"{p}: not a valid .npz archive ({e})") from None
    return arrays


def _features(p: Path, key: str, x: np.ndarray, flatten: bool) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise DataError(f"{p}: array '{key}' must be numeric, not {x.dtype}")
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"{p}: array '{key}' holds no samples (shape {x.shape})")
    x = x.astype(np.float64)
    if x.ndim == 1:
        x = x.reshape(-1, 1)  # one feature per sample
    elif flatten and x.ndim > 2:
        x = x.reshape(len(x), -1)
    if not np.isfinite(x).all():
        raise DataError(f"{p}: array '{key}' contains NaN or infinite values")
    return x


def _targets(p: Path, key: str, t: np.ndarray, n: int) -> np.ndarray:
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
        if t.dtype.kind == "i" and (t < 0).any():
            raise DataError(f"{p}: array '{key}' has negative labels ({int(t.min())})")
        return t.astype(np.int64)
    if t.dtype.kind == "f" and t.ndim == 2:
        if not np.isfinite(t).all():
            raise DataError(f"{p}: array '{key}' contains NaN or infinite values")
        return t.astype(np.float64)
    raise DataError(
        f"{p}: array '{key}' has dtype {t.dtype} and shape {t.shape}; save class indices as "
        f"a 1-D integer array or regression targets as a 2-D float array (n, k)"
    )


def load_csv(path: str | os.PathLike[str]) -> Dataset:
    """Numeric rows, features then an integer class label last; header and `#` lines skipped."""
    p = Path(path)
    check_readable(p)
    rows, labels = _read_csv(p)
    x = np.asarray(rows, dtype=np.float64)
    t = np.asarray(labels, dtype=np.int64)
    return Dataset(str(path), x, t, None, None, str(path), int(t.max()) + 1)


def _read_csv(p: Path) -> tuple[list[list[float]], list[int]]:
    rows: list[list[float]] = []
    labels: list[int] = []
    width: int | None = None
    line = 0
    try:
        with open(p, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            for cells in reader:
                line = reader.line_num
                if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                    continue
                if width is None:
                    width = _first_width(p, line, cells)
                    if _is_header(cells):
                        continue
                if len(cells) != width:
                    raise DataError(f"{p}:{line}: expected {width} columns, found {len(cells)}")
                values = _numbers(p, line, cells)
                labels.append(_label(p, line, cells[-1], values.pop()))
                rows.append(values)
    except UnicodeDecodeError:
        raise DataError(f"{p}:{line + 1}: not UTF-8 text; is this really a CSV file?") from None
    except csv.Error as e:
        raise DataError(f"{p}:{line + 1}: malformed CSV ({e})") from None
    except OSError as e:
        raise DataError(f"{p}: cannot read the file ({e.strerror or e})") from None
    if not rows:
        raise DataError(f"{p}: no data rows (only a header, comments or blank lines)")
    return rows, labels


def _first_width(p: Path, line: int, cells: list[str]) -> int:
    if len(cells) < 2:
        raise DataError(
            f"{p}:{line}: expected at least 2 columns (features, then a label), found {len(cells)}"
        )
    return len(cells)


def _is_header(cells: list[str]) -> bool:
    # A header is a first row with no numbers at all; a mostly-numeric row with a typo is data.
    return not any(_is_number(c) for c in cells)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _numbers(p: Path, line: int, cells: list[str]) -> list[float]:
    values = []
    for col, cell in enumerate(cells, start=1):
        try:
            v = float(cell)
        except ValueError:
            raise DataError(f"{p}:{line}: column {col}: '{cell.strip()}' is not a number") from None
        if not math.isfinite(v):
            raise DataError(f"{p}:{line}: column {col}: '{cell.strip()}' is not a finite number")
        values.append(v)
    return values


def _label(p: Path, line: int, cell: str, value: float) -> int:
    if value < 0 or value != int(value):
        raise DataError(
            f"{p}:{line}: label '{cell.strip()}' in the last column is not a non-negative "
            f"integer class index"
        )
    return int(value)
