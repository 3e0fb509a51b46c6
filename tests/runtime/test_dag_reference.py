"""Losses and gradients of random DAG networks against a reverse-mode reference written here.

The reference walks `net.plan.layers` in order and implements each op from the textbook
(DLFS 1 & 2) with plain, allocating NumPy: it shares no code with `netc.runtime.kernels` or
the generated passes. Its backward pass keeps one gradient per value and adds every reader's
contribution into it, so a value read by several nodes (a residual's input, a named value,
`concat(h, h)`) gets the sum. Batchnorm runs in training mode (batch statistics), as
`Network.gradients` does; dropout is left out (its mask is not the point here).
"""

from __future__ import annotations

import numpy as np
import pytest

import netc

RTOL = 1e-9
ATOL = 1e-11  # Why: entries that are zero in exact arithmetic (a bias before batchnorm)
N = 7  # batch size
LOSSES = ("softmax_ce", "sigmoid_ce", "mse")
SIMPLE = ("affine", "matmul", "tanh", "sigmoid", "relu", "leaky_relu", "batchnorm")
BLOCKS = ("cbr(n, a=0.1) = affine(n) -> batchnorm -> leaky_relu(a)\n"
          "res(n) = residual(affine(n) -> tanh)\n")


# ---- the reference ---------------------------------------------------------------------

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _forward_op(lp, xs, p, attrs):
    """One node's output and what its backward needs, from its inputs `xs`."""
    op, x = lp.op, xs[0]
    if op == "affine":
        return x @ p["W"] + p["b"], {}
    if op == "matmul":
        return x @ p["W"], {}
    if op == "tanh":
        return np.tanh(x), {}
    if op == "sigmoid":
        return _sigmoid(x), {}
    if op == "relu":
        return np.where(x > 0, x, 0.0), {}
    if op == "leaky_relu":
        return np.where(x > 0, x, attrs["alpha"] * x), {}
    if op == "batchnorm":  # training mode: biased batch variance (DLFS-1 6.3)
        std = np.sqrt(x.var(axis=0) + attrs["eps"])
        xhat = (x - x.mean(axis=0)) / std
        return p["gamma"] * xhat + p["beta"], {"xhat": xhat, "std": std}
    if op == "add":
        return sum(xs[1:], xs[0]), {}
    if op == "concat":  # images (n, c, h, w) join on the channels
        return np.concatenate(xs, axis=1 if x.ndim == 4 else -1), {}
    if op == "flatten":
        return x.reshape(len(x), -1), {}
    raise AssertionError(f"the reference has no {op}")


def _backward_op(lp, xs, y, cache, dy, p, attrs):
    """(gradients of the node's inputs in order, gradients of its parameters by name)."""
    op, x = lp.op, xs[0]
    if op in ("affine", "matmul"):
        grads = {"W": x.T @ dy} | ({"b": dy.sum(axis=0)} if op == "affine" else {})
        return [dy @ p["W"].T], grads
    if op == "tanh":
        return [dy * (1 - y**2)], {}
    if op == "sigmoid":
        return [dy * y * (1 - y)], {}
    if op == "relu":
        return [dy * (x > 0)], {}
    if op == "leaky_relu":
        return [dy * np.where(x > 0, 1.0, attrs["alpha"])], {}
    if op == "batchnorm":
        xhat, n = cache["xhat"], len(x)
        dxhat = dy * p["gamma"]
        dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (
            n * cache["std"])
        return [dx], {"gamma": (dy * xhat).sum(axis=0), "beta": dy.sum(axis=0)}
    if op == "add":
        return [dy] * len(xs), {}
    if op == "concat":
        axis = 1 if x.ndim == 4 else -1
        cuts = np.cumsum([v.shape[axis] for v in xs])[:-1]
        return np.split(dy, cuts, axis=axis), {}
    if op == "flatten":
        return [dy.reshape(x.shape)], {}
    raise AssertionError(f"the reference has no {op}")


def _loss(op, y, t):
    """(mean loss over the batch, dL/dy); t holds class indices (softmax_ce) or rows."""
    n = len(y)
    if op == "softmax_ce":
        z = y - y.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        onehot = np.eye(y.shape[1])[t]
        return -float(np.sum(onehot * logp)) / n, (np.exp(logp) - onehot) / n
    if op == "sigmoid_ce":  # -t log s - (1 - t) log(1 - s) = log(1 + e^y) - t y
        return float(np.sum(np.logaddexp(0.0, y) - t * y)) / n, (_sigmoid(y) - t) / n
    assert op == "mse"
    return 0.5 * float(np.sum((y - t) ** 2)) / n, (y - t) / n


