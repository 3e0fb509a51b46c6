"""The contenders: netc's `net.fit`, PyTorch eager on the CPU, a plain NumPy loop (affine
chains only), and the GEMM-only bound (a language model's, `LMCase`, are in lm.py; a seq2seq
model's, `Seq2seqCase`, in seq2seq.py).

Each function trains (or, for the bound, multiplies) for `epochs` epochs and returns the
wall-clock seconds; setup (compiling, building tensors) happens before the clock starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

import netc

from . import lm, seq2seq
from .cases import Case, Conv, ConvCase, LMCase, Pool, Seq2seqCase

AnyCase = Case | ConvCase | LMCase | Seq2seqCase

if TYPE_CHECKING:
    from torch import nn


def netc_runner(case: AnyCase, backend: str = "numpy") -> Callable[[], float]:
    """netc's `fit` over the case; `backend="numba"` compiles first (one batch), untimed."""
    if isinstance(case, LMCase):
        return lm.netc_lm_runner(case)
    if isinstance(case, Seq2seqCase):
        return seq2seq.netc_seq2seq_runner(case)
    x, t = case.data()
    net = netc.compile(case.spec, seed=0, backend=backend)
    if backend != "numpy":
        net.fit(x[:case.batch], t[:case.batch], epochs=1, batch_size=case.batch, verbose=0)

    def run() -> float:
        start = time.perf_counter()
        net.fit(x, t, epochs=case.epochs, batch_size=case.batch, optimizer="sgd", lr=case.lr,
                seed=0, eval_train=False, verbose=0)  # no extra pass, no lines
        return time.perf_counter() - start

    return run


