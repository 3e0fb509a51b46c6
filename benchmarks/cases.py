"""The benchmark cases: one network, data size, batch size and optimizer each.

Every contender trains the same layers on the same synthetic data in the same batch order
(the permutation netc's trainer draws from the seed), so only the implementation differs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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

    def data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = rng.random((self.samples, self.widths[0]), dtype=np.float32)
        t = rng.integers(0, self.widths[-1], self.samples)
        return x, t

    def orders(self, seed: int = 0) -> list[np.ndarray]:
        """The batch order of each epoch, as netc's trainer draws it from the seed."""
        rng = np.random.default_rng(seed)
        return [rng.permutation(self.samples) for _ in range(self.epochs)]


CASES = {
    "mlp": Case("mlp", (784, 50, 10), "sigmoid", 20_000, 100),
    "big": Case("big", (784, 1000, 1000, 10), "relu", 10_240, 256, lr=0.01),
    # The spiral: 10 steps an epoch, so 300 epochs (spiral.net's own count) per timed run.
    # Why that many: a run of a few milliseconds right after the pause between contenders is
    # mostly cold caches and clock ramp-up, which would measure the pause, not the step.
    "tiny": Case("tiny", (2, 10, 3), "sigmoid", 300, 30, lr=1.0, epochs=300),
    # The residual MLP of specs/mnist_residual.net without batchnorm (which would make the
    # PyTorch side a different computation to check): 784 -> 256, two blocks, -> 10.
    "residual": Case("residual", (784, 256, 10), "relu", 10_000, 100, lr=0.01, blocks=2),
}