def reference(plan, params, x, t):
    """(loss, gradients by parameter key, gradient of the flat input) by reverse mode."""
    values = {-1: x.reshape(len(x), *plan.input_shape)}
    caches = {}
    layers, loss = plan.layers[:-1], plan.layers[-1]
    mine = {lp.index: {q.name: params[q.key] for q in lp.params} for lp in plan.layers}
    for lp in layers:
        xs = [values[j] for j in lp.inputs]
        values[lp.index], caches[lp.index] = _forward_op(lp, xs, mine[lp.index], dict(lp.attrs))
    value, dy = _loss(loss.op, values[loss.inputs[0]], t)
    dvalues = {loss.inputs[0]: dy}
    grads = {}
    for lp in reversed(layers):
        if lp.index not in dvalues:  # a dead value: nothing reaches the loss through it
            grads |= {q.key: np.zeros_like(params[q.key]) for q in lp.params}
            continue
        xs = [values[j] for j in lp.inputs]
        dxs, dparams = _backward_op(lp, xs, values[lp.index], caches[lp.index],
                                    dvalues.pop(lp.index), mine[lp.index], dict(lp.attrs))
        grads |= {f"{lp.index}.{lp.op}.{k}": v for k, v in dparams.items()}
        for j, dx in zip(lp.inputs, dxs, strict=True):  # fan-out: every reader adds in
            dvalues[j] = dvalues[j] + dx if j in dvalues else dx
    return value, grads, dvalues[-1].reshape(len(x), -1)


# ---- random DAG specs --------------------------------------------------------------------

class _Gen:
    """Spec text from a seeded generator: pipelines of ops, combinators, names and blocks."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.names: dict[str, int] = {}  # bound name -> width
        self.unused: list[str] = []

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def width(self) -> int:
        return int(self.rng.integers(1, 6))

    def op(self, w: int) -> tuple[str, int]:
        op = self.pick(SIMPLE)
        if op in ("affine", "matmul"):
            n = self.width()
            return f"{op}({n})", n
        if op == "leaky_relu":
            return f"leaky_relu({self.pick((0.01, 0.1, 0.3))})", w
        return op, w

    def seg(self, w: int, depth: int) -> tuple[str, int]:
        """A pipeline of 1-3 items from width w: (text, its output width)."""
        parts = []
        for _ in range(int(self.rng.integers(1, 4))):
            roll = self.rng.random()
            if depth > 0 and roll < 0.45:
                text, w = self.combinator(w, depth - 1)
            elif roll < 0.6:
                n = self.width()  # a block: parameters by position and keyword, or inlined
                text, w = self.pick(((f"cbr({n})", n), (f"cbr({n}, a=0.3)", n), (f"res({w})", w)))
            else:
                text, w = self.op(w)
            parts.append(text)
        return " -> ".join(parts), w

    def to_width(self, text: str, w: int, want: int) -> str:
        return text if w == want else f"{text} -> {self.pick(('affine', 'matmul'))}({want})"

    def branch(self, w: int, depth: int) -> tuple[str, int]:
        """A combinator's later branch: a pipeline from its input, or one from a named value.
        The first branch always reads the input, so no value is left dead (see
        test_dag_reference_dead_value_gets_no_gradient)."""
        if self.names and self.rng.random() < 0.35:
            name = self.pick(sorted(self.names))
            self.mark(name)
            if self.rng.random() < 0.5:
                return name, self.names[name]
            text, w2 = self.seg(self.names[name], depth)
            return f"{name} -> {text}", w2
        return self.seg(w, depth)

    def mark(self, name: str) -> None:
        if name in self.unused:
            self.unused.remove(name)

    def combinator(self, w: int, depth: int) -> tuple[str, int]:
        kind = self.pick(("residual", "skip", "add", "concat"))
        if kind == "residual":
            text, w2 = self.seg(w, depth)
            return f"residual({self.to_width(text, w2, w)})", w
        if kind == "concat":
            got = [self.seg(w, depth)] + [self.branch(w, depth)
                                          for _ in range(int(self.rng.integers(1, 3)))]
            if self.names and self.rng.random() < 0.4:  # a value read twice by one concat
                name = self.pick(sorted(self.names))
                self.mark(name)
                got += [(name, self.names[name])] * 2
            return f"concat({', '.join(t for t, _ in got)})", sum(v for _, v in got)
        want = self.width()
        got = [self.to_width(*(self.branch if k else self.seg)(w, depth), want)
               for k in range(2 if kind == "skip" else int(self.rng.integers(2, 4)))]
        if kind == "skip":
            return f"residual({got[0]}, skip={got[1]})", want
        return f"add({', '.join(got)})", want

    def spec(self) -> str:
        w_in = self.width()
        lines = [BLOCKS + f"input: {w_in}"]
        for k in range(int(self.rng.integers(0, 3))):
            start, w = "", w_in
            if self.names and self.rng.random() < 0.6:
                name = self.pick(sorted(self.names))
                self.mark(name)
                start, w = f"{name} -> ", self.names[name]
            text, w = self.seg(w, 2)
            lines.append(f"{start}{text} => h{k}")
            self.names[f"h{k}"] = w
            self.unused.append(f"h{k}")
        text, w = self.seg(w_in, 2)
        if self.unused:  # every name must be read: the last pipeline concats the rest
            text = f"{text} -> concat(tanh, {', '.join(self.unused)})"
            w += sum(self.names[n] for n in self.unused)
        loss = self.pick(LOSSES)
        if loss == "softmax_ce" and w < 2:
            text += " -> affine(3)"
        lines.append(f"{text} -> {loss}")
        return "\n".join(lines) + "\n"


# ---- the comparison ----------------------------------------------------------------------

def _perturb(net, rng) -> None:
    """Non-trivial parameters of a moderate scale, so no tanh or sigmoid saturates."""
    for key, v in net.params.items():
        scale = 1 / np.sqrt(v.shape[0]) if key.endswith(".W") else 0.5
        v[...] = rng.standard_normal(v.shape) * scale
        if key.endswith(".gamma"):
            v += 1


def _batch(plan, rng):
    x = rng.standard_normal((N, plan.input_width))
    k, loss = plan.n_outputs, plan.loss.op
    if loss == "softmax_ce":
        return x, rng.integers(0, k, N)
    if loss == "sigmoid_ce":
        return x, rng.integers(0, 2, (N, k)).astype(float)
    return x, rng.standard_normal((N, k))


def _close(actual, expected, what: str) -> None:
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.fixture(autouse=True)
def _poisoned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fresh float buffers hold NaN: a pass that reads a buffer it never wrote is caught.

    Why: np.empty's leftovers are often zeros or tiny denormals, which pass any tolerance.
    """
    real_empty, real_like = np.empty, np.empty_like

    def nan(a):
        if a.dtype.kind == "f":
            a.fill(np.nan)
        return a

    monkeypatch.setattr(np, "empty", lambda *a, **k: nan(real_empty(*a, **k)))
    monkeypatch.setattr(np, "empty_like", lambda *a, **k: nan(real_like(*a, **k)))


