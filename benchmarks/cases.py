"""The benchmark cases: one network, data size, batch size and optimizer each.

Every contender trains the same layers on the same synthetic data in the same batch order
(the permutation netc's trainer draws from the seed), so only the implementation differs.
`Case` is an affine chain (with residual blocks or not); `ConvCase` a convnet on images;
`LMCase` a language model trained by truncated BPTT over one corpus (no shuffling: both sides
read the same windows in the text's order, see lm.py); `Seq2seqCase` DLFS-2's peeky seq2seq on
the addition problems (see seq2seq.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _synthetic(samples: int, features: int, classes: int,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x float32 in [0, 1), one row of `features` per sample; t a class in 0..classes-1."""
    rng = np.random.default_rng(seed)
    x = rng.random((samples, features), dtype=np.float32)
    t = rng.integers(0, classes, samples)
    return x, t


def _orders(samples: int, epochs: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.permutation(samples) for _ in range(epochs)]


@dataclass(frozen=True)
class Case:
    name: str
    widths: tuple[int, ...]
    activation: str
    samples: int
    batch: int
    lr: float = 0.1
    epochs: int = 1
    # Residual blocks after the last hidden layer, each `residual(affine(w) -> act ->
    # affine(w)) -> act` at that layer's width w; 0 for a plain chain.
    blocks: int = 0

    @property
    def spec(self) -> str:
        hidden = [f"affine({w}) -> {self.activation}" for w in self.widths[1:-1]]
        head = []
        if self.blocks:
            w, act = self.widths[-2], self.activation
            head = [f"block = residual(affine({w}) -> {act} -> affine({w})) -> {act}"]
            hidden.append(f"block * {self.blocks}")
        body = " -> ".join([*hidden, f"affine({self.widths[-1]})", "softmax_ce"])
        return "\n".join([f"input: {self.widths[0]}", *head, body]) + "\n"

    @property
    def dims(self) -> tuple[int, ...]:
        """The widths the affine layers pass along, in order: what the matrix products see
        (a block's skip connection adds no product)."""
        return self.widths[:-1] + (self.widths[-2],) * (2 * self.blocks) + self.widths[-1:]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.widths[:1]

    @property
    def numpy_loop(self) -> bool:
        """Whether the plain DLFS-style NumPy loop fits: chains only, no residual blocks."""
        return not self.blocks

    def data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        return _synthetic(self.samples, self.widths[0], self.widths[-1], seed)

    def orders(self, seed: int = 0) -> list[np.ndarray]:
        """The batch order of each epoch, as netc's trainer draws it from the seed."""
        return _orders(self.samples, self.epochs, seed)


@dataclass(frozen=True)
class Conv:
    """`conv(filters, size, pad=pad)`, stride 1, followed by relu."""
    filters: int
    size: int
    pad: int = 0


@dataclass(frozen=True)
class Pool:
    """`pool(size)`: max pooling, stride = size."""
    size: int


