"""Runtime stage: the NumPy kernels of the sequence ops (DLFS-2 ch. 3-6: embedding, RNN, LSTM,
GRU, last step, mean over steps, gradient clipping), under the rules of `kernels.py`
(self-contained top-level functions over `np` and their arguments, out arrays written and never
rebound, the dtype of the inputs kept).

Sequences are batch-major `(n, T, D)` at the kernels' edges; token ids are integer `(n, T)`.
Inside, the recurrent kernels work time-major on scratch the caller allocates: `xt (T, n, D)`
is x copied once so that the input projection of every step is ONE GEMM into the gate scratch
`G (T, n, kH)`, and each step then adds only its `h @ Wh` into the contiguous slab `G[t]`.
The backward fills the gate pre-activation gradients `dG (T, n, kH)` step by step and forms
the weight gradients as one GEMM each over all steps. Scratch may hold garbage on entry.

`b` is the bias `(kH,)`, or `(n, kH)`: a bias per row, which is how a vector given at every
step beside the input (a peeky decoder's `concat(x, h.last) -> lstm`) enters without being
multiplied T times (compiler/dataflow.py folds it).

`stream` is a 1-element bool array: when true the forward starts from the carried `h0`/`c0`
`(n, H)` and writes its final state back into them (DLFS-2 `stateful=True`, truncated BPTT);
when false it starts from zeros and leaves them alone. No gradient flows back into h0/c0.

Gate orders (columns of Wx (D, kH), Wh (H, kH), b (kH,)) and their ONNX mapping:
- LSTM, DLFS-2: f, g, i, o (forget, cell candidate, input, output);
  c' = f*c + g*i, h' = o*tanh(c'). PyTorch is i, f, g, o; ONNX LSTM is i, o, f, c (its W is
  (4H, D), transposed, with Wb and Rb two biases: put b in Wb and zeros in Rb).
- GRU, DLFS-2: z, r, h; z = s(x Wxz + h Whz + bz), r = s(x Wxr + h Whr + br),
  hh = tanh(x Wxh + (r*h) Whh + bh), h' = (1-z)*h + z*hh. ONNX GRU is z, r, h with
  h' = (1-z)*hh + z*h: its z is the book's 1-z, so export z's weights and bias negated
  (s(-a) = 1 - s(a)); linear_before_reset=0 is the book's (r*h) Whh. PyTorch applies r after
  the product, r*(h Whh + b_hn), and does not match the book's GRU.
- RNN: h' = tanh(x Wx + h Wh + b) (ONNX RNN with its default tanh).
Sigmoids are 0.5 * (1 + tanh(a / 2)), which cannot overflow, as in kernels.py.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def embed_forward(x: NDArray, W: NDArray, y: NDArray) -> None:
    """y = W[x].  x int (n, T) or (n,), W (V, D), y (n, T, D) or (n, D)."""
    np.take(W, x, axis=0, out=y)


def embed_backward(dy: NDArray, x: NDArray, dW: NDArray) -> None:
    """dW = 0, then dW[x[k]] += dy[k] for every token k (repeated ids add up).

    The ids are sorted and each run of equal ids summed by one np.add.reduceat, then written
    to its row: 1.2-1.7x faster than np.add.at (numpy 2.4, n*T = 700, one core; 0.54 vs 0.94
    ms at V=10000, D=100 float32, 6.0 vs 7.2 ms at D=650), a third of which is the zeroing.
    """
    dW.fill(0)
    ids = x.reshape(-1)
    if ids.size == 0:
        return
    order = np.argsort(ids, kind="stable")
    s = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    dW[s[starts]] = np.add.reduceat(dy.reshape(-1, dW.shape[1])[order], starts, axis=0)


def lstm_forward(
    x: NDArray, Wx: NDArray, Wh: NDArray, b: NDArray, y: NDArray, h0: NDArray, c0: NDArray,
    stream: NDArray, xt: NDArray, G: NDArray, Hs: NDArray, Cs: NDArray, Tc: NDArray,
) -> None:
    """DLFS-2 6.3: A = x Wx + h Wh + b; f, g, i, o = s(A_f), tanh(A_g), s(A_i), s(A_o);
    c' = f*c + g*i; h' = o*tanh(c').

    x (n, T, D), y (n, T, H). Scratch kept for backward: xt (T, n, D), G (T, n, 4H) the gate
    activations, Hs and Cs (T+1, n, H) with the initial h and c at index 0, Tc (T, n, H) the
    tanh of each new cell.
    """
    n, T, D = x.shape
    H = Wh.shape[0]
    # All four gates of a step from ONE tanh over its (n, 4H) block: s(a) = 0.5 + 0.5*tanh(a/2),
    # so the pre-activations come scaled by `half` (0.5 in the f, i, o columns, 1 in g's) and
    # the tanh's output is mapped back by `half` and `shift` (0.5 there, 0 in g's). Why: a step
    # is a dozen small calls, and one call on 4H columns costs about what one on H does.
    half = np.full(4 * H, 0.5, dtype=G.dtype)
    half[H:2 * H] = 1
    shift = np.full(4 * H, 0.5, dtype=G.dtype)
    shift[H:2 * H] = 0
    Whs = np.multiply(Wh, half)
    np.copyto(xt, x.transpose(1, 0, 2))
    # Every step's input projection at once: the only GEMM with T*n rows.
    G2 = G.reshape(T * n, 4 * H)
    np.matmul(xt.reshape(T * n, D), Wx, out=G2)
    G += b  # b (4H,), or (n, 4H): a bias per row (a peeky input folded in)
    G2 *= half
    if stream[0]:
        np.copyto(Hs[0], h0)
        np.copyto(Cs[0], c0)
    else:
        Hs[0].fill(0)
        Cs[0].fill(0)
    hw = np.empty((n, 4 * H), dtype=G.dtype)
    gi = np.empty((n, H), dtype=G.dtype)
    for t in range(T):
        A = G[t]
        np.matmul(Hs[t], Whs, out=hw)
        A += hw
        np.tanh(A, out=A)
        A *= half
        A += shift
        np.multiply(A[:, :H], Cs[t], out=Cs[t + 1])
        np.multiply(A[:, H:2 * H], A[:, 2 * H:3 * H], out=gi)
        Cs[t + 1] += gi
        np.tanh(Cs[t + 1], out=Tc[t])
        np.multiply(A[:, 3 * H:], Tc[t], out=Hs[t + 1])
    np.copyto(y, Hs[1:].transpose(1, 0, 2))
    if stream[0]:
        np.copyto(h0, Hs[T])
        np.copyto(c0, Cs[T])


def lstm_backward(
    dy: NDArray, Wx: NDArray, Wh: NDArray, xt: NDArray, G: NDArray, Hs: NDArray, Cs: NDArray,
    Tc: NDArray, dx: NDArray | None, dWx: NDArray, dWh: NDArray, db: NDArray, dG: NDArray,
) -> None:
    """DLFS-2 6.3 backward, truncated at the window: ds = dc + dh*o*(1-tanh(c')^2);
    dA = [ds*c*f(1-f), ds*i*(1-g^2), ds*g*i(1-i), dh*tanh(c')*o(1-o)]; dc = ds*f;
    dh = dA Wh.T. Then dWx = x.T dA, dWh = h.T dA, db = sum dA, dx = dA Wx.T over all steps.

    dy (n, T, H), dx (n, T, D) or None; dG (T, n, 4H) scratch. Spent scratch is overwritten:
    Tc by o*(1-tanh(c')^2), xt by dx's time-major copy once dWx is formed (as conv's columns).
    """
    (T, n, D), H = xt.shape, Wh.shape[0]
    G4, dG4 = G.reshape(T, n, 4, H), dG.reshape(T, n, 4, H)
    f, g, i, o = G4[:, :, 0], G4[:, :, 1], G4[:, :, 2], G4[:, :, 3]
    df, dg, di, do = dG4[:, :, 0], dG4[:, :, 1], dG4[:, :, 2], dG4[:, :, 3]
    # The factors that do not depend on the carried dh and dc, for all steps in a few large
    # calls: dG holds [c*f(1-f), i*(1-g^2), g*i(1-i), tanh(c')*o(1-o)] and Tc o*(1-tanh(c')^2),
    # so that a step is left with 6 small calls and its product instead of 22.
    np.subtract(1, f, out=df)
    df *= f
    df *= Cs[:T]
    np.multiply(g, g, out=dg)
    np.subtract(1, dg, out=dg)
    dg *= i
    np.subtract(1, i, out=di)
    di *= i
    di *= g
    np.subtract(1, o, out=do)
    do *= o
    do *= Tc
    np.multiply(Tc, Tc, out=Tc)
    np.subtract(1, Tc, out=Tc)
    Tc *= o
    # The carried dh and dc (dc zero: no gradient comes from a later window), one temporary.
    dh, dc, tmp = np.zeros((3, n, H), dtype=dG.dtype)
    np.copyto(dh, dy[:, T - 1])
    for t in range(T - 1, -1, -1):
        np.multiply(dh, Tc[t], out=tmp)
        dc += tmp  # now ds
        dG4[t, :, 3] *= dh
        dG4[t, :, :3] *= dc[:, None, :]
        dc *= G4[t, :, 0]
        if t:
            np.matmul(dG[t], Wh.T, out=dh)
            dh += dy[:, t - 1]
    dG2, x2 = dG.reshape(T * n, 4 * H), xt.reshape(T * n, D)
    np.matmul(x2.T, dG2, out=dWx)
    np.matmul(Hs[:T].reshape(T * n, H).T, dG2, out=dWh)
    np.sum(dG2, axis=0, out=db)
    if dx is not None:
        np.matmul(dG2, Wx.T, out=x2)
        np.copyto(dx, xt.transpose(1, 0, 2))


def gru_forward(
    x: NDArray, Wx: NDArray, Wh: NDArray, b: NDArray, y: NDArray, h0: NDArray,
    stream: NDArray, xt: NDArray, G: NDArray, Hs: NDArray, G2: NDArray,
) -> None:
    """DLFS-2 GRU: z = s(x Wxz + h Whz + bz), r = s(x Wxr + h Whr + br),
    hh = tanh(x Wxh + (r*h) Whh + bh), h' = (1-z)*h + z*hh.

    x (n, T, D), y (n, T, H). Scratch kept for backward: xt (T, n, D), G (T, n, 3H) holding
    z, r, hh, Hs (T+1, n, H) with the initial h at index 0, G2 (T, n, H) holding r*h (the
    input of Whh, which dWh needs).
    """
    n, T, D = x.shape
    H = Wh.shape[0]
    np.copyto(xt, x.transpose(1, 0, 2))
    Gf = G.reshape(T * n, 3 * H)
    np.matmul(xt.reshape(T * n, D), Wx, out=Gf)
    G += b  # (3H,) or (n, 3H) per row
    if stream[0]:
        np.copyto(Hs[0], h0)
    else:
        Hs[0].fill(0)
    hw = np.empty((n, 2 * H), dtype=G.dtype)
    for t in range(T):
        A, h = G[t], Hs[t]
        zr, hh = A[:, :2 * H], A[:, 2 * H:]
        np.matmul(h, Wh[:, :2 * H], out=hw)
        zr += hw
        zr *= 0.5
        np.tanh(zr, out=zr)
        zr += 1
        zr *= 0.5
        np.multiply(A[:, H:2 * H], h, out=G2[t])
        np.matmul(G2[t], Wh[:, 2 * H:], out=hw[:, :H])
        hh += hw[:, :H]
        np.tanh(hh, out=hh)
        # h' = h + z*(hh - h)
        np.subtract(hh, h, out=Hs[t + 1])
        Hs[t + 1] *= A[:, :H]
        Hs[t + 1] += h
    np.copyto(y, Hs[1:].transpose(1, 0, 2))
    if stream[0]:
        np.copyto(h0, Hs[T])


def gru_backward(
    dy: NDArray, Wx: NDArray, Wh: NDArray, xt: NDArray, G: NDArray, Hs: NDArray, dx: NDArray | None,
    dWx: NDArray, dWh: NDArray, db: NDArray, dG: NDArray, G2: NDArray,
    dh0: NDArray | None = None,
) -> None:
    """DLFS-2 GRU backward, truncated at the window: dA_h = dh*z*(1-hh^2),
    dhr = dA_h Whh.T, dA_z = dh*(hh-h)*z(1-z), dA_r = dhr*h*r(1-r),
    dh_prev = dh*(1-z) + r*dhr + [dA_z dA_r] [Whz Whr].T; weights, bias and dx over all steps.

    dy (n, T, H), dx (n, T, D) or None; dG (T, n, 3H) scratch; G2 as forward left it. xt is
    overwritten by dx's time-major copy once dWx is formed. dh0 (n, H), where given, receives
    the gradient of the state the window started from (a layer with `init=`).
    """
    (T, n, D), H = xt.shape, Wh.shape[0]
    # The carried dh (zero: no gradient comes from a later window) and two temporaries.
    dh, dhr, tmp = np.zeros((3, n, H), dtype=dG.dtype)
    for t in range(T - 1, -1, -1):
        A, dA, h = G[t], dG[t], Hs[t]
        z, r, hh = A[:, :H], A[:, H:2 * H], A[:, 2 * H:]
        dh += dy[:, t]
        np.multiply(hh, hh, out=tmp)
        np.subtract(1, tmp, out=tmp)
        tmp *= z
        np.multiply(dh, tmp, out=dA[:, 2 * H:])
        np.matmul(dA[:, 2 * H:], Wh[:, 2 * H:].T, out=dhr)
        np.subtract(hh, h, out=tmp)
        tmp *= dh
        np.multiply(tmp, z, out=dA[:, :H])
        np.subtract(1, z, out=tmp)
        dA[:, :H] *= tmp
        np.subtract(1, r, out=tmp)
        tmp *= r
        tmp *= h
        np.multiply(dhr, tmp, out=dA[:, H:2 * H])
        np.subtract(1, z, out=tmp)
        dh *= tmp
        dhr *= r
        dh += dhr
        np.matmul(dA[:, :2 * H], Wh[:, :2 * H].T, out=tmp)
        dh += tmp
    if dh0 is not None:
        np.copyto(dh0, dh)
    dGf = dG.reshape(T * n, 3 * H)
    x2 = xt.reshape(T * n, D)
    np.matmul(x2.T, dGf, out=dWx)
    np.matmul(Hs[:T].reshape(T * n, H).T, dGf[:, :2 * H], out=dWh[:, :2 * H])
    np.matmul(G2.reshape(T * n, H).T, dGf[:, 2 * H:], out=dWh[:, 2 * H:])
    np.sum(dGf, axis=0, out=db)
    if dx is not None:
        np.matmul(dGf, Wx.T, out=x2)
        np.copyto(dx, xt.transpose(1, 0, 2))


def rnn_forward(
    x: NDArray, Wx: NDArray, Wh: NDArray, b: NDArray, y: NDArray, h0: NDArray,
    stream: NDArray, xt: NDArray, Hs: NDArray,
) -> None:
    """DLFS-2 5.3: h' = tanh(x Wx + h Wh + b).  x (n, T, D), y (n, T, H); scratch xt
    (T, n, D) and Hs (T+1, n, H) with the initial h at index 0, both kept for backward.
    """
    n, T, D = x.shape
    H = Wh.shape[0]
    np.copyto(xt, x.transpose(1, 0, 2))
    # The input projection of every step lands in Hs[1:] and each step adds h Wh to it.
    Hf = Hs[1:].reshape(T * n, H)
    np.matmul(xt.reshape(T * n, D), Wx, out=Hf)
    Hs[1:] += b  # (H,) or (n, H) per row
    if stream[0]:
        np.copyto(Hs[0], h0)
    else:
        Hs[0].fill(0)
    hw = np.empty((n, H), dtype=Hs.dtype)
    for t in range(T):
        np.matmul(Hs[t], Wh, out=hw)
        Hs[t + 1] += hw
        np.tanh(Hs[t + 1], out=Hs[t + 1])
    np.copyto(y, Hs[1:].transpose(1, 0, 2))
    if stream[0]:
        np.copyto(h0, Hs[T])


def rnn_backward(
    dy: NDArray, Wx: NDArray, Wh: NDArray, xt: NDArray, Hs: NDArray, dx: NDArray | None,
    dWx: NDArray, dWh: NDArray, db: NDArray, dG: NDArray,
) -> None:
    """DLFS-2 5.3 backward, truncated at the window: dA = dh*(1-h'^2), dh = dA Wh.T; then
    dWx = x.T dA, dWh = h.T dA, db = sum dA, dx = dA Wx.T over all steps.

    dy (n, T, H), dx (n, T, D) or None, dG (T, n, H) scratch. xt is overwritten by dx's
    time-major copy once dWx is formed.
    """
    T, n, D = xt.shape
    H = Wh.shape[0]
    dh = np.zeros((n, H), dtype=dG.dtype)
    for t in range(T - 1, -1, -1):
        dh += dy[:, t]
        np.multiply(Hs[t + 1], Hs[t + 1], out=dG[t])
        np.subtract(1, dG[t], out=dG[t])
        dG[t] *= dh
        np.matmul(dG[t], Wh.T, out=dh)
    dGf = dG.reshape(T * n, H)
    x2 = xt.reshape(T * n, D)
    np.matmul(x2.T, dGf, out=dWx)
    np.matmul(Hs[:T].reshape(T * n, H).T, dGf, out=dWh)
    np.sum(dGf, axis=0, out=db)
    if dx is not None:
        np.matmul(dGf, Wx.T, out=x2)
        np.copyto(dx, xt.transpose(1, 0, 2))


def peek_forward(p: NDArray, Wp: NDArray, b: NDArray, pb: NDArray) -> None:
    """pb = p Wp + b: a vector given at every step (a peeky decoder's h), as the bias per row
    of a recurrent layer's input projection.  p (n, P), Wp (P, kH) Wx's rows for it, pb (n, kH)."""
    np.matmul(p, Wp, out=pb)
    pb += b


def peek_backward(dG: NDArray, p: NDArray, Wp: NDArray, dWp: NDArray, dpb: NDArray,
                  dp: NDArray | None) -> None:
    """dpb = the steps' sum of dG; dWp = p.T dpb; dp = dpb Wp.T.  dG (T, n, kH) the input
    projection's gradient the layer's backward left, dp (n, P) or None."""
    np.sum(dG, axis=0, out=dpb)
    np.matmul(p.T, dpb, out=dWp)
    if dp is not None:
        np.matmul(dpb, Wp.T, out=dp)


def last_forward(x: NDArray, y: NDArray) -> None:
    """y = x[:, -1], the last step.  x (n, T, H), y (n, H)."""
    np.copyto(y, x[:, -1])


def last_backward(dy: NDArray, dx: NDArray | None) -> None:
    """dx = 0 except dx[:, -1] = dy.  dy (n, H), dx (n, T, H) or None."""
    if dx is None:
        return
    dx.fill(0)
    np.copyto(dx[:, -1], dy)


def seq_mean_forward(x: NDArray, y: NDArray) -> None:
    """y = the mean over axis 1.  x (n, C, D), y (n, D)."""
    np.mean(x, axis=1, out=y)


def seq_mean_backward(dy: NDArray, dx: NDArray | None) -> None:
    """dx = dy / C at every position.  dy (n, D), dx (n, C, D) or None."""
    if dx is None:
        return
    np.multiply(dy[:, None, :], 1.0 / dx.shape[1], out=dx)


SEQUENCE_KERNELS = {f.__name__: f for f in (
    embed_forward, embed_backward, lstm_forward, lstm_backward, gru_forward, gru_backward,
    rnn_forward, rnn_backward, peek_forward, peek_backward, last_forward, last_backward,
    seq_mean_forward,
    seq_mean_backward)}
