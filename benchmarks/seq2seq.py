"""The seq2seq contenders (`Seq2seqCase`): netc's `net.fit` on [question | answer] rows,
PyTorch eager (two `Embedding`s, two `LSTM`s, `Linear`, the encoder's last state beside every
decoder step), and the GEMM-only bound of the same step.

Both trainers take the same rows in the same batch order (the permutation netc's trainer draws
from the seed) with Adam and the same gradient clipping, so only the implementation differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

import netc

from .cases import Seq2seqCase

if TYPE_CHECKING:
    import torch
    from torch import nn

# netc's Adam has DLFS's eps, 1e-7, and PyTorch gets the same value (its default is 1e-8):
# the steps then differ only where a gradient is near eps (netc adds it before the bias
# correction, PyTorch after). The same work either way, so no difference in speed.
ADAM_EPS = 1e-7


def netc_seq2seq_runner(case: Seq2seqCase) -> Callable[[], float]:
    rows = case.data()
    net = netc.compile(case.spec, seed=0)

    def run() -> float:
        start = time.perf_counter()
        # No targets: softmax_ce(tgt[1:]) reads them from the rows; no extra pass, no lines.
        net.fit(rows, None, epochs=case.epochs, batch_size=case.batch, optimizer="adam",
                lr=case.lr, clip=case.clip, seed=0, eval_train=False, verbose=0)
        return time.perf_counter() - start

    return run


def torch_seq2seq(case: Seq2seqCase) -> nn.Module:
    """The case's network as a PyTorch module: forward(rows) -> logits (n, tgt - 1, vocab).
    Gates in PyTorch's order i, f, g, o (netc's are f, g, i, o)."""
    import torch
    from torch import nn

    def lstm(inputs: int) -> nn.LSTM:
        layer = nn.LSTM(inputs, case.hidden, batch_first=True)
        # One bias, as DLFS-2 and netc have (see lm.py): b_hh stays zero and untrained.
        layer.bias_hh_l0.data.zero_()
        layer.bias_hh_l0.requires_grad_(False)
        return layer

    class Peeky(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.src_embed = nn.Embedding(case.vocab, case.embed)
            self.encoder = lstm(case.embed)
            self.tgt_embed = nn.Embedding(case.vocab, case.embed)
            self.decoder = lstm(case.embed + case.hidden)
            self.affine = nn.Linear(2 * case.hidden, case.vocab)

        def forward(self, rows):
            _, (h, _) = self.encoder(self.src_embed(rows[:, :case.src]))  # h (1, n, H)
            # The teacher-forced answer (its last token is only a target), h beside each step.
            tokens = rows[:, case.src:-1]
            hs = h[0].unsqueeze(1).expand(-1, tokens.shape[1], -1)
            y, _ = self.decoder(torch.cat([self.tgt_embed(tokens), hs], 2),
                                (h, torch.zeros_like(h)))
            return self.affine(torch.cat([y, hs], 2))

    return Peeky()


def copy_netc_weights(model: nn.Module, params: dict[str, np.ndarray]) -> None:
    """Give `model` (torch_seq2seq) a netc network's weights: gates reordered (netc f, g, i, o
    -> PyTorch i, f, g, o) and the matrices transposed (netc (in, out), PyTorch (out, in))."""
    import torch

    def gates(a: np.ndarray) -> np.ndarray:
        f, g, i, o = np.split(a, 4, axis=-1)
        return np.concatenate([i, f, g, o], axis=-1).T

    # netc's keys are "<layer index>.<op>.<name>"; the encoder's layers come first.
    embeds = [v for k, v in params.items() if k.endswith("embed.W")]
    lstms = [[params[k[:-2] + n] for n in ("Wx", "Wh", "b")] for k in params
             if k.endswith("lstm.Wx")]
    w, b = (next(v for k, v in params.items() if k.endswith(f"affine.{n}")) for n in "Wb")
    pairs = [(model.src_embed.weight, embeds[0]), (model.tgt_embed.weight, embeds[1]),
             (model.affine.weight, w.T), (model.affine.bias, b)]
    for layer, (wx, wh, bias) in zip((model.encoder, model.decoder), lstms, strict=True):
        pairs += [(layer.weight_ih_l0, gates(wx)), (layer.weight_hh_l0, gates(wh)),
                  (layer.bias_ih_l0, gates(bias))]
    with torch.no_grad():
        for dst, src in pairs:
            dst.copy_(torch.from_numpy(np.ascontiguousarray(src)))


def torch_seq2seq_optimizer(case: Seq2seqCase, model: nn.Module) -> torch.optim.Optimizer:
    """Adam at the case's rate (PyTorch's defaults otherwise, eps as netc's)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=case.lr, eps=ADAM_EPS)


