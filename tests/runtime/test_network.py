"""The `Network` API contract: params, gradients, predict, accuracy, seeds, dtypes, bad data."""

from __future__ import annotations

import numpy as np
import pytest

import netc

SPEC = "input: 4\naffine(5) -> relu -> affine(3) -> softmax_ce"


def _net(spec: str = SPEC, **kw):
    kw.setdefault("dtype", "float64")
    return netc.compile(spec, **kw)


def _data(n: int = 6, width: int = 4, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, width)), rng.integers(0, k, n)


def test_network_params_in_pipeline_order_with_shapes():
    net = _net("input: 4\naffine(5) -> tanh -> batchnorm -> matmul(2) -> affine(3) -> mse")
    assert list(net.params) == ["0.affine.W", "0.affine.b", "2.batchnorm.gamma",
                                "2.batchnorm.beta", "3.matmul.W", "4.affine.W", "4.affine.b"]
    assert net.params["0.affine.W"].shape == (4, 5)
    assert net.params["0.affine.b"].shape == (5,)
    assert net.params["3.matmul.W"].shape == (5, 2)
    assert list(net.buffers) == ["2.batchnorm.running_mean", "2.batchnorm.running_var"]


def test_network_assigning_params_changes_loss():
    net = _net()
    x, t = _data()
    before = net.loss(x, t)
    net.params["2.affine.b"][...] = [5.0, -5.0, 0.0]
    after = net.loss(x, t)
    assert after != before
    net.params["0.affine.W"][...] = 0
    net.params["2.affine.W"][...] = 0
    # All logits equal the bias: the loss is the mean cross-entropy of softmax(b).
    logp = np.array([5.0, -5.0, 0.0]) - np.log(np.exp([5.0, -5.0, 0.0]).sum())
    assert net.loss(x, t) == pytest.approx(-logp[t].mean(), rel=1e-12)


def test_network_gradients_keys_match_params_and_are_copies():
    net = _net()
    x, t = _data()
    g1 = net.gradients(x, t)
    assert list(g1) == list(net.params)
    for k in g1:
        assert g1[k].shape == net.params[k].shape
        assert g1[k] is not net.grads[k]
        assert not np.shares_memory(g1[k], net.grads[k])
    saved = {k: v.copy() for k, v in g1.items()}
    net.gradients(x[:3] * 2, t[:3])  # a second call must not change the first result
    for k in g1:
        np.testing.assert_array_equal(g1[k], saved[k])
    g2 = net.gradients(x, t, input_grad=True)
    assert list(g2) == [*net.params, "input"]
    assert g2["input"].shape == x.shape


def test_network_predict_softmax_ce_gives_probabilities():
    net = _net()
    x, _ = _data(10)
    p = net.predict(x)
    assert p.shape == (10, 3)
    assert np.all(p > 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


def test_network_predict_sigmoid_ce_gives_sigmoid_probabilities():
    net = _net("input: 4\naffine(5) -> tanh -> affine(2) -> sigmoid_ce")
    net.params["2.affine.b"][...] = [3.0, -3.0]
    x, _ = _data(10)
    p = net.predict(x)
    assert p.shape == (10, 2)
    assert np.all((p > 0) & (p < 1))
    assert not np.allclose(p.sum(axis=1), 1.0)


def test_network_predict_mse_gives_raw_outputs():
    net = _net("input: 4\naffine(2) -> mse")
    x, _ = _data(10)
    expected = x @ net.params["0.affine.W"] + net.params["0.affine.b"]
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-12)


def test_network_predict_is_in_evaluation_mode():
    net = _net("input: 4\naffine(5) -> dropout(0.5) -> affine(3) -> softmax_ce")
    x, _ = _data(10)
    np.testing.assert_array_equal(net.predict(x), net.predict(x))


def test_network_predict_large_batch_is_chunked_consistently():
    net = _net()
    x, _ = _data(5000)
    p = net.predict(x)
    np.testing.assert_allclose(p[-7:], net.predict(x[-7:]), rtol=1e-12)


def test_network_accuracy_counts_correct_predictions():
    net = _net()
    x, _ = _data(20)
    pred = net.predict(x).argmax(axis=1)
    assert net.accuracy(x, pred) == 1.0
    wrong = (pred + 1) % 3
    assert net.accuracy(x, wrong) == 0.0
    half = np.where(np.arange(20) < 10, pred, wrong)
    assert net.accuracy(x, half) == pytest.approx(0.5)


