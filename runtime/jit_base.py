"""Runtime stage 6b, the compiled backend's shared pieces: the float type, the products, exp.

Plain Python that Numba compiles inside each generated module (runtime/jit.py copies the
source of what a network uses): `F` is the network's float type and `gemm` NumPy's BLAS
(runtime/jit_blas.py), both rebound there; `mm` sends a product to BLAS or to loops by its
size; `exp32` is an exp that vectorizes; the rest are the training loop's own steps
(gathering a batch, clipping, weight decay, predictions). The loop kernels of the ops are
in `jit_kernels.py` (vectors), `jit_images.py` (images) and `jit_updates.py` (optimizers).
"""

from __future__ import annotations

import math

import numpy as np

F = np.float64  # the generated module rebinds it to the network's dtype
gemm = np.dot  # likewise: runtime/jit_blas.py


def _blas(rows: int, inner: int, cols: int) -> bool:
    """Whether a product is big enough for BLAS. Why a count of multiply-adds: below a few
    thousand, BLAS's call costs more than scalar loops (the spiral's 30x2 @ 2x10 is several
    times faster as loops); above, BLAS's kernels win by far, however narrow one side is
    (a 100x50 @ 50x10 product is 10x faster in BLAS than in loops)."""
    return rows * inner * cols >= 8192


def mm(a, b, out):  # noqa: ANN001, ANN201 - compiled by Numba, typed by its callers
    """out = a @ b (a (n, k), b (k, m)); a or b may be a transposed view."""
    n, k = a.shape
    m = b.shape[1]
    if _blas(n, k, m):
        gemm(a, b, out)  # NumPy's BLAS where found (runtime/jit_blas.py), else np.dot
        return
    # Loop orders measured on the spiral net's products: dot products for an output a few
    # columns wide, otherwise rows of out accumulated in the order of the inner dimension
    # (2-3x faster than one order for all; 30x10 @ 10x3: 0.34 us against 1.05).
    if m < 8:
        for i in range(n):
            for j in range(m):
                total = F(0)
                for p in range(k):
                    total += a[i, p] * b[p, j]
                out[i, j] = total
        return
    out[...] = 0
    for p in range(k):
        for i in range(n):
            v = a[i, p]
            for j in range(m):
                out[i, j] += v * b[p, j]


def exp32(x):  # noqa: ANN001, ANN201
    """exp(x) in float32 within about 1 ulp (Cephes' expf: 2^k times a polynomial in the
    remainder), in plain arithmetic so loops over it vectorize: libm's exp is a call per
    element that blocks SIMD (a sigmoid over 100x50 took 9.2 us against NumPy's 3.1; with
    this, 0.9). Beyond +-88 the argument is clamped (e^88 is finite; a sigmoid or softmax
    reads the same); a NaN stays NaN. `F` float64 networks use np.exp (see `FAST_EXP`)."""
    x = F(88) if x > 88 else x
    x = F(-87) if x < -87 else x
    k = np.floor(x * F(1.44269504088896341) + F(0.5))
    r = x - k * F(0.693359375) + k * F(2.12194440e-4)
    p = F(1.9875691500e-4)
    p = p * r + F(1.3981999507e-3)
    p = p * r + F(8.3334519073e-3)
    p = p * r + F(4.1665795894e-2)
    p = p * r + F(1.6666665459e-1)
    p = p * r + F(5.0000001201e-1)
    p = p * r * r + r + F(1)
    return p * np.int32((np.int32(k) + np.int32(127)) << np.int32(23)).view(np.float32)


def exp64(x):  # noqa: ANN001, ANN201
    """exp(x) for float64 networks: libm's, exact to the last bit as NumPy's."""
    return np.exp(x)


def gather(src, perm, lo, out):  # noqa: ANN001, ANN201
    """out[r] = src[perm[lo + r]]: a mini-batch's rows (the NumPy trainer's `take`)."""
    rows, width = out.shape[0], out.size // max(out.shape[0], 1)
    flat_src, flat_out = src.reshape(src.shape[0], width), out.reshape(rows, width)
    for r in range(rows):
        row = perm[lo + r]
        for j in range(width):  # Why a loop: a row slice's assignment costs ~100 ns
            flat_out[r, j] = flat_src[row, j]


def clip_norm(g, limit):  # noqa: ANN001, ANN201
    """Scale g down to global norm `limit` when larger (optim.clip_norm)."""
    total = 0.0
    for i in range(g.size):
        total += g[i] * g[i]
    norm = math.sqrt(total)
    if norm > limit:
        c = F(limit / (norm + 1e-6))
        for i in range(g.size):
            g[i] *= c


def add_decay(p, g, decay):  # noqa: ANN001, ANN201
    """g += decay * p: DLFS's weight decay on the weights only (fitsettings.with_decay)."""
    for i in range(p.size):
        g[i] += decay[i] * p[i]


def accumulate(g, t):  # noqa: ANN001, ANN201
    """g += t: the gradients of a value read twice add up (NumPy: np.add(g, t, out=g))."""
    gs, ts = g.reshape(g.size), t.reshape(t.size)
    for i in range(gs.size):
        gs[i] += ts[i]


def argmax_rows(y, preds, lo):  # noqa: ANN001, ANN201
    """preds[lo + r] = argmax of row r: the epoch's predictions, for train_acc."""
    for r in range(y.shape[0]):
        preds[lo + r] = np.argmax(y[r])


def count_hits(y, t):  # noqa: ANN001, ANN201
    """Rows' worth of sigmoid hits, (y > 0.5) == (t > 0.5) summed over units / units: what
    `metrics.accuracy` times the batch size gives."""
    ys, ts = y.reshape(y.size), t.reshape(y.size)
    hits = 0
    for i in range(ys.size):
        hits += (ys[i] > 0.5) == (ts[i] > 0.5)
    return hits / y.shape[1]



fast_exp = exp32  # the generated module binds exp32 or exp64 by its dtype