def torch_seq2seq_train(case: Seq2seqCase, model: nn.Module, opt: torch.optim.Optimizer,
                        rows: torch.Tensor, order: torch.Tensor) -> float:
    """One pass over `rows` in `order` by batches: cross-entropy (mean over batch and steps)
    of the answer one token ahead, the gradient norm clipped to `case.clip`, an Adam step.
    Returns the last batch's loss."""
    import torch

    loss_fn = torch.nn.CrossEntropyLoss()
    params = [p for group in opt.param_groups for p in group["params"]]
    loss = None
    for s in range(0, len(order), case.batch):
        xb = rows.index_select(0, order[s:s + case.batch])
        logits = model(xb)
        loss = loss_fn(logits.reshape(-1, case.vocab), xb[:, case.src + 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, case.clip)
        opt.step()
    return float(loss.detach()) if loss is not None else float("nan")


def torch_seq2seq_runner(case: Seq2seqCase, threads: int) -> Callable[[], float]:
    import torch

    torch.set_num_threads(threads)
    rows = torch.from_numpy(case.data())
    orders = [torch.from_numpy(o) for o in case.orders()]
    model = torch_seq2seq(case)
    opt = torch_seq2seq_optimizer(case, model)

    def run() -> float:
        start = time.perf_counter()
        for order in orders:
            torch_seq2seq_train(case, model, opt, rows, order)
        return time.perf_counter() - start

    return run


def seq2seq_gemm_runner(case: Seq2seqCase) -> Callable[[], float]:
    """A batch's matrix products with netc's shapes: each LSTM's input projection over all
    steps and one h Wh per step (the decoder's over its embeddings alone: netc folds the
    peeky h into a bias per row, h Wx[d:] once, dWx[d:] = h.T sum(dA) and dh = sum(dA)
    Wx[d:].T); the affine over the decoder's steps; backward the affine's dW and dx, one
    dA Wh.T per step, then dWx, dWh and dx (the embeddings need it) over all steps at once,
    and the decoder's gradient into its initial state h (dA of its first step times Wh.T)."""
    rng = np.random.default_rng(0)
    n, d, h, v, steps = case.batch, case.embed, case.hidden, case.vocab, case.tgt - 1
    encoder = _lstm_products(rng, n, case.src, d, h)
    decoder = _lstm_products(rng, n, steps, d, h)
    peek = _products(rng, [(n, h, 4 * h), (h, n, 4 * h), (n, 4 * h, h)])
    affine = _products(rng, [(n * steps, 2 * h, v), (2 * h, n * steps, v), (n * steps, v, 2 * h)])
    into_h = _products(rng, [(n, 4 * h, h)])
    batches = case.batches * case.epochs

    def run() -> float:
        start = time.perf_counter()
        for _ in range(batches):
            encoder[0]()
            peek[0]()
            decoder[0]()
            affine[0]()
            for product in affine[1:]:
                product()
            decoder[1]()
            peek[1]()
            peek[2]()
            into_h[0]()
            encoder[1]()
        return time.perf_counter() - start

    return run


def _lstm_products(rng: np.random.Generator, n: int, steps: int, inputs: int,
                   hidden: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """(forward, backward) of one LSTM layer's products over `steps` steps of `n` rows."""
    m, g = n * steps, 4 * hidden
    project, *backward = _products(rng, [(m, inputs, g), (inputs, m, g), (hidden, m, g),
                                         (m, g, inputs)])
    step, back_step = _products(rng, [(n, hidden, g), (n, g, hidden)])

    def forward() -> None:
        project()
        for _ in range(steps):
            step()

    def back() -> None:
        for _ in range(steps):
            back_step()
        for product in backward:
            product()

    return forward, back


def _products(rng: np.random.Generator,
              shapes: list[tuple[int, int, int]]) -> list[Callable[[], None]]:
    """One closure per (m, k, p): a (m, k) @ (k, p) product into a preallocated (m, p)."""
    found = []
    for m, k, p in shapes:
        a, b = (rng.random(s, dtype=np.float32) * 0.01 for s in ((m, k), (k, p)))
        out = np.empty((m, p), np.float32)

        def product(a: np.ndarray = a, b: np.ndarray = b, out: np.ndarray = out) -> None:
            np.matmul(a, b, out=out)
        found.append(product)
    return found
