"""Runtime check: backprop gradients against central differences, per parameter and input.

The numerical gradient is the seeds' central difference done right, (f(p+h) - f(p-h)) / (2h)
(note 001 divides before subtracting). Errors are relative to the parameter's largest
gradient (floored at 1e-2), so entries near zero do not drown the measure in rounding noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..compiler.plan import Memory, NetPlan
from .network import Network
from .targets import as_inputs, as_targets

H = 1e-6
SCALE_FLOOR = 1e-2
MAX_ENTRIES = 400  # Why: checking a seeded sample of a large matrix finds the same bugs.
# A one-sided derivative jump this large (relative to the largest gradient) is a kink: smooth
# losses differ between the sides by about H * f'' (1e-6) plus rounding (1e-4 at float64).
KINK_JUMP = 1e-2


@dataclass(frozen=True)
class GradCheck:
    """One parameter's result: the largest error relative to its largest gradient."""

    name: str
    shape: tuple[int, ...]
    checked: int
    error: float
    kinks: int = 0  # entries left out: the loss has a kink there (ReLU at 0), no derivative

    def ok(self, tol: float) -> bool:
        return self.error <= tol


def gradcheck(net: Network, x: ArrayLike, t: ArrayLike, *, check_input: bool = True,
              seed: int = 0) -> list[GradCheck]:
    """Compare `net.gradients` with numerical gradients in float64; the net is left as it was."""
    twin = _float64_twin(net)
    check_input = check_input and not net.plan.vocab  # token ids have no gradient
    # Why a copy: the input is perturbed in place through a flat view, which a strided or
    # Fortran-order array cannot give, and the caller's array must not be touched.
    x = as_inputs(x, twin).copy()
    t = as_targets(t, twin, len(x))
    rng_state = twin.rng.bit_generator.state
    saved = {k: v.copy() for k, v in twin.buffers.items()}

    def loss() -> float:
        # Same dropout mask and batch statistics for every evaluation.
        twin.rng.bit_generator.state = rng_state
        return twin.loss(x, t, train=True)

    loss()
    twin.rng.bit_generator.state = rng_state
    grads = twin.gradients(x, t, input_grad=check_input)
    arrays = dict(twin.params)
    if check_input:
        arrays["input"] = x
    results = [_compare(name, arrays[name], grads[name], loss, seed) for name in arrays]
    for k, v in saved.items():
        twin.buffers[k][...] = v
    twin.rng.bit_generator.state = rng_state
    return results


def _compare(name: str, p: NDArray, analytic: NDArray, loss, seed: int) -> GradCheck:
    flat = p.reshape(-1)
    picks = np.arange(flat.size)
    if flat.size > MAX_ENTRIES:
        picks = np.random.default_rng(seed).choice(flat.size, MAX_ENTRIES, replace=False)
    numeric, sides = np.empty(len(picks)), np.empty((len(picks), 2))
    base = loss()
    for j, i in enumerate(picks):
        old = flat[i]
        flat[i] = old + H
        up = loss()
        flat[i] = old - H
        down = loss()
        flat[i] = old
        numeric[j] = (up - down) / (2 * H)
        sides[j] = (up - base) / H, (base - down) / H
    a = analytic.reshape(-1)[picks]
    scale = max(float(np.max(np.abs(a), initial=0)), float(np.max(np.abs(numeric), initial=0)))
    # Why the floor: a gradient that is zero in exact arithmetic (a bias before batchnorm)
    # is pure rounding noise numerically; relative to itself that noise would look like 100%.
    scale = max(scale, SCALE_FLOOR)
    kink = _kinks(sides, scale)
    err = float(np.max(np.abs(a - numeric)[~kink], initial=0)) / scale
    return GradCheck(name, tuple(p.shape), len(picks) - int(kink.sum()), err, int(kink.sum()))


def _kinks(sides: NDArray, scale: float) -> NDArray:
    """Entries where the loss has no derivative: the one-sided differences disagree far
    beyond what smoothness and rounding allow (a ReLU input at exactly 0, as a zero bias
    makes for a row whose units are all off). That is a property of the forward pass alone;
    central differences there average the two sides, so they cannot check backprop."""
    return np.abs(sides[:, 0] - sides[:, 1]) > KINK_JUMP * scale


def memory(plan: NetPlan, batch: int) -> Memory:
    """What `netc gradcheck` allocates: the float64 network, a batch, copies of the gradients."""
    copies = 8 * plan.param_count  # `Network.gradients` returns copies
    inputs = 8 * batch * (3 * plan.input_width + plan.n_outputs)  # x, its copy, dx; targets
    return plan.memory(f"gradient checking at batch {batch:,}", dtype="float64",
                       batches=(batch,), extra=(("gradient copies", copies), ("inputs", inputs)))


def _float64_twin(net: Network) -> Network:
    if net.dtype == np.float64:
        return net
    from .build import build

    twin = build(net.plan, seed=0, dtype="float64")
    for mine, theirs in ((twin.params, net.params), (twin.buffers, net.buffers)):
        for k, v in mine.items():
            v[...] = theirs[k]
    twin.rng.bit_generator.state = net.rng.bit_generator.state
    return twin


def random_batch(net: Network, n: int, seed: int = 0) -> tuple[NDArray, NDArray]:
    """Standard-normal inputs and valid random targets for `net`, for `netc gradcheck`."""
    rng = np.random.default_rng(seed)
    plan = net.plan
    x = rng.integers(0, plan.vocab, (n, plan.input_width)) if plan.vocab else \
        rng.standard_normal((n, plan.input_width))  # token ids for a language model
    k, loss, scores = plan.n_outputs, plan.loss.op, plan.loss.in_shape
    if plan.target is not None:  # seq2seq: the targets are columns of the inputs
        from .generation import targets_of

        return x, targets_of(plan, x)
    if loss == "ns_loss":  # a word id per row
        return x, rng.integers(0, int(plan.loss.attr("vocab")), n)
    if loss == "softmax_ce" and len(scores) == 2:  # a class per time step
        return x, rng.integers(0, scores[-1], (n, scores[0]))
    if loss == "softmax_ce":
        return x, rng.integers(0, k, n)
    if loss == "sigmoid_ce":
        return x, rng.integers(0, 2, (n, k)).astype(float)
    return x, rng.standard_normal((n, k))
