"""Bad-input catalogue, reads that must never hang or balloon (issue 11).

FIFOs, devices and oversized files as specs, `fmt` input, checkpoints and data; `.npz` members
whose declared size is a lie or too large; IDX dimensions that overflow; CSV numbers that are
not plain ASCII decimals or do not fit; control characters in names and cells. Each case's
exact message is in `tests/bad_inputs/reads/`. Non-CLI behaviour (an unused member is never
inflated) is tested in `tests/runtime/data/test_reads.py`.
"""

from __future__ import annotations

import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from catalogue import (  # noqa: E402  (tests/ is not a package)
    DATA_SPEC,
    Catalogue,
    data_run,
    good_arrays,
    npz,
    spec_file,
    trained_checkpoint,
)

from netc.runtime import npz as npz_module  # noqa: E402
from netc.runtime.data import mnist  # noqa: E402

cat = Catalogue("reads")
GOOD_SPEC = "input: 2\naffine(3) -> softmax_ce\n"


def fifo(tmp: Path, name: str) -> Path:
    path = tmp / name
    os.mkfifo(path)
    return path


# ---- specs and checkpoints that are not regular files, or far too large ----------------------


@cat.case
def spec_is_a_fifo(tmp, mp):
    return ["check", fifo(tmp, "spec.net")]


@cat.case
def spec_is_dev_zero(tmp, mp):
    return ["check", "/dev/zero"]


@cat.case
def spec_500mb_sparse(tmp, mp):
    path = tmp / "huge.net"
    with open(path, "wb") as f:
        f.truncate(500_000_000)  # sparse: no disk used, and netc must not read it
    return ["check", path]


@cat.case
def graph_spec_is_a_fifo(tmp, mp):
    return ["graph", fifo(tmp, "spec.net")]


@cat.case
def fmt_input_is_a_fifo(tmp, mp):
    return ["fmt", spec_file(tmp, GOOD_SPEC, "good.net"), fifo(tmp, "pipe.net")]


@cat.case
def resume_is_a_fifo(tmp, mp):
    return data_run(npz(tmp, **good_arrays()), "--resume", fifo(tmp, "ck.npz"))


@cat.case
def resume_is_dev_zero(tmp, mp):
    return data_run(npz(tmp, **good_arrays()), "--resume", "/dev/zero")


@cat.case
def export_checkpoint_is_a_fifo(tmp, mp):
    return ["export", DATA_SPEC, "--checkpoint", fifo(tmp, "ck.npz"), "-o", tmp / "m.onnx"]


@cat.case
def predict_checkpoint_is_a_fifo(tmp, mp):
    inputs = npz(tmp, "in.npz", x=np.zeros((2, 4)))
    return ["predict", DATA_SPEC, inputs, "--checkpoint", fifo(tmp, "ck.npz")]


@cat.case
def predict_input_is_a_fifo(tmp, mp):
    ck = trained_checkpoint(tmp)
    return ["predict", DATA_SPEC, fifo(tmp, "in.csv"), "--checkpoint", ck]


@cat.case
def data_is_a_fifo(tmp, mp):
    return data_run(fifo(tmp, "data.npz"))


# ---- .npz members: declared sizes checked before anything is allocated ----------------------


