"""The contenders: netc's `net.fit`, PyTorch eager on the CPU, and the GEMM-only bound.

Each function trains (or, for the bound, multiplies) for `epochs` epochs and returns the
wall-clock seconds; setup (compiling, building tensors) happens before the clock starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

import netc

from .cases import Case


def netc_runner(case: Case) -> Callable[[], float]:
    x, t = case.data()
    net = netc.compile(case.spec, seed=0)

    def run() -> float:
        start = time.perf_counter()
        net.fit(x, t, epochs=case.epochs, batch_size=case.batch, optimizer="sgd", lr=case.lr,
                seed=0, eval_train=False, verbose=0)  # no extra pass, no lines
        return time.perf_counter() - start

    return run


def torch_runner(case: Case, threads: int) -> Callable[[], float]:
    import torch

    torch.set_num_threads(threads)
    x, t = case.data()
    xs, ts = torch.from_numpy(x), torch.from_numpy(t)
    act = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}[case.activation]
    layers: list[torch.nn.Module] = []
    for a, b in zip(case.widths[:-1], case.widths[1:], strict=True):
        layers += [torch.nn.Linear(a, b), act()]
    model = torch.nn.Sequential(*layers[:-1])
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


def numpy_runner(case: Case) -> Callable[[], float]:
    """A plain NumPy training loop, as in the DLFS reference code: the point of comparison
    the performance issue quotes (new arrays every step, `x[idx]`, `W -= lr * dW`)."""
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


def gemm_runner(case: Case) -> Callable[[], float]:
    """The same steps' matrix products alone: forward x@W, backward x.T@dy and dy@W.T."""
    rng = np.random.default_rng(0)
    ws = [rng.random((a, b), dtype=np.float32) * 0.01
          for a, b in zip(case.widths[:-1], case.widths[1:], strict=True)]
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
    acts = [rng.random((n, w), dtype=np.float32) for w in case.widths]
    grads = [rng.random((n, w), dtype=np.float32) for w in case.widths]
    return acts, grads
