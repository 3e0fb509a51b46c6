"""The runtime's data stage: MNIST from its four IDX files, downloaded when missing.

`load_mnist` returns a `Dataset` of 60,000 training and 10,000 test images as float64 pixels in
[0, 1] (flattened to 784 or shaped (n, 1, 28, 28)) with int64 labels. Every file is checked
against the SHA-256 of its decompressed content, so any faithful copy, gzipped or not, passes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...reading import open_regular
from ..user_cache import user_cache
from . import download
from .dataset import Dataset
from .idx import IMAGES_MAGIC, LABELS_MAGIC, parse_idx, read_bytes, sha256_of

DATA_DIR_ENV = "NETC_DATA_DIR"
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

# SHA-256 of each file's decompressed content; a module-level dict so tests can patch it.
SHA256: dict[str, str] = {
    TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
ROWS = COLS = 28
N_CLASSES = 10

# Decoded uint8 arrays per process, keyed by file identity and expected digests, so a second
# load skips decompressing and hashing; callers always get fresh float copies.
_CACHE: dict[tuple[object, ...], tuple[np.ndarray, ...]] = {}


def default_dir() -> Path:
    """`$NETC_DATA_DIR`, else the per-user cache `$XDG_CACHE_HOME/netc/mnist` (~/.cache)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return user_cache("mnist")


def read_mnist_file(path: str | os.PathLike[str], *, verify: bool = True) -> np.ndarray:
    """One IDX file (gzipped or not) as uint8; `verify=False` is for synthetic test files only."""
    p = Path(path)
    base = p.name[:-3] if p.name.endswith(".gz") else p.name
    magic = IMAGES_MAGIC if "-idx3-" in base else LABELS_MAGIC
    raw = read_bytes(p)
    expected = SHA256.get(base)
    if verify and expected is None:
        raise DataError(f"{p}: not one of the four MNIST files ({', '.join(FILES)})")
    # Why parse before the checksum: "truncated" or "wrong magic number" says more than
    # "does not match the SHA-256" about a broken file.
    array = parse_idx(raw, p, magic)
    if verify and sha256_of(raw) != expected:
        raise DataError(
            f"{p}: corrupt: its decompressed content does not match the SHA-256 of the real "
            f"MNIST {base} file. Delete it (netc downloads it again) or replace it with a "
            f"good copy."
        )
    return array


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None, *, flatten: bool = True, progress: bool = True,
    dtype: str = "float64",
) -> Dataset:
    """MNIST from `data_dir` (else `default_dir()`), downloading missing files into it.

    Pixels come as `dtype` (the network's, so training needs no second copy), each exactly
    float64(v / 255) rounded once to `dtype`.
    """
    folder = folder_of(data_dir)
    xs, ts, xt, tt = load_raw(folder, progress=progress)
    shape = (-1, ROWS * COLS) if flatten else (-1, 1, ROWS, COLS)
    return Dataset(
        name="mnist",
        x_train=pixels(xs, dtype).reshape(shape),
        t_train=ts.astype(np.int64),
        x_test=pixels(xt, dtype).reshape(shape),
        t_test=tt.astype(np.int64),
        source=str(folder),
        n_classes=N_CLASSES,
    )


def folder_of(data_dir: str | os.PathLike[str] | None) -> Path:
    """`data_dir` (else `default_dir()`), refused if it names a file rather than a folder."""
    folder = Path(data_dir).expanduser() if data_dir is not None else default_dir()
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: is not a directory; MNIST needs a folder for its four files")
    return folder


def load_raw(folder: Path, *, progress: bool = True) -> tuple[np.ndarray, ...]:
    """(train images, train labels, test images, test labels) as the files' uint8 arrays,
    images (n, 28, 28). Read-only views of the per-process cache: copy before writing."""
    paths = _locate(folder, progress)
    key = tuple(_identity(paths[n]) for n in FILES) + tuple(SHA256[n] for n in FILES)
    if key not in _CACHE:
        _CACHE.clear()  # one MNIST per process is plenty; keep memory bounded
        arrays = _decode(paths)
        for a in arrays:
            a.flags.writeable = False  # Why: a caller writing into one would poison the cache
        _CACHE[key] = arrays
    return _CACHE[key]


def pixels(images: np.ndarray, dtype: str) -> np.ndarray:
    """v / 255 computed in float64 and stored as `dtype`: how netc scales raw pixels, in
    training and for uint8 inputs given to a network trained on MNIST.

    Why a buffered ufunc: it converts in small chunks, so no full-size float64 (or index)
    temporary ever exists; that would triple the peak memory of a float32 run.
    """
    out = np.empty(images.shape, dtype)
    np.divide(images, 255.0, out=out, dtype=np.float64, casting="same_kind")
    return out


def _find(folder: Path, name: str) -> Path | None:
    # The uncompressed copy is preferred: it reads faster and is the same content.
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.is_file():
            return candidate
        if candidate.exists() and not candidate.is_dir():
            # A FIFO or device is named, not read (it could block) nor replaced by a download.
            open_regular(candidate, "data file")
    return None


def _locate(folder: Path, progress: bool) -> dict[str, Path]:
    paths = {n: _find(folder, n) for n in FILES}
    missing = [n for n in FILES if paths[n] is None]
    if missing:
        created = _make_dir(folder)
        try:
            for name in missing:
                paths[name] = download.fetch(name, SHA256[name], folder, progress=progress)
        except download.FetchError as e:
            if created:
                _remove_if_empty(folder)
            raise DataError(
                f"MNIST files not found in {folder}, and downloading failed ({e}). Put the four "
                f"files (gzipped or not) in {folder}, or point --data-dir or {DATA_DIR_ENV} at "
                f"a folder that has them."
            ) from None
    return {n: p for n, p in paths.items() if p is not None}


def _make_dir(folder: Path) -> bool:
    existed = folder.is_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"MNIST files not found in {folder}, and the folder cannot be created to download "
            f"them into ({e.strerror or e}). Put the four files (gzipped or not) there, or point "
            f"--data-dir or {DATA_DIR_ENV} at a folder that has them."
        ) from None
    return not existed


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty or not ours to remove: leave it


def _identity(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _decode(paths: dict[str, Path]) -> tuple[np.ndarray, ...]:
    arrays = {n: read_mnist_file(paths[n]) for n in FILES}
    for images, labels in ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS)):
        img, lab = arrays[images], arrays[labels]
        if img.shape[1:] != (ROWS, COLS):
            raise DataError(f"{paths[images]}: images are {img.shape[1:]}, expected (28, 28)")
        if len(img) != len(lab):
            raise DataError(
                f"{paths[labels]}: holds {len(lab)} labels but {paths[images]} holds "
                f"{len(img)} images"
            )
        if lab.size and int(lab.max()) >= N_CLASSES:
            raise DataError(f"{paths[labels]}: label {int(lab.max())} is not a digit 0-9")
    return tuple(arrays[n] for n in FILES)