def check_against_reference(spec: str, seed: int = 0) -> None:
    net = netc.compile(spec, seed=seed, dtype="float64")
    rng = np.random.default_rng(1000 + seed)
    _perturb(net, rng)
    x, t = _batch(net.plan, rng)
    params = {k: v.copy() for k, v in net.params.items()}
    value, grads, dx = reference(net.plan, params, x, t)
    assert set(grads) == set(net.params), spec
    _close(net.loss(x, t, train=True), value, f"loss of\n{spec}")
    got = net.gradients(x, t, input_grad=True)
    for key in net.params:
        _close(got[key], grads[key], f"d{key} of\n{spec}")
    _close(got["input"], dx, f"dinput of\n{spec}")


SPECS = [_Gen(seed).spec() for seed in range(30)]


@pytest.mark.parametrize("seed", range(len(SPECS)))
def test_dag_reference_random_spec_matches_numpy(seed: int) -> None:
    check_against_reference(SPECS[seed], seed)


def test_dag_reference_random_specs_cover_every_feature() -> None:
    plans = [netc.plan(s) for s in SPECS]
    ops = {lp.op for p in plans for lp in p.layers}
    assert ops >= set(SIMPLE) | set(LOSSES) | {"add", "concat"}
    text = "".join(SPECS)
    for feature in ("residual(", "skip=", "add(", "concat(", "=> h", "cbr(", "res(", "a=0.3"):
        assert feature in text, feature
    assert any(len(lp.inputs) == 3 and lp.op == "add" for p in plans for lp in p.layers)
    assert any(len(set(lp.inputs)) < len(lp.inputs) for p in plans for lp in p.layers)
    assert any(max(len(v) for v in p.consumers().values()) >= 3 for p in plans)  # fan-out