@dataclass(frozen=True)
class ConvCase:
    """A convnet: `layers` are Conv, Pool, or an int (an affine layer of that width, after a
    flatten); relu after every conv and affine but the last, then softmax_ce."""
    name: str
    image: tuple[int, int, int]
    layers: tuple[Conv | Pool | int, ...]
    samples: int
    batch: int
    lr: float = 0.01
    epochs: int = 1

    @property
    def spec(self) -> str:
        parts: list[str] = []
        for layer in self.layers:
            if isinstance(layer, Conv):
                pad = f", pad={layer.pad}" if layer.pad else ""
                parts += [f"conv({layer.filters}, {layer.size}{pad})", "relu"]
            elif isinstance(layer, Pool):
                parts.append(f"pool({layer.size})")
            else:
                parts += [*(["flatten"] if "flatten" not in parts else []),
                          f"affine({layer})", "relu"]
        parts[-1] = "softmax_ce"  # the last affine feeds the loss, no relu
        return f"input: {'x'.join(map(str, self.image))}\n" + " -> ".join(parts) + "\n"

    def shapes(self) -> list[tuple[int, ...]]:
        """The input shape each layer sees, in order: (C, H, W) up to the first affine layer,
        then (width,); and the output's last."""
        shape: tuple[int, ...] = self.image
        out = [shape]
        for layer in self.layers:
            c, h, w = shape if len(shape) == 3 else (0, 0, 0)
            if isinstance(layer, Conv):
                grow = 2 * layer.pad - layer.size + 1  # stride 1
                shape = (layer.filters, h + grow, w + grow)
            elif isinstance(layer, Pool):
                shape = (c, h // layer.size, w // layer.size)
            else:
                shape = (layer,)
            out.append(shape)
        return out

    def products(self) -> list[tuple[str, int, int, int]]:
        """The matrix products of each layer with weights, with netc's shapes: ("conv", F,
        C*kh*kw, OH*OW) for W (F, C*kh*kw) @ columns (C*kh*kw, n*OH*OW), and ("affine",
        n_in, n_out, 1) for x (n, n_in) @ W (n_in, n_out)."""
        found = []
        shapes = self.shapes()
        for layer, x, y in zip(self.layers, shapes[:-1], shapes[1:], strict=True):
            if isinstance(layer, Conv):
                found.append(("conv", layer.filters, x[0] * layer.size ** 2, y[1] * y[2]))
            elif not isinstance(layer, Pool):
                found.append(("affine", math.prod(x), layer, 1))
        return found

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.image

    @property
    def numpy_loop(self) -> bool:
        return False

    def data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        return _synthetic(self.samples, math.prod(self.image), self.layers[-1], seed)

    def orders(self, seed: int = 0) -> list[np.ndarray]:
        return _orders(self.samples, self.epochs, seed)


@dataclass(frozen=True)
class LMCase:
    """DLFS-2's Rnnlm: embed(D) -> lstm(H) -> affine(vocab) -> softmax_ce over windows of
    `bptt` tokens from `batch` streams, SGD with the gradient norm clipped to `clip`, the
    recurrent state carried from one window to the next. A timed run is `windows` windows."""
    name: str
    vocab: int
    embed: int
    hidden: int
    bptt: int
    batch: int
    windows: int
    lr: float = 20.0
    clip: float = 0.25
    epochs: int = 1

    @property
    def spec(self) -> str:
        return (f"input: tokens({self.vocab})\n"
                f"train: bptt={self.bptt}, batch_size={self.batch}, clip={self.clip}\n"
                f"optimizer: sgd(lr={self.lr:g})\n"
                f"embed({self.embed}) -> lstm({self.hidden}) -> affine({self.vocab})"
                " -> softmax_ce\n")

    @property
    def samples(self) -> int:
        """Tokens trained on per epoch (each is one prediction): what `samples/s` counts."""
        return self.windows * self.batch * self.bptt

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.bptt,)

    @property
    def numpy_loop(self) -> bool:
        return False

    def data(self, seed: int = 0) -> np.ndarray:
        """`samples + 1` token ids (the last is only a target) with Zipf frequencies,
        p(rank k) ~ 1/k, as words in text have: how often ids repeat within a window is what
        the embedding's gradient sums cost."""
        rng = np.random.default_rng(seed)
        p = 1.0 / np.arange(1, self.vocab + 1)
        return rng.choice(self.vocab, self.samples + 1, p=p / p.sum())


