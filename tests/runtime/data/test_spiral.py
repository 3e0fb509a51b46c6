"""The spiral toy set: shape, labels, determinism and the book's geometry."""

from __future__ import annotations

import numpy as np

from netc.runtime.data import load_dataset
from netc.runtime.data.spiral import load_spiral


def test_spiral_has_300_points_in_three_classes() -> None:
    d = load_dataset("spiral")
    assert d.name == "spiral" and d.source == "spiral" and d.n_classes == 3
    assert d.x_train.shape == (300, 2) and d.x_train.dtype == np.float64
    assert d.t_train.shape == (300,) and d.t_train.dtype == np.int64
    assert np.bincount(d.t_train).tolist() == [100, 100, 100]
    assert d.x_test is None and d.t_test is None


def test_spiral_same_seed_is_bit_identical() -> None:
    a, b = load_dataset("spiral", seed=7), load_dataset("spiral", seed=7)
    assert a.x_train.tobytes() == b.x_train.tobytes()
    assert not np.array_equal(a.x_train, load_dataset("spiral", seed=8).x_train)


def test_spiral_ignores_global_random_state() -> None:
    np.random.seed(1)
    a = load_spiral(3)
    np.random.seed(2)
    assert np.array_equal(a.x_train, load_spiral(3).x_train)


def test_spiral_follows_the_book_formula() -> None:
    d = load_spiral(1984)
    rng = np.random.default_rng(1984)
    for j in range(3):
        for i in range(100):
            rate = i / 100
            theta = j * 4.0 + 4.0 * rate + rng.standard_normal() * 0.2
            expected = [rate * np.sin(theta), rate * np.cos(theta)]
            np.testing.assert_allclose(d.x_train[100 * j + i], expected, rtol=0, atol=1e-15)
            assert d.t_train[100 * j + i] == j
    assert np.hypot(*d.x_train.T).max() < 1.0