def torch_runner(case: AnyCase, threads: int) -> Callable[[], float]:
    if isinstance(case, LMCase):
        return lm.torch_lm_runner(case, threads)
    if isinstance(case, Seq2seqCase):
        return seq2seq.torch_seq2seq_runner(case, threads)
    import torch

    torch.set_num_threads(threads)
    x, t = case.data()
    # Images as (N, C, H, W), the layout nn.Conv2d takes; netc reads the same flat rows.
    xs, ts = torch.from_numpy(x).reshape(len(x), *case.input_shape), torch.from_numpy(t)
    model = torch_model(case)
    opt = torch.optim.SGD(model.parameters(), lr=case.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    orders = [torch.from_numpy(o) for o in case.orders()]

    def run() -> float:
        start = time.perf_counter()
        for order in orders:
            for s in range(0, case.samples, case.batch):
                idx = order[s:s + case.batch]
                xb, tb = xs.index_select(0, idx), ts.index_select(0, idx)
                loss = loss_fn(model(xb), tb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return time.perf_counter() - start

    return run


def torch_model(case: AnyCase) -> nn.Module:
    """The case's network as a PyTorch module: `Linear` and the activation, and for each
    residual block a module whose forward is `x + f(x)`, followed by the activation; for a
    ConvCase, `Conv2d`/`MaxPool2d`/`Linear` of the same sizes."""
    from torch import nn

    if isinstance(case, ConvCase):
        return _torch_convnet(case)
    if isinstance(case, LMCase):
        return lm.torch_lm(case)
    if isinstance(case, Seq2seqCase):
        return seq2seq.torch_seq2seq(case)

    act = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}[case.activation]

    class Residual(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.f = nn.Sequential(nn.Linear(width, width), act(), nn.Linear(width, width))

        def forward(self, x):
            return x + self.f(x)

    layers: list[nn.Module] = []
    for a, b in zip(case.widths[:-2], case.widths[1:-1], strict=True):
        layers += [nn.Linear(a, b), act()]
    for _ in range(case.blocks):
        layers += [Residual(case.widths[-2]), act()]
    return nn.Sequential(*layers, nn.Linear(*case.widths[-2:]))


def numpy_runner(case: AnyCase) -> Callable[[], float]:
    """A plain NumPy training loop, as in the DLFS reference code: the point of comparison
    the performance issue quotes (new arrays every step, `x[idx]`, `W -= lr * dW`). Plain
    chains only: a residual block does not fit DLFS's layer-after-layer loop
    (`case.numpy_loop`; `python -m benchmarks` leaves this contender out for the others)."""
    if not case.numpy_loop:
        raise ValueError(f"case {case.name!r}: the plain NumPy loop is for affine chains "
                         "(no residual blocks, no images)")
    x, t = case.data()
    rng = np.random.default_rng(0)
    shapes = list(zip(case.widths[:-1], case.widths[1:], strict=True))
    ws = [(rng.standard_normal((a, b)) * np.sqrt(1 / a)).astype(np.float32) for a, b in shapes]
    bs = [np.zeros(b, np.float32) for _, b in shapes]
    act = case.activation
    orders = case.orders()

    def run() -> float:
        losses: list[float] = []
        start = time.perf_counter()
        for order in orders:
            for s in range(0, case.samples, case.batch):
                idx = order[s:s + case.batch]
                xb, tb = x[idx], t[idx]
                hs = [xb]
                for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
                    h = hs[-1] @ w + b
                    if i < len(ws) - 1:
                        h = 1 / (1 + np.exp(-h)) if act == "sigmoid" else np.maximum(h, 0)
                    hs.append(h)
                z = hs[-1] - hs[-1].max(axis=1, keepdims=True)
                y = np.exp(z)
                y /= y.sum(axis=1, keepdims=True)
                rows = np.arange(len(tb))
                # The loss, as DLFS's SoftmaxWithLoss computes it (netc and PyTorch do too).
                losses.append(float(-np.sum(np.log(y[rows, tb] + 1e-7)) / len(tb)))
                dz = y
                dz[rows, tb] -= 1
                dz /= len(tb)
                for i in reversed(range(len(ws))):
                    dw, db = hs[i].T @ dz, dz.sum(axis=0)
                    if i:
                        dz = dz @ ws[i].T
                        h = hs[i]
                        dz = dz * h * (1 - h) if act == "sigmoid" else dz * (h > 0)
                    ws[i] -= case.lr * dw
                    bs[i] -= case.lr * db
        return time.perf_counter() - start

    return run


def gemm_runner(case: AnyCase) -> Callable[[], float]:
    """The same steps' matrix products alone: forward x@W, backward x.T@dy and dy@W.T (a
    residual block's skip adds no product, so its two layers chain like any others)."""
    if isinstance(case, ConvCase):
        return _conv_gemm_runner(case)
    if isinstance(case, LMCase):
        return lm.lm_gemm_runner(case)
    if isinstance(case, Seq2seqCase):
        return seq2seq.seq2seq_gemm_runner(case)
    rng = np.random.default_rng(0)
    ws = [rng.random((a, b), dtype=np.float32) * 0.01
          for a, b in zip(case.dims[:-1], case.dims[1:], strict=True)]
    sizes = [min(case.batch, case.samples - s) for s in range(0, case.samples, case.batch)]
    bufs = {n: _buffers(case, n, rng) for n in set(sizes)}
    dws = [np.empty_like(w) for w in ws]

    def run() -> float:
        start = time.perf_counter()
        for _ in range(case.epochs):
            for n in sizes:
                acts, grads = bufs[n]
                for i, w in enumerate(ws):
                    np.matmul(acts[i], w, out=acts[i + 1])
                for i in reversed(range(len(ws))):
                    np.matmul(acts[i].T, grads[i + 1], out=dws[i])
                    if i:
                        np.matmul(grads[i + 1], ws[i].T, out=grads[i])
        return time.perf_counter() - start

    return run


def _buffers(case: Case, n: int, rng: np.random.Generator) -> tuple[list, list]:
    acts = [rng.random((n, w), dtype=np.float32) for w in case.dims]
    grads = [rng.random((n, w), dtype=np.float32) for w in case.dims]
    return acts, grads


def _torch_convnet(case: ConvCase) -> nn.Module:
    """Conv2d + ReLU, MaxPool2d, Flatten before the first Linear, ReLU between Linears."""
    from torch import nn

    layers: list[nn.Module] = []
    shapes = case.shapes()[:-1]  # the input shape of each layer
    for i, (layer, shape) in enumerate(zip(case.layers, shapes, strict=True)):
        if isinstance(layer, Conv):
            layers += [nn.Conv2d(shape[0], layer.filters, layer.size, padding=layer.pad),
                       nn.ReLU()]
        elif isinstance(layer, Pool):
            layers.append(nn.MaxPool2d(layer.size))
        else:
            if len(shape) == 3:
                layers.append(nn.Flatten())
            layers.append(nn.Linear(int(np.prod(shape)), layer))
            if i < len(case.layers) - 1:
                layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _conv_gemm_runner(case: ConvCase) -> Callable[[], float]:
    """A convnet step's matrix products with netc's shapes (ConvCase.products): per conv
    W @ columns forward, dy @ columns.T and W.T @ dy backward; per affine layer as above. The
    first layer with weights computes no input gradient: nothing needs it, so netc skips it."""
    rng = np.random.default_rng(0)
    sizes = [min(case.batch, case.samples - s) for s in range(0, case.samples, case.batch)]
    steps = {n: [_product(p, n, rng) for p in case.products()] for n in set(sizes)}

    def run() -> float:
        start = time.perf_counter()
        for _ in range(case.epochs):
            for n in sizes:
                for forward, _ in steps[n]:
                    forward()
                for i, (_, backward) in reversed(list(enumerate(steps[n]))):
                    backward(i > 0)
        return time.perf_counter() - start

    return run


def _product(product: tuple[str, int, int, int], n: int,
             rng: np.random.Generator) -> tuple[Callable[[], None], Callable[[bool], None]]:
    """(forward, backward(input_grad)) closures over preallocated operands of one layer."""
    kind, a, b, p = product

    def r(*shape: int) -> np.ndarray:
        return rng.random(shape, dtype=np.float32) * 0.01

    if kind == "conv":  # W (F, K) @ col (K, n*P) = y (F, n*P)
        w, x, y, dy, dw, dx = r(a, b), r(b, n * p), r(a, n * p), r(a, n * p), r(a, b), r(b, n * p)
        ops = ((w, x), (dy, x.T), (w.T, dy))
    else:  # x (n, a) @ W (a, b) = y (n, b)
        w, x, y, dy, dw, dx = r(a, b), r(n, a), r(n, b), r(n, b), r(a, b), r(n, a)
        ops = ((x, w), (x.T, dy), (dy, w.T))

    def forward() -> None:
        np.matmul(*ops[0], out=y)

    def backward(input_grad: bool) -> None:
        np.matmul(*ops[1], out=dw)
        if input_grad:
            np.matmul(*ops[2], out=dx)

    return forward, backward