HAND = {
    "residual": "input: 4\naffine(5) -> residual(affine(5) -> tanh) -> softmax_ce",
    "residual_skip": "input: 4\nresidual(affine(3) -> relu, skip=matmul(3)) -> mse",
    "residual_nested": ("input: 3\nresidual(tanh -> residual(affine(3) -> sigmoid) -> "
                        "batchnorm) -> affine(2) -> softmax_ce"),
    "add_three": "input: 4\nadd(affine(3), matmul(3), relu -> affine(3)) -> sigmoid_ce",
    "concat_three": "input: 4\nconcat(tanh, affine(2), leaky_relu(0.1)) -> mse",
    "concat_nested": "input: 2\nconcat(relu, concat(tanh, sigmoid)) -> affine(3) -> softmax_ce",
    "names": ("input: 4\naffine(5) => h\nh -> relu => a\nh -> batchnorm => b\n"
              "add(h, a, b) -> concat(tanh, h, a) -> mse"),
    "name_twice": "input: 3\naffine(4) => h\nconcat(h, h) -> tanh -> sigmoid_ce",
    "name_in_branch": ("input: 3\naffine(4) => h\ntanh -> residual(h -> relu -> matmul(3), "
                       "skip=affine(3)) -> mse"),
    "blocks": (BLOCKS + "input: 4\ncbr(5) => h\nh -> res(5) -> cbr(3, a=0.3) => a\n"
               "concat(a, h) -> softmax_ce"),
    "image": ("input: 1x2x3\nconcat(relu, tanh, residual(sigmoid)) -> flatten -> "
              "batchnorm -> affine(2) -> softmax_ce"),
    "batchnorm_fan_out": "input: 3\nbatchnorm => h\nadd(h, h -> tanh) -> concat(relu, h, h) -> mse",
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_dag_reference_hand_written_spec_matches_numpy(name: str) -> None:
    check_against_reference(HAND[name])


@pytest.mark.parametrize("copies", [2, 3])
def test_dag_reference_fan_out_gradient_is_the_sum(copies: int) -> None:
    """concat(h, h) with the same target on each half: every gradient up to h doubles."""
    one = netc.compile("input: 3\naffine(4) => h\nh -> mse", seed=1, dtype="float64")
    many = netc.compile(f"input: 3\naffine(4) => h\nconcat({', '.join(['h'] * copies)}) -> mse",
                        seed=1, dtype="float64")
    rng = np.random.default_rng(5)
    for k in one.params:
        many.params[k][...] = one.params[k] = rng.standard_normal(one.params[k].shape)
    x, t = rng.standard_normal((N, 3)), rng.standard_normal((N, 4))
    single = one.gradients(x, t, input_grad=True)
    summed = many.gradients(x, np.tile(t, copies), input_grad=True)
    assert set(summed) == set(single)
    for k in single:
        np.testing.assert_allclose(summed[k], copies * single[k], rtol=1e-13, err_msg=k)
    assert abs(many.loss(x, np.tile(t, copies)) - copies * one.loss(x, t)) < 1e-12


DETERMINISM = ("input: 4\naffine(6) => h\nh -> batchnorm -> relu -> dropout(0.3) => a\n"
               "concat(h, a, h) -> residual(affine(18) -> tanh, skip=matmul(18)) -> "
               "add(affine(3), affine(3)) -> softmax_ce\n")


def _trained(seed: int) -> dict[str, np.ndarray]:
    net = netc.compile(DETERMINISM, seed=seed)
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    net.fit(x, t, epochs=3, batch_size=16, lr=0.1, seed=seed, verbose=False)
    return {k: v.copy() for k, v in (*net.params.items(), *net.buffers.items())}


def test_dag_reference_same_seed_trains_bit_identically() -> None:
    first, second, other = _trained(7), _trained(7), _trained(8)
    assert first.keys() == second.keys()
    for k in first:
        assert first[k].tobytes() == second[k].tobytes(), k
    assert any(first[k].tobytes() != other[k].tobytes() for k in first)


def test_dag_reference_dead_value_gets_no_gradient() -> None:
    """`affine(3)` reads the input but add(h, h) ignores it: a dead node would get no
    gradient (its buffer never written), so the spec is refused, located."""
    spec = "input: 2\naffine(2) => h\naffine(3) -> add(h, h) -> mse"
    with pytest.raises(netc.errors.SpecError) as info:
        netc.plan(spec)
    assert info.value.diagnostics[0].code == "unused_value"