def test_network_accuracy_sigmoid_ce_thresholds_at_half():
    net = _net("input: 4\naffine(1) -> sigmoid_ce")
    x, _ = _data(20)
    labels = (net.predict(x)[:, 0] > 0.5).astype(float)
    assert net.accuracy(x, labels) == 1.0
    assert net.accuracy(x, 1 - labels) == 0.0


def test_network_same_seed_is_bit_identical():
    x, t = _data()
    a, b = _net(seed=7), _net(seed=7)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert a.loss(x, t) == b.loss(x, t)
    c = _net(seed=8)
    assert not np.array_equal(a.params["0.affine.W"], c.params["0.affine.W"])
    assert a.loss(x, t) != c.loss(x, t)


def test_network_default_seed_comes_from_spec():
    a = _net(SPEC.replace("input: 4", "input: 4\ntrain: seed=3"))
    b = _net(seed=3)
    np.testing.assert_array_equal(a.params["0.affine.W"], b.params["0.affine.W"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_network_dtype_is_kept_everywhere(dtype):
    net = netc.compile("input: 4\naffine(5) -> batchnorm -> relu -> dropout(0.2) -> affine(3)"
                       " -> softmax_ce", dtype=dtype)
    x, t = _data()
    assert net.dtype == np.dtype(dtype)
    assert all(v.dtype == dtype for v in net.params.values())
    assert all(v.dtype == dtype for v in net.buffers.values())
    grads = net.gradients(x, t, input_grad=True)
    assert all(v.dtype == dtype for v in grads.values())
    assert net.predict(x).dtype == dtype
    assert isinstance(net.loss(x, t), float)


def test_network_default_dtype_is_float32():
    assert netc.compile(SPEC).dtype == np.float32


@pytest.mark.parametrize("loss", ["softmax_ce", "sigmoid_ce", "mse"])
def test_network_index_and_one_hot_labels_agree(loss):
    net = _net(f"input: 4\naffine(5) -> sigmoid -> affine(3) -> {loss}")
    x, t = _data()
    onehot = np.eye(3)[t]
    if loss == "softmax_ce":
        assert net.loss(x, t) == pytest.approx(net.loss(x, onehot), rel=1e-12)
        ga, gb = net.gradients(x, t), net.gradients(x, onehot)
        for k in ga:
            np.testing.assert_allclose(ga[k], gb[k], rtol=1e-12, atol=1e-15)
    else:
        assert np.isfinite(net.loss(x, onehot))
        with pytest.raises(netc.DataError):
            net.loss(x, t)


def test_network_width_one_accepts_flat_inputs_and_targets():
    net = _net("input: 1\naffine(1) -> mse")
    x = np.linspace(-1, 1, 5)
    assert net.loss(x, x) == pytest.approx(net.loss(x[:, None], x[:, None]), rel=1e-12)


def test_network_wrong_width_names_layer_and_location():
    net = _net()
    with pytest.raises(netc.DataError) as e:
        net.loss(np.zeros((2, 5)), [0, 1])
    msg = str(e.value)
    assert "5 features" in msg and "takes 4" in msg
    assert "affine at <string>:2:1" in msg
    with pytest.raises(netc.DataError):
        net.predict(np.zeros((2, 3)))


def test_network_label_out_of_range_is_data_error():
    net = _net()
    with pytest.raises(netc.DataError, match="label 3 is out of range"):
        net.loss(np.zeros((2, 4)), [0, 3])
    with pytest.raises(netc.DataError, match="out of range"):
        net.gradients(np.zeros((2, 4)), [-1, 0])
    with pytest.raises(netc.DataError, match="whole numbers"):
        net.loss(np.zeros((2, 4)), [0.5, 1.0])


def test_network_one_dimensional_input_is_data_error():
    with pytest.raises(netc.DataError, match="2-D"):
        _net().predict(np.zeros(4))


def test_network_wrong_target_shape_is_data_error():
    net = _net()
    x = np.zeros((2, 4))
    with pytest.raises(netc.DataError, match="targets have shape"):
        net.loss(x, np.zeros((2, 4)))
    with pytest.raises(netc.DataError, match="3 targets for 2 samples"):
        net.loss(x, [0, 1, 2])
    with pytest.raises(netc.DataError, match="targets have shape"):
        _net("input: 4\naffine(2) -> mse").loss(x, np.zeros((2, 3)))
    with pytest.raises(netc.DataError, match="not numeric"):
        net.loss(np.array([["a"] * 4] * 2), [0, 1])


def test_network_data_error_is_a_netc_error():
    assert issubclass(netc.DataError, netc.NetcError)


def test_network_repr_and_summary():
    net = _net()
    assert "affine -> relu -> affine -> softmax_ce" in repr(net)
    assert "affine" in net.summary_text()
