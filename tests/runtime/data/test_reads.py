"""Reads that must never hang or balloon (issue 11): .npz members, CSV numbers, IDX, downloads.

The CLI messages are in the `reads` bad-input catalogue; these tests pin what a message cannot
show: which members are read at all, which dtypes come back, that a trickling download is
abandoned and leaves no partial file.
"""

from __future__ import annotations

import http.server
import threading
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from netc.errors import DataError
from netc.predict import read_inputs
from netc.runtime.data import download, load_dataset
from netc.runtime.data.idx import parse_idx
from netc.runtime.data.tables import MAX_LINE_CHARS, parse_number
from netc.runtime.npz import NpzArchive


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the zip members opened (that is, decompressed) during the test."""
    names: list[str] = []
    real = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: object, *args: object, **kwargs: object) -> object:
        names.append(name.filename if isinstance(name, zipfile.ZipInfo) else str(name))
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return names


def _with_big_unused_member(path: Path, **arrays: np.ndarray) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            with zf.open(f"{key}.npy", "w") as f:
                np.save(f, value)
        with zf.open("unused.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<f8", "fortran_order": False, "shape": (8 << 20,)})
            f.write(bytes(64 << 20))  # 64 MiB of zeros, about 64 KiB compressed
    return path


def test_unused_npz_member_is_never_inflated(tmp_path: Path, opened: list[str]) -> None:
    path = _with_big_unused_member(tmp_path / "d.npz", x_train=np.zeros((4, 2)),
                                   t_train=np.arange(4))
    assert path.stat().st_size < 1 << 20
    opened.clear()  # writing it opened members too
    d = load_dataset(str(path))
    assert d.x_train.shape == (4, 2)
    assert "unused.npy" not in opened and sorted(opened) == ["t_train.npy", "x_train.npy"]


def test_predict_reads_only_the_input_array(tmp_path: Path, opened: list[str]) -> None:
    path = _with_big_unused_member(tmp_path / "in.npz", x=np.ones((3, 2), np.uint8),
                                   x_train=np.zeros((5, 2)))
    opened.clear()
    x = read_inputs(str(path), 2)
    assert opened == ["x.npy"]
    assert x.dtype == np.uint8  # cast once, by the network, not to float64 here


def test_npz_features_are_cast_once_to_the_network_dtype(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.arange(12, dtype=np.uint8).reshape(6, 2),
             t_train=np.array([0, 1, 2, 0, 1, 2], np.uint8))
    d = load_dataset(str(path), dtype="float32")
    assert d.x_train.dtype == np.float32 and d.t_train.dtype == np.int64
    assert np.array_equal(d.x_train, np.arange(12).reshape(6, 2))


def test_npz_huge_declared_member_is_refused_before_allocation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.npz"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("x_train.npy", "w") as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 4)})
        with zf.open("t_train.npy", "w") as f:
            np.save(f, np.zeros(3, np.int64))
    allocations: list[tuple] = []
    real = np.empty
    monkeypatch.setattr(np, "empty", lambda *a, **k: allocations.append(a) or real(*a, **k))
    with pytest.raises(DataError, match=r"h\.npz: corrupt data file: member 'x_train' "
                                        r"declares shape \(1000000000000, 4\) of float64, "
                                        r"29\.1 TiB of data, but its zip entry holds 0 bytes"):
        load_dataset(str(path))
    assert allocations == []


def test_npz_member_fortran_order_and_big_endian_round_trip(tmp_path: Path) -> None:
    a = np.asfortranarray(np.arange(6, dtype=">i4").reshape(2, 3))
    np.savez_compressed(tmp_path / "a.npz", a=a, b=np.array([], np.float32))
    with NpzArchive(tmp_path / "a.npz", "data file") as archive:
        got = archive.read("a")
        assert archive.read("b").shape == (0,)
    assert got.dtype == a.dtype and np.array_equal(got, a) and got.flags.f_contiguous


def test_npz_crc_mismatch_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    np.savez(path, x=np.arange(100, dtype=np.int64))
    raw = bytearray(path.read_bytes())
    raw[200] ^= 0xFF  # inside the stored data of the only member
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"c\.npz: corrupt data file: member 'x': "):
        read_inputs(str(path), 1)


@pytest.mark.parametrize("name", ["a\0b.npz", "a\0b.csv"])
def test_data_name_with_a_nul_character_is_a_data_error(name: str) -> None:
    with pytest.raises(DataError, match=r"^a\\x00b\.(npz|csv): not a valid file name$"):
        load_dataset(name)


def test_npz_bad_deflate_stream_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "z.npz"
    np.savez_compressed(path, x=np.arange(1000, dtype=np.int64))
    raw = bytearray(path.read_bytes())
    extra = int.from_bytes(raw[28:30], "little")  # numpy writes a zip64 extra field
    start = 30 + len("x.npy") + extra  # after the local header: the deflate stream
    raw[start] = 0xFF  # block type 3: reserved, so zlib.error rather than a CRC mismatch
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"z\.npz: corrupt data file: member 'x': "
                                        r".*invalid block type"):
        read_inputs(str(path), 1)


def test_npz_header_numpy_must_reparse_gives_no_warning(tmp_path: Path) -> None:
    # A Python 2 style header ("2L"): numpy reads it but warns; nothing may reach the user.
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }"
    header += " " * ((-len(header) - 11) % 64) + "\n"
    member = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    with zipfile.ZipFile(tmp_path / "p.npz", "w") as zf:
        zf.writestr("x.npy", member + bytes(16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_inputs(str(tmp_path / "p.npz"), 1).tolist() == [0.0, 0.0]


# ---- CSV -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell, value", [
    ("1", 1.0), (" -2.5 ", -2.5), ("+.5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("1E-2", 0.01),
    ("inf", float("inf")),
])
def test_csv_numbers_are_plain_ascii_decimals(cell: str, value: float) -> None:
    assert parse_number(cell) == value


@pytest.mark.parametrize("cell", ["1_0", "\u0663", "\uff11", "0x10", "1e", "", ".", "1,5",
                                  "١٢", "1\u00a0"])
def test_csv_other_spellings_are_not_numbers(cell: str) -> None:
    assert parse_number(cell) is None


def test_csv_line_width_limit_is_checked_before_splitting(tmp_path: Path) -> None:
    widest = "1," * ((MAX_LINE_CHARS - 1) // 2) + "0\n"  # the limit, newline not counted
    assert len(widest) == MAX_LINE_CHARS
    ok = tmp_path / "ok.csv"
    ok.write_text(widest * 2)
    assert load_dataset(str(ok)).x_train.shape == (2, MAX_LINE_CHARS // 2 - 1)
    wide = tmp_path / "wide.csv"
    wide.write_text("1,0\n" + "1," * (MAX_LINE_CHARS // 2 + 1) + "0\n")
    with pytest.raises(DataError, match=r"wide\.csv:2: line longer than 1,000,000"):
        load_dataset(str(wide))


def test_csv_float32_run_keeps_float32_features(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("0.5,1,0\n2,3e38,1\n")
    d = load_dataset(str(path), dtype="float32")
    assert d.x_train.dtype == np.float32 and d.t_train.tolist() == [0, 1]


# ---- IDX -------------------------------------------------------------------------------------


def test_idx_dimensions_are_multiplied_without_overflow() -> None:
    head = (0x803).to_bytes(4, "big") + b"".join(
        d.to_bytes(4, "big") for d in (2**22, 2**21, 2**21))
    with pytest.raises(DataError, match=r"declare 18,446,744,073,709,551,632 bytes, the file "
                                        r"has 1,016 bytes"):
        parse_idx(head + bytes(1000), "f", 0x803)


# ---- downloads -------------------------------------------------------------------------------


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Promises 1,000 bytes, then sends one every 50 ms; gives up after 200 (10 s at most)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(200):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass  # the client hung up: what the test wants

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def trickle() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_trickling_download_is_abandoned_at_the_deadline(
    trickle: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(download.MIRRORS_ENV, trickle)
    monkeypatch.setenv(download.DEADLINE_ENV, "0.5")
    started = time.monotonic()
    with pytest.raises(download.FetchError, match=r"too slow: .* bytes in the time allowed"):
        download.fetch("train-labels-idx1-ubyte", "0" * 64, tmp_path, progress=False)
    assert time.monotonic() - started < 8  # generous: the server alone would take 10 s
    assert list(tmp_path.iterdir()) == []  # the partial file is gone


def test_download_deadline_parameter_overrides_the_environment(
    trickle: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(download.MIRRORS_ENV, trickle)
    monkeypatch.setenv(download.DEADLINE_ENV, "1000")
    with pytest.raises(download.FetchError, match="too slow"):
        download.fetch("x", "0" * 64, tmp_path, progress=False, deadline=0.3)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_download_deadline_from_the_environment_must_be_positive(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(download.DEADLINE_ENV, value)
    with pytest.raises(download.FetchError, match=download.DEADLINE_ENV):
        download.deadline_s()
