"""The language-model contenders (`LMCase`): netc's truncated-BPTT `net.fit`, PyTorch eager
(`Embedding` + `LSTM` + `Linear`, the state carried across windows with `.detach()`), and the
GEMM-only bound of the same step.

Both trainers see the same windows: netc's `Streams` cuts the corpus into `batch` streams and
the PyTorch side takes its windows from the same object, so only the implementation differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

import netc
from netc.runtime.streams import Streams

from .cases import LMCase

if TYPE_CHECKING:
    from torch import nn


def windows(case: LMCase, ids: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(tokens, next tokens), each (batch, bptt), of every window in netc's order."""
    streams = Streams(ids, case.batch, case.bptt, case.name)
    out = []
    for k in range(streams.iters):
        xb = np.empty((case.batch, case.bptt), np.int64)
        tb = np.empty_like(xb)
        streams.fill(k, xb, tb)
        out.append((xb, tb))
    return out


def netc_lm_runner(case: LMCase) -> Callable[[], float]:
    ids = case.data()
    net = netc.compile(case.spec, seed=0)

    def run() -> float:
        start = time.perf_counter()
        # The spec's train: and optimizer: settings, spelt out; no extra pass, no lines.
        net.fit(ids, epochs=case.epochs, bptt=case.bptt, batch_size=case.batch,
                clip=case.clip, optimizer="sgd", lr=case.lr, seed=0, eval_train=False,
                verbose=0)
        return time.perf_counter() - start

    return run


def torch_lm(case: LMCase) -> nn.Module:
    """The case's network as a PyTorch module: forward(x, state) -> (logits, state). Gates
    in PyTorch's order i, f, g, o (netc's are f, g, i, o)."""
    from torch import nn

    class LM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(case.vocab, case.embed)
            self.lstm = nn.LSTM(case.embed, case.hidden, batch_first=True)
            # One LSTM bias, as DLFS-2 and netc have: PyTorch's second one (b_hh) stays zero
            # and untrained. Trained, it would get b_ih's gradient a second time, counted
            # twice in the clipped norm and doubling the bias's step.
            self.lstm.bias_hh_l0.data.zero_()
            self.lstm.bias_hh_l0.requires_grad_(False)
            self.affine = nn.Linear(case.hidden, case.vocab)

        def forward(self, x, state=None):
            y, state = self.lstm(self.embed(x), state)
            return self.affine(y), state

    return LM()


def copy_netc_weights(model: nn.Module, params: dict[str, np.ndarray]) -> None:
    """Give `model` (torch_lm) the weights of a netc network of the same case, so that both
    start from one point: gates reordered (netc f, g, i, o -> PyTorch i, f, g, o) and the
    matrices transposed (netc keeps (in, out), PyTorch (out, in))."""
    import torch

    def gates(a: np.ndarray) -> np.ndarray:
        f, g, i, o = np.split(a, 4, axis=-1)
        return np.ascontiguousarray(np.concatenate([i, f, g, o], axis=-1).T)

    # netc's keys are "<layer index>.<op>.<name>": "0.embed.W", "1.lstm.Wx", "2.affine.b"...
    p = {k.split(".", 1)[1]: v for k, v in params.items()}
    embed, wx, wh, b, w, wb = (p[k] for k in ("embed.W", "lstm.Wx", "lstm.Wh", "lstm.b",
                                              "affine.W", "affine.b"))
    with torch.no_grad():
        for dst, src in ((model.embed.weight, embed), (model.lstm.weight_ih_l0, gates(wx)),
                         (model.lstm.weight_hh_l0, gates(wh)), (model.lstm.bias_ih_l0, gates(b)),
                         (model.affine.weight, w.T), (model.affine.bias, wb)):
            dst.copy_(torch.from_numpy(np.ascontiguousarray(src)))


def torch_lm_train(case: LMCase, model: nn.Module, batches: list[Any]) -> float:
    """One pass over `batches` (tensor pairs) as DLFS-2's RnnlmTrainer: SGD with the gradient
    clipped to `case.clip`, the state carried from window to window but not its gradient.
    Returns the last window's loss."""
    import torch

    # Why the optimizer is made here: plain SGD keeps no state, so this costs one object.
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=case.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    state, loss = None, None
    for x, t in batches:
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = loss_fn(logits.reshape(-1, case.vocab), t.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, case.clip)
        opt.step()
    return float(loss.detach()) if loss is not None else float("nan")


def torch_lm_runner(case: LMCase, threads: int) -> Callable[[], float]:
    import torch

    torch.set_num_threads(threads)
    batches = [(torch.from_numpy(x), torch.from_numpy(t)) for x, t in windows(case, case.data())]
    model = torch_lm(case)

    def run() -> float:
        start = time.perf_counter()
        for _ in range(case.epochs):
            torch_lm_train(case, model, batches)
        return time.perf_counter() - start

    return run


def lm_gemm_runner(case: LMCase) -> Callable[[], float]:
    """A window's matrix products with netc's shapes, m = batch * bptt rows: the LSTM's input
    projection x Wx (m, D) @ (D, 4H) and bptt steps of h Wh (batch, H) @ (H, 4H); the affine
    (m, H) @ (H, V); backward the affine's dW and dx, bptt steps of dA Wh.T, then dWx, dWh and
    the LSTM's dx (the embedding's gradient needs it) over all steps at once."""
    rng = np.random.default_rng(0)
    n, T, D, H, V = case.batch, case.bptt, case.embed, case.hidden, case.vocab
    m = n * T

    def r(*shape: int) -> np.ndarray:
        return rng.random(shape, dtype=np.float32) * 0.01

    x, wx, wh, g, h = r(m, D), r(D, 4 * H), r(H, 4 * H), r(m, 4 * H), r(m, H)
    w, y, dy, dw, dh = r(H, V), r(m, V), r(m, V), r(H, V), r(m, H)
    dwx, dwh, dx, hw, dhs = r(D, 4 * H), r(H, 4 * H), r(m, D), r(n, 4 * H), r(n, H)
    steps = case.windows * case.epochs

    def run() -> float:
        start = time.perf_counter()
        for _ in range(steps):
            np.matmul(x, wx, out=g)
            for t in range(T):
                np.matmul(h[t * n:(t + 1) * n], wh, out=hw)
            np.matmul(h, w, out=y)
            np.matmul(h.T, dy, out=dw)
            np.matmul(dy, w.T, out=dh)
            for t in range(T):
                np.matmul(g[t * n:(t + 1) * n], wh.T, out=dhs)
            np.matmul(x.T, g, out=dwx)
            np.matmul(h.T, g, out=dwh)
            np.matmul(g, wx.T, out=dx)
        return time.perf_counter() - start

    return run
