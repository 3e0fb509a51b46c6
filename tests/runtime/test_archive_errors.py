"""A data file and a checkpoint word the same archive problem alike (one mapping)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from netc.errors import DataError
from netc.runtime.checkpoint import _read_entries
from netc.runtime.data.files import open_npz


def _not_zip(path: Path) -> None:
    path.write_text("hello, not a zip\n")


def _pickled(path: Path) -> None:
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object), meta=np.array("{}"))


def _bad_crc(path: Path) -> None:
    np.savez(path, x_train=np.zeros((3, 2)), meta=np.array("{}"))
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("x_train.npy")
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.file_size - 1
    raw[at] ^= 0xFF  # the last data byte: the CRC no longer matches
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("make", [_not_zip, _pickled, _bad_crc])
def test_archive_error_reads_alike_for_data_and_checkpoint(tmp_path, make):
    path = tmp_path / "a.npz"
    make(path)
    found = []
    for opened in (open_npz(path), _read_entries(str(path))):
        with pytest.raises(DataError) as e, opened as archive:
            archive.read("x_train")
        found.append(e)
    data, ckpt = found
    assert str(data.value).replace("data file", "checkpoint") == str(ckpt.value)
