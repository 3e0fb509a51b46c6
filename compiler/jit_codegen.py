"""Stage 6a, generate (the compiled backend): `NetPlan` -> source of a whole-epoch training loop.

A second emitter over the same lines as the NumPy one: `codegen.pass_lines` renders each
node's calls from its op descriptor, and this module wraps them in `train_steps`, a loop
over mini-batches (gather, forward, loss, backward, clip, decay, update) that Numba compiles
as one function (`runtime/jit.py`). Why one function for many steps: a small network's
step is a few microseconds of arithmetic, and every return to Python costs as much.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .codegen import pass_lines
from .plan import NetPlan


def steps_source(plan: NetPlan, kernel: str, state: int, hyper: int,
                 counts_steps: bool) -> str:
    """`make_buffers(n, X, T)` and `train_steps(B, n, P, G, S, X, T, perm, first, last, bs,
    scale, flat, grads, M, hyper, count, clip, decay, losses, preds, hits, rng)`.

    `make_buffers` allocates what the steps of `n` rows work in (activations, gradients,
    scratch, the gathered batch). A caller with large buffers keeps them (B) per batch size,
    as the NumPy backend keeps its bound passes: allocating them per call cost DeepConvNet a
    third of its time in fresh pages. With B None the loop makes its own: passing a tuple
    of arrays costs Python about 6 us a call, a tenth of the spiral net's epoch.

    It takes steps `first`..`last - 1` of an epoch, step s training on the `n` rows
    `X[perm[s * bs:s * bs + n]]`, and returns the step after the last it took: a step whose
    loss is not finite stops the loop before its update (the trainer then diagnoses it with
    the NumPy passes). P, G and S are the parameter, gradient and buffer arrays in the
    plan's order; `flat`, `grads` and the optimizer state `M` the flat buffers they view;
    `hyper` the update's hyper-parameters (`kernel`'s order, wd last) and `count` the
    updates before this call. Each step's loss goes to `losses`, its argmax rows to `preds`
    (when not empty), its sigmoid hits to `hits[0]` (likewise). `rng` is the network's
    Generator, which dropout draws from as the NumPy passes do.
    """
    allocations, views, forward, loss, backward = pass_lines(plan)
    allocations = [*allocations,
                   "    xb = np.empty((n,) + X.shape[1:], X.dtype)  # the mini-batch",
                   "    t = np.empty((n,) + T.shape[1:], T.dtype)"]
    names = ", ".join(dict.fromkeys(m[1] for line in allocations
                                    if (m := re.match(r"\s+(\w+) = ", line))))
    out = ["def make_buffers(n, X, T):",
           '    """The buffers of steps over n rows; see compiler/jit_codegen."""',
           "    dtype = F",
           *allocations,
           f"    return ({names},)",
           "",
           "",
           "def train_steps(B, n, P, G, S, X, T, perm, first, last, bs, scale, flat, grads, M,",
           "                hyper, count, clip, decay, losses, preds, hits, rng):",
           '    """Steps first..last-1 of an epoch over the rows B was made for; see',
           '    compiler/jit_codegen."""',
           *_bindings(plan),
           f"    {names}, = make_buffers(n, X, T) if B is None else B",
           "    dx = None  # no gradient for the data",
           "    train = True  # dropout drops, from `rng`, the network's Generator",
           "    for step in range(first, last):",
           "        gather(X, perm, step * bs, xb)",
           *_views(views),
           "        gather(T, perm, step * bs, t)",
           *forward,
           f"        value = {loss}",
           "        losses[step - first] = value",
           "        if not np.isfinite(value):",
           "            return step",
           "        if preds.size:",
           "            argmax_rows(out, preds, step * bs)",
           "        if hits.size:",
           "            hits[0] += count_hits(out, t)",
           *(_ADD.sub(r"accumulate(\1, \2)", line) for line in backward),
           "        if clip > 0:",
           "            clip_norm(grads, clip)",
           "        if decay.size:",
           "            add_decay(flat, grads, decay)",
           f"        {_update(kernel, state, hyper, counts_steps)}",
           "    return last", ""]
    return "\n".join(out)


# A value read twice gets its gradients added up (`np.add(g, t, out=g)`, nodecode.backward);
# Numba's ufuncs take no `out=`, so the loop calls its kernel for that.
_ADD = re.compile(r"np\.add\((\w+), (\w+), out=\1\)")


def _views(views: list[str]) -> list[str]:
    """The data's views as the inputs, read from the gathered rows `xb`. Why not gather into
    `x` as NumPy does: an image input rebinds `x` to its channel-major copy, and Numba gives
    a name one type."""
    out = [re.sub(r"= (.*)", lambda m: "= " + re.sub(r"\bx\b", "xb", m.group(1)), line,
                  count=1) for line in views]
    if not any(line.lstrip().startswith("x = ") for line in out):
        out.insert(0, "        x = xb")
    return out


def _bindings(plan: NetPlan) -> list[str]:
    """Each parameter, its gradient and each buffer by the names the calls use."""
    out, k, b = [], 0, 0
    for layer in plan.layers:
        for p in layer.params:
            out.append(f"    {p.name}{layer.index} = P[{k}]")
            out.append(f"    d{p.name}{layer.index} = G[{k}]")
            k += 1
        for buf in layer.buffers:
            out.append(f"    {buf.name}{layer.index} = S[{b}]")
            b += 1
    return out


def _update(kernel: str, state: int, hyper: int, counts_steps: bool) -> str:
    args: list[str] = ["flat", "grads", *(f"M[{i}]" for i in range(state))]
    values: Sequence[str] = [f"hyper[{i}]" for i in range(hyper)]
    if counts_steps:
        values = [*values[:-1], "count + step - first + 1", *values[-1:]]
    return f"{kernel}({', '.join([*args, *values])})"
