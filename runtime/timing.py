"""Runtime profiling for `netc time`: where a training step spends its time, layer by layer.

Like `caffe time`: the generated passes are compiled once more with a clock tick after every
kernel call (`codegen.passes_source(timed=True)`), run for a number of steps on a random
batch, and each layer's forward and backward time is averaged; the optimizer step and the
batch gather are timed as rows of their own. The ticks add well under a microsecond each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..compiler.codegen import passes_source
from ..compiler.plan import Memory, NetPlan
from . import optim
from .build import build, check_memory
from .generated import bind_update, load
from .gradcheck import random_batch


@dataclass(frozen=True)
class Row:
    """Seconds per step for one layer (or the optimizer / gather rows)."""

    label: str
    forward: float
    backward: float

    @property
    def total(self) -> float:
        return self.forward + self.backward


def profile(plan: NetPlan, *, batch: int | None = None, steps: int = 50, warmup: int = 5,
            optimizer: str | None = None, lr: float | None = None) -> list[Row]:
    """Per-layer forward/backward seconds per step, then the gather and optimizer rows.

    The batch size, optimizer and its settings default to the spec's, as `netc run` uses them.
    """
    batch = batch or plan.run.batch_size
    optimizer = optimizer or plan.run.optimizer
    given = dict(plan.run.hyper) if optimizer == plan.run.optimizer else {}
    check_memory(plan, memory(plan, batch, optimizer), rows=batch, fixes=["lower --batch"])
    net = build(plan)
    acc = np.zeros((len(plan.layers), 2))
    clock = [0.0]

    def tick(layer: int, phase: int) -> None:
        now = time.perf_counter()
        acc[layer, phase] += now - clock[0]
        clock[0] = now

    bind = load(passes_source(plan, timed=True), plan.path, _tick=tick)["bind"]
    forward, loss, backward = bind(net.params, net.grads, net.buffers, batch, net.dtype,
                                   net.rng)[:3]
    x64, t = random_batch(net, batch * 4)
    x = x64 if net.plan.vocab else x64.astype(net.dtype)  # token ids stay ids
    xb, tb = x[:batch].copy(), t[:batch].copy()
    info = optim.OPTIMIZERS[optimizer]
    # The same generated update the trainer runs, with the same settings.
    update_plan = optim.plan_update(info, optim.hyper_values(info, lr, given))
    state = [np.zeros_like(net.flat_params) for _ in update_plan.state]
    update = bind_update(plan, update_plan, net.flat_params, net.flat_grads, state)
    scale = update_plan.grad_scale / batch
    idx = np.arange(batch)
    update_s = gather_s = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            acc[:] = 0.0
            update_s = gather_s = 0.0
        start = time.perf_counter()
        x.take(idx, axis=0, out=xb, mode="clip")
        t.take(idx, axis=0, out=tb, mode="clip")
        clock[0] = time.perf_counter()
        gather_s += clock[0] - start
        forward(xb, True)
        loss(tb)
        backward(xb, tb, None, scale)
        start = time.perf_counter()
        update(i + 1)
        update_s += time.perf_counter() - start
    rows = [Row(f"{lp.label}", acc[lp.index, 0] / steps, acc[lp.index, 1] / steps)
            for lp in plan.layers]
    return [Row("gather (batch)", gather_s / steps, 0.0), *rows,
            Row(f"update ({optimizer})", 0.0, update_s / steps)]


def memory(plan: NetPlan, batch: int, optimizer: str) -> Memory:
    """What `profile` allocates: the network, its optimizer state, one batch's buffers, and
    random data of four batches (float64, then converted) with a gathered batch of it."""
    size = 8 if plan.run.dtype == "float64" else 4
    data = batch * (plan.input_width * (4 * 8 + 5 * size) + plan.n_outputs * 5 * 8)
    return plan.memory(f"timing at batch {batch:,}", batches=(batch,),
                       slots=len(optim.OPTIMIZERS[optimizer].state),
                       extra=(("random data", data),))


def report(plan: NetPlan, rows: list[Row], batch: int) -> str:
    """The `netc time` table: per row forward, backward (ms) and share of the step."""
    total = sum(r.total for r in rows)
    width = max(len(r.label) for r in rows)
    lines = [f"{'layer':<{width}}  {'forward':>10}  {'backward':>10}  {'share':>6}"]
    for r in rows:
        lines.append(f"{r.label:<{width}}  {r.forward * 1e3:>8.3f}ms  {r.backward * 1e3:>8.3f}ms"
                     f"  {r.total / total:>6.1%}")
    lines.append(f"step: {total * 1e3:.3f} ms for a batch of {batch} "
                 f"({batch / total:,.0f} samples/s, {plan.run.dtype})")
    return "\n".join(lines)