def npz_member(name: str, header: dict, body: bytes, **others: np.ndarray) -> bytes:
    """A .npz whose member `name` has `header` (descr, fortran_order, shape) and `body`."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        head = io.BytesIO()
        np.lib.format.write_array_header_1_0(head, header)
        zf.writestr(name + ".npy", head.getvalue() + body)
        for key, value in others.items():
            buf = io.BytesIO()
            np.save(buf, value)
            zf.writestr(key + ".npy", buf.getvalue())
    return out.getvalue()


@cat.case
def npz_huge_declared_shape(tmp, mp):
    # A few hundred bytes declaring 29 TiB: np.load allocates it before reading a byte.
    raw = npz_member("x_train", {"descr": "<f8", "fortran_order": False,
                                 "shape": (10**12, 4)}, bytes(8), t_train=np.arange(10) % 3)
    path = tmp / "data.npz"
    path.write_bytes(raw)
    assert len(raw) < 1000
    return data_run(path)


@cat.case
def npz_zip_bomb_member(tmp, mp):
    # The header says 40 floats; the entry inflates to 64 MiB more (from about 64 KiB).
    x = np.zeros((10, 4))
    body = x.tobytes() + bytes(64 << 20)
    raw = npz_member("x_train", {"descr": "<f8", "fortran_order": False, "shape": (10, 4)},
                     body, t_train=np.arange(10) % 3)
    path = tmp / "data.npz"
    path.write_bytes(raw)
    return data_run(path)


@cat.case
def npz_member_over_memory(tmp, mp):
    # A genuine 2 MiB array, on a machine pretending to have 1 MiB free.
    mp.setattr(npz_module, "available_memory", lambda: 1 << 20)
    return data_run(npz(tmp, x_train=np.zeros((65536, 4)), t_train=np.zeros(65536, np.int64)))


@cat.case
def npz_member_name_control_chars(tmp, mp):
    evil = {"x_train": np.zeros((3, 4)), "\x1b[31mlabels\x07\n": np.zeros(3, np.int64)}
    return data_run(npz(tmp, **evil))


@cat.case
def npz_uint64_label_above_2_63(tmp, mp):
    t = np.array([0, 1, 2**63 + 5], dtype=np.uint64)
    return data_run(npz(tmp, x_train=np.zeros((3, 4)), t_train=t))


@cat.case
def npz_float64_overflows_float32(tmp, mp):
    x = np.zeros((5, 4))
    x[3, 2] = 1e300
    return data_run(npz(tmp, x_train=x, t_train=np.arange(5) % 3), "--dtype", "float32")


@cat.case
def ckpt_entry_name_control_chars(tmp, mp):
    ck = trained_checkpoint(tmp)
    with zipfile.ZipFile(ck, "a") as zf:
        buf = io.BytesIO()
        np.save(buf, np.zeros(2))
        zf.writestr("\x1b]0;pwned\x07.npy", buf.getvalue())
    return data_run(npz(tmp, **good_arrays()), "--resume", ck)


# ---- IDX ---------------------------------------------------------------------------------------


@cat.case
def idx_dims_overflow_int64(tmp, mp):
    # 2**22 * 2**21 * 2**21 = 2**64: np.prod in int64 wraps to 0.
    folder = tmp / "mnist"
    folder.mkdir()
    for n in mnist.FILES:
        dims = (0, 28, 28) if "idx3" in n else (0,)
        magic = 0x803 if "idx3" in n else 0x801
        (folder / n).write_bytes(_idx(magic, dims, b""))
    (folder / mnist.TRAIN_IMAGES).write_bytes(_idx(0x803, (2**22, 2**21, 2**21), bytes(1000)))
    return ["run", DATA_SPEC, "--data", "mnist", "--data-dir", folder, "--quiet"]


@cat.case
def idx_file_is_a_fifo(tmp, mp):
    # Named, not read (it would block) and not replaced by a download.
    folder = tmp / "mnist"
    folder.mkdir()
    os.mkfifo(folder / mnist.TRAIN_IMAGES)
    return ["run", DATA_SPEC, "--data", "mnist", "--data-dir", folder, "--quiet"]


def _idx(magic: int, dims: tuple[int, ...], body: bytes) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + body


# ---- CSV ---------------------------------------------------------------------------------------


def csv_file(tmp: Path, text: str) -> Path:
    path = tmp / "data.csv"
    path.write_text(text, encoding="utf-8")
    return path


@cat.case
def csv_label_1e30(tmp, mp):
    return data_run(csv_file(tmp, "1,2,3,4,0\n1,2,3,4,1e30\n"))


@cat.case
def csv_label_int64_max(tmp, mp):
    return data_run(csv_file(tmp, "1,2,3,4,0\n1,2,3,4,9223372036854775807\n"))


@cat.case
def csv_underscore_in_number(tmp, mp):
    return data_run(csv_file(tmp, "1,2,3,4,0\n1_0,2,3,4,1\n"))


@cat.case
def csv_arabic_indic_digit(tmp, mp):
    return data_run(csv_file(tmp, "1,2,3,4,0\n1,2,\u0663,4,1\n"))


@cat.case
def csv_fullwidth_digit_label(tmp, mp):
    return data_run(csv_file(tmp, "1,2,3,4,0\n1,2,3,4,\uff11\n"))


@cat.case
def csv_40mb_one_line(tmp, mp):
    return data_run(csv_file(tmp, "1," * 20_000_000 + "0\n"))


@cat.case
def csv_cell_control_chars(tmp, mp):
    return data_run(csv_file(tmp, "1,2,3,4,0\n1,\x1b[2J\x1b[31moops,3,4,1\n"))


@cat.case
def csv_float64_overflows_float32(tmp, mp):
    return data_run(csv_file(tmp, "1,2,3,4,0\n1,2,1e300,4,1\n"), "--dtype", "float32")


test_reads_catalogue_is_complete, test_reads_case_is_reported_exactly = cat.tests()
