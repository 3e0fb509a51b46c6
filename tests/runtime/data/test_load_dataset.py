"""Dispatch by name: the built-in sets, file types, and the error for anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from netc.errors import DataError, NetcError
from netc.runtime.data import CHOICES, Dataset, load_dataset


def test_load_dataset_unknown_name_lists_the_choices() -> None:
    with pytest.raises(DataError) as e:
        load_dataset("cifar10")
    assert str(e.value) == (
        "unknown dataset 'cifar10': expected 'spiral', 'mnist', 'corpus(\"file.txt\")', "
        "'markov(words=300)', 'addition', 'dates', 'pairs(\"file.txt\")', or a path to a "
        ".npz, .csv or .txt file")


def test_load_dataset_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text("1,2\n")
    with pytest.raises(DataError, match=rf"^{path}: unsupported data file type '\.json'"):
        load_dataset(str(path))


def test_load_dataset_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "DATA.CSV"
    path.write_text("1,2,1\n")
    assert load_dataset(str(path)).n_classes == 2


def test_load_dataset_rejects_a_negative_spiral_seed() -> None:
    with pytest.raises(DataError, match="non-negative integer"):
        load_dataset("spiral", seed=-1)


def test_load_dataset_errors_are_user_errors() -> None:
    assert issubclass(DataError, NetcError) and "spiral" in CHOICES


def test_load_dataset_result_is_frozen() -> None:
    d = load_dataset("spiral")
    assert isinstance(d, Dataset)
    with pytest.raises(AttributeError):
        d.name = "other"  # type: ignore[misc]