@dataclass(frozen=True)
class Seq2seqCase:
    """DLFS-2 ch. 7.5's peeky seq2seq (specs/addition_peeky.net) on the reversed addition
    problems, Adam with the gradient norm clipped to `clip`: encoder embed(D) -> lstm(H), its
    last state h; decoder embed(D) of the answer's teacher-forced tokens beside h at each step
    -> lstm(H) started from h -> concat h -> affine(vocab) -> softmax_ce. A timed run is
    `batches` batches of the training split's first rows."""
    name: str
    embed: int = 16
    hidden: int = 128
    batch: int = 128
    batches: int = 40
    lr: float = 0.001
    clip: float = 5.0
    epochs: int = 1
    # The addition data's shapes: "999+999" reversed, "_" and four answer characters.
    vocab: int = 13
    src: int = 7
    tgt: int = 5

    @property
    def spec(self) -> str:
        """The network of specs/addition_peeky.net, its sizes given here rather than read
        from `data:` (so a test can shrink the layers)."""
        d, h = self.embed, self.hidden
        return (f"input: src: tokens({self.vocab}, steps={self.src}), "
                f"tgt: tokens({self.vocab}, steps={self.tgt})\n"
                f"optimizer: adam(lr={self.lr:g})\n"
                f"train: batch_size={self.batch}, clip={self.clip:g}\n"
                f"src -> embed({d}) -> lstm({h}) => h\n"
                f"concat(tgt[:-1] -> embed({d}), h.last) -> lstm({h}, init=h.last) => d\n"
                "concat(d, h.last) -> affine -> softmax_ce(tgt[1:])\n")

    @property
    def samples(self) -> int:
        """Question/answer pairs trained on per epoch: what `samples/s` counts."""
        return self.batches * self.batch

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.src + self.tgt,)

    @property
    def numpy_loop(self) -> bool:
        return False

    def data(self, seed: int = 0) -> np.ndarray:
        """The first `samples` rows [question ids | answer ids] of the reversed addition
        problems' training split (generated from seed 0 whatever `seed`: netc's own data)."""
        from netc.runtime.data import load_pairs

        rows = load_pairs("addition", "addition", True).x_train
        if len(rows) < self.samples:
            raise ValueError(f"case {self.name!r}: {self.samples} samples asked for, the "
                             f"addition data has {len(rows)}")
        return rows[:self.samples]

    def orders(self, seed: int = 0) -> list[np.ndarray]:
        return _orders(self.samples, self.epochs, seed)


CASES: dict[str, Case | ConvCase | LMCase | Seq2seqCase] = {
    "mlp": Case("mlp", (784, 50, 10), "sigmoid", 20_000, 100),
    "big": Case("big", (784, 1000, 1000, 10), "relu", 10_240, 256, lr=0.01),
    # The spiral: 10 steps an epoch, so 300 epochs (spiral.net's own count) per timed run.
    # Why that many: a run of a few milliseconds right after the pause between contenders is
    # mostly cold caches and clock ramp-up, which would measure the pause, not the step.
    "tiny": Case("tiny", (2, 10, 3), "sigmoid", 300, 30, lr=1.0, epochs=300),
    # The residual MLP of specs/mnist_residual.net without batchnorm (which would make the
    # PyTorch side a different computation to check): 784 -> 256, two blocks, -> 10.
    "residual": Case("residual", (784, 256, 10), "relu", 10_000, 100, lr=0.01, blocks=2),
    # DLFS-1 ch. 7 SimpleConvNet (specs/mnist_simple_convnet.net) on 1x28x28 images.
    "conv": ConvCase("conv", (1, 28, 28), (Conv(30, 5), Pool(2), 100, 10), 3_000, 100),
    # DLFS-1 ch. 8 DeepConvNet (specs/mnist_deep_convnet.net) without its two dropouts: the
    # masks would differ between netc and PyTorch, so the step would be no common computation
    # to check, and an elementwise mask is a small part of a conv net's step.
    "deepconv": ConvCase("deepconv", (1, 28, 28), (
        Conv(16, 3, 1), Conv(16, 3, 1), Pool(2), Conv(32, 3, 1), Conv(32, 3, 2), Pool(2),
        Conv(64, 3, 1), Conv(64, 3, 1), Pool(2), 50, 10), 1_000, 100),
    # DLFS-2 ch. 6 Rnnlm at PTB's vocabulary (specs/rnnlm.net's shapes with 10,000 words): 20
    # windows of 20 x 35 tokens (14,000 tokens, about 2 s a run on one core).
    "rnnlm": LMCase("rnnlm", 10_000, 100, 100, 35, 20, 20),
    # DLFS-2 ch. 7.5 peeky seq2seq (specs/addition_peeky.net): 40 batches of 128 addition
    # problems, about a ninth of an epoch (0.4 s a run on one core).
    "seq2seq": Seq2seqCase("seq2seq"),
}
