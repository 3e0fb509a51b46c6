"""User data files: .npz archives and .csv tables, good and bad."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from netc.errors import DataError
from netc.runtime.data import load_dataset


def _npz(path: Path, **arrays: object) -> Path:
    np.savez(path, **arrays)
    return path


def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_npz_loads_train_and_test_splits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = _npz(
        tmp_path / "d.npz",
        x_train=rng.random((6, 3)).astype(np.float32),
        t_train=np.array([0, 1, 2, 0, 1, 4], dtype=np.uint8),
        x_test=rng.random((2, 3)),
        t_test=np.array([5, 0]),
    )
    d = load_dataset(str(path))
    assert d.name == d.source == str(path)
    assert d.x_train.dtype == np.float64 and d.x_train.shape == (6, 3)
    assert d.t_train.dtype == np.int64 and d.t_test.dtype == np.int64
    assert d.n_classes == 6  # the largest label in either split, plus one


def test_npz_without_test_split(tmp_path: Path) -> None:
    path = _npz(tmp_path / "d.npz", x_train=np.zeros((3, 2)), t_train=np.array([0, 1, 1]))
    d = load_dataset(str(path))
    assert d.x_test is None and d.t_test is None and d.n_classes == 2


def test_npz_float_targets_are_kept_for_regression(tmp_path: Path) -> None:
    t = np.linspace(0, 1, 8).reshape(4, 2)
    path = _npz(tmp_path / "r.npz", x_train=np.ones((4, 3)), t_train=t)
    d = load_dataset(str(path))
    assert d.n_classes is None and d.t_train.dtype == np.float64
    assert np.array_equal(d.t_train, t)


def test_npz_image_arrays_flatten_on_request(tmp_path: Path) -> None:
    x = np.zeros((5, 1, 4, 4), dtype=np.uint8)
    path = _npz(tmp_path / "img.npz", x_train=x, t_train=np.zeros(5, dtype=np.int64))
    assert load_dataset(str(path)).x_train.shape == (5, 16)
    assert load_dataset(str(path), flatten=False).x_train.shape == (5, 1, 4, 4)


def test_npz_refuses_pickled_arrays(tmp_path: Path) -> None:
    objects = np.array([{"a": 1}, None], dtype=object)
    path = _npz(tmp_path / "p.npz", x_train=objects, t_train=np.array([0, 1]))
    with pytest.raises(DataError, match="pickled.*refuses") as e:
        load_dataset(str(path))
    assert str(path) in str(e.value)


def test_npz_missing_array_is_named(tmp_path: Path) -> None:
    path = _npz(tmp_path / "m.npz", x_train=np.zeros((2, 2)), labels=np.zeros(2))
    with pytest.raises(DataError, match=r"m\.npz: missing array 't_train' \(the archive holds"):
        load_dataset(str(path))


def test_npz_length_mismatch(tmp_path: Path) -> None:
    path = _npz(tmp_path / "l.npz", x_train=np.zeros((3, 2)), t_train=np.array([0, 1]))
    with pytest.raises(DataError, match="'t_train' holds 2 labels but 'x_train' holds 3 samples"):
        load_dataset(str(path))


def test_npz_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "fake.npz"
    path.write_bytes(b"\x80\x04this is not an archive")
    with pytest.raises(DataError, match=r"fake\.npz: not a netc data file \(not an \.npz archive"):
        load_dataset(str(path))


def test_npz_negative_labels(tmp_path: Path) -> None:
    path = _npz(tmp_path / "n.npz", x_train=np.zeros((2, 2)), t_train=np.array([0, -1]))
    with pytest.raises(DataError, match="negative labels"):
        load_dataset(str(path))


def test_npz_test_split_needs_both_arrays(tmp_path: Path) -> None:
    path = _npz(
        tmp_path / "h.npz", x_train=np.zeros((2, 2)), t_train=np.array([0, 1]), x_test=np.zeros(2)
    )
    with pytest.raises(DataError, match="has 'x_test' but no 't_test'"):
        load_dataset(str(path))


def test_npz_float_class_vector_is_ambiguous(tmp_path: Path) -> None:
    path = _npz(tmp_path / "f.npz", x_train=np.zeros((2, 2)), t_train=np.array([0.0, 1.0]))
    with pytest.raises(DataError, match="1-D integer array"):
        load_dataset(str(path))


def test_npz_non_finite_features(tmp_path: Path) -> None:
    path = _npz(tmp_path / "nan.npz", x_train=np.array([[np.nan]]), t_train=np.array([0]))
    with pytest.raises(DataError, match="NaN or infinite"):
        load_dataset(str(path))


def test_npz_test_features_must_match_train(tmp_path: Path) -> None:
    path = _npz(
        tmp_path / "s.npz",
        x_train=np.zeros((2, 3)),
        t_train=np.array([0, 1]),
        x_test=np.zeros((2, 4)),
        t_test=np.array([0, 1]),
    )
    with pytest.raises(DataError, match="x_test samples have shape"):
        load_dataset(str(path))


def test_csv_loads_with_header_and_comments(tmp_path: Path) -> None:
    path = _csv(tmp_path, "# made by hand\nx1,x2,label\n0.5,1,0\n\n# more\n-2,3e-1,2.0\n")
    d = load_dataset(str(path))
    assert d.x_train.tolist() == [[0.5, 1.0], [-2.0, 0.3]]
    assert d.t_train.tolist() == [0, 2] and d.t_train.dtype == np.int64
    assert d.n_classes == 3 and d.x_test is None and d.source == str(path)


def test_csv_without_header(tmp_path: Path) -> None:
    d = load_dataset(str(_csv(tmp_path, "1,2,1\n3,4,0\n")))
    assert d.x_train.shape == (2, 2) and d.n_classes == 2


def test_csv_ragged_row_names_the_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,b,c\n1,2,0\n# note\n1,2,3,0\n")
    with pytest.raises(DataError, match=rf"^{path}:4: expected 3 columns, found 4$"):
        load_dataset(str(path))


def test_csv_non_numeric_cell_names_the_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, "1,2,0\n1,two,1\n")
    with pytest.raises(DataError, match=rf"^{path}:2: column 2: 'two' is not a number$"):
        load_dataset(str(path))


@pytest.mark.parametrize("label", ["2.5", "-1"])
def test_csv_label_must_be_a_class_index(tmp_path: Path, label: str) -> None:
    path = _csv(tmp_path, f"1,2,0\n1,2,{label}\n")
    with pytest.raises(DataError, match=rf"{path}:2: label '{label}' in the last column"):
        load_dataset(str(path))


def test_csv_non_finite_cell(tmp_path: Path) -> None:
    path = _csv(tmp_path, "1,nan,0\n")
    with pytest.raises(DataError, match=rf"{path}:1: column 2: 'nan' is not a finite number"):
        load_dataset(str(path))


def test_csv_header_only(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data rows"):
        load_dataset(str(_csv(tmp_path, "x,label\n# nothing else\n")))


def test_csv_single_column(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=":1: expected at least 2 columns"):
        load_dataset(str(_csv(tmp_path, "1\n2\n")))


def test_csv_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(DataError, match=r"bin\.csv:1: not UTF-8 text"):
        load_dataset(str(path))


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_files_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=rf"{path}: the file is empty"):
        load_dataset(str(path))


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_files_missing_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"nope{suffix}"
    with pytest.raises(DataError, match=rf"{path}: no such file"):
        load_dataset(str(path))


def test_files_directory_instead_of_file(tmp_path: Path) -> None:
    path = tmp_path / "folder.csv"
    path.mkdir()
    with pytest.raises(DataError, match="is a directory"):
        load_dataset(str(path))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_files_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    with pytest.raises(DataError, match=r"pipe\.csv: is a FIFO, not a data file"):
        load_dataset(str(path))


def test_files_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Why simulated: CI runs as root, whom permission bits do not stop; the OS answer
    # for a chmod 000 file is what os.access reports here.
    path = _csv(tmp_path, "1,0\n")
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False)
    with pytest.raises(DataError, match="permission denied"):
        load_dataset(str(path))
