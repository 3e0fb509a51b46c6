"""Runtime stage 6b, the compiled backend's matrix products: NumPy's own BLAS, called from Numba.

Numba's `np.dot` calls SciPy's OpenBLAS, a different build from NumPy's: measured here it
was 5-15 % slower on netc's shapes (784x100 @ 100x50: 80 us against NumPy's 70), which alone
made the compiled backend lose to the NumPy one on MNIST-sized networks. So the compiled
module binds `cblas_?gemm` from the OpenBLAS that NumPy's wheel ships, by symbol name
(`llvmlite.binding.add_symbol` + `numba.types.ExternalFunction`): the cached machine code
refers to the name, and each process binds the name to its own address, so the disk cache
stays valid. Where that library is not found (a NumPy built on MKL or Accelerate), the
module falls back to `np.dot`. The functions here are copied into the generated module as
source, like the loop kernels: it imports numpy and numba only.
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

# CBLAS constants (cblas.h)
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def numpy_cblas() -> tuple[int, int] | None:
    """Addresses of cblas_sgemm and cblas_dgemm (64-bit integer interface) in the OpenBLAS
    NumPy's wheel ships, or None when there is none to find."""
    base = os.path.dirname(os.path.abspath(np.__file__))
    found = []
    for folder in (os.path.join(base, os.pardir, "numpy.libs"), os.path.join(base, ".dylibs")):
        found += glob.glob(os.path.join(folder, "*openblas*"))
    for path in found:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_cblas_", "cblas_"):
            try:
                s, d = getattr(lib, prefix + "sgemm64_"), getattr(lib, prefix + "dgemm64_")
            except AttributeError:
                continue
            return (ctypes.cast(s, ctypes.c_void_p).value or 0,
                    ctypes.cast(d, ctypes.c_void_p).value or 0)
    return None


def bind_cblas(addresses: tuple[int, int]) -> tuple[object, object]:
    """`netc_sgemm` and `netc_dgemm` as functions compiled code may call (and cache)."""
    import llvmlite.binding as llvm
    from numba import types

    llvm.add_symbol("netc_sgemm", addresses[0])
    llvm.add_symbol("netc_dgemm", addresses[1])
    i32, i64, ptr = types.int32, types.int64, types.voidptr
    return tuple(types.ExternalFunction(name, types.void(
        i32, i32, i32, i64, i64, i64, t, ptr, i64, ptr, i64, t, ptr, i64))
        for name, t in (("netc_sgemm", types.float32), ("netc_dgemm", types.float64)))


def gemm_cblas(a, b, out):  # noqa: ANN001, ANN201 - compiled by Numba
    """out = a @ b by NumPy's BLAS; a and b C-ordered or transposed views of C arrays, out
    C-ordered."""
    size = a.itemsize
    n, k = a.shape
    m = b.shape[1]
    # A side of length 1 leaves its stride free: the leading dimension then only has to be
    # at least the row length BLAS expects.
    ta = NO_TRANS if a.strides[1] == size else TRANS
    lda = max(a.strides[0] // size, k) if ta == NO_TRANS else max(a.strides[1] // size, n)
    tb = NO_TRANS if b.strides[1] == size else TRANS
    ldb = max(b.strides[0] // size, m) if tb == NO_TRANS else max(b.strides[1] // size, k)
    GEMM(ROW_MAJOR, ta, tb, n, m, k, F(1), a.ctypes.data, lda, b.ctypes.data, ldb, F(0),
         out.ctypes.data, m)


def gemm_numba(a, b, out):  # noqa: ANN001, ANN201 - compiled by Numba
    """out = a @ b by Numba's np.dot (SciPy's BLAS), where NumPy's is not found."""
    np.dot(a, b, out)


F = np.float64  # the generated module rebinds these
GEMM = None
