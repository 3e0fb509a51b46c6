"""Runtime stage 7, train: the seeds' four steps (sample a mini-batch, backprop, update, repeat).

`Trainer` shuffles with its own seeded generator, gathers each batch into reused buffers,
runs the generated forward/backward and the generated optimizer step, evaluates after every
epoch, guards against divergence, and checkpoints atomically so nothing finished is lost.
It never prints: progress goes to the `on_step`/`on_epoch` callbacks.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Sequence
from os import PathLike
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import rules
from ..errors import DataError, TrainingError
from . import callbacks as hooks
from . import optim
from .buffers import views
from .build import check_training
from .checkpoint import lock_checkpoint
from .fitsettings import decayed_update, held_out, switch, weights_mask, with_decay
from .generated import bind_update
from .jit import check_backend, compiled_steps
from .jit_epoch import jit_epoch
from .metrics import accuracy
from .network import Network
from .restore_check import saved_position
from .resume import RunState, interrupt_guard, restore, snapshot
from .targets import as_inputs, as_targets
from .tokens import fill_sampler
from .watch import check_growth, initial_divergence


def _keywords() -> list[str]:
    """`Trainer`'s own keyword arguments: what an unknown hyper-parameter may be a slip for."""
    return [k for k in inspect.signature(Trainer.__init__).parameters
            if k not in ("self", "net", "x", "t", "hyper")]


def _validation(data: Any, net: Network, source: str | None) -> tuple[NDArray, NDArray]:
    """`validation_data` as (inputs, targets), checked once: unlike the training inputs, a
    non-finite one would never be found by the divergence guard, only spoil the test loss."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"fit: validation_data must be a pair (x, t), got {type(data).__name__}")
    # Why the label: a bad row there must not read as one of the training data's.
    source = f"{source} (validation data)" if source else "validation_data"
    vx = as_inputs(data[0], net, source)
    if not len(vx):
        raise DataError(f"{source}: no samples (leave validation_data out instead)")
    return vx, as_targets(_targets(data[1], vx, net), net, len(vx), source)


def _targets(t: Any, x: NDArray, net: Network) -> Any:
    """`softmax_ce(tgt[1:])` with no targets given: they are columns of the inputs."""
    if t is None and net.plan.target is not None:
        from .generation import targets_of

        return targets_of(net.plan, x)
    return t


def _eval_train(eval_train: bool | None, evaluate: bool | None) -> bool:
    """`eval_train`, or the old `evaluate=` keyword it replaces (same meaning, deprecated)."""
    if evaluate is not None:
        import warnings

        warnings.warn("fit(evaluate=...) is deprecated; use eval_train=... (the default "
                      "reports running means over the mini-batches)", DeprecationWarning,
                      stacklevel=4)
        if eval_train is None:
            eval_train = evaluate
    return switch("eval_train", eval_train or False)


class History(list):
    """One record (a dict) per finished epoch: epoch, train_loss, train_acc, val_* (for
    `validation_data`) or test_* (a data set's test split), seconds. `history` gives the
    same figures as columns, Keras style: `history.history["val_loss"]`."""

    @property
    def last(self) -> dict[str, Any]:
        return self[-1]

    @property
    def history(self) -> dict[str, list[Any]]:
        keys = dict.fromkeys(k for rec in self for k in rec)  # first-seen order
        return {k: [rec.get(k) for rec in self] for k in keys}


class Trainer:
    """Mini-batch training of a `Network`; `run()` returns the `History`."""

    def __init__(self, net: Network, x: ArrayLike, t: ArrayLike, *, epochs: int = 10,
                 batch_size: int = 100, optimizer: str = "sgd", lr: float | None = None,
                 seed: int = 0, validation_data: tuple[ArrayLike, ArrayLike] | None = None,
                 checkpoint: str | PathLike[str] | None = None,
                 resume: str | PathLike[str] | None = None,
                 on_step: Callable[[int, int, int, float], None] | None = None,
                 on_epoch: Callable[[dict[str, Any]], None] | None = None,
                 interrupt_checkpoint: str | PathLike[str] | None = None,
                 data_name: str | None = None, eval_train: bool | None = None,
                 validation_label: str = "val", evaluate: bool | None = None,
                 subset: int = 0, validation_split: float = 0.0, wd_all: bool = False,
                 keep_best: bool = False, resume_anyway: bool = False,
                 callbacks: Sequence[Any] = (), bptt: int = 0, clip: float = 0.0,
                 backend: str | None = None, **hyper: float) -> None:
        # Why the shared rules: `fit(epochs=2.5)` or `batch_size=True` would otherwise fail
        # deep in NumPy; the spec's `train:` and the CLI flags obey the same bounds.
        epochs, batch_size, seed = (rules.TRAIN[k].check(v, "fit") for k, v in
                                    (("epochs", epochs), ("batch_size", batch_size),
                                     ("seed", seed)))
        if not isinstance(optimizer, str) or optimizer not in optim.OPTIMIZERS:
            raise ValueError(rules.unknown_optimizer(optimizer))
        self.net, self.epochs, self.batch_size = net, epochs, batch_size
        self.bptt, self.clip = (rules.TRAIN[k].check(v, "fit") for k, v in
                                (("bptt", bptt), ("clip", clip)))
        self.data_name = data_name or "data"
        self._take_data(x, t, data_name, subset, validation_split, seed, validation_data)
        self.wd_all = switch("wd_all", wd_all)  # else DLFS's weight decay: weights only (`_rebind`)
        self.info = optim.OPTIMIZERS[optimizer]
        self.hyper = optim.hyper_values(self.info, lr, hyper, _keywords())
        self.initial_hyper = dict(self.hyper)  # Why: what a resume's settings must match
        if not isinstance(callbacks, (list, tuple)):  # one callback alone is a common slip
            raise TypeError(f"fit: callbacks must be a list, got {type(callbacks).__name__}")
        self.callbacks = list(callbacks)  # see `callbacks.py`: schedules, early stopping, ...
        if switch("keep_best", keep_best):  # last: it saves the lr a schedule just set
            self.callbacks.append(hooks.keep_best(checkpoint))
        self.update = optim.plan_update(self.info, self.hyper)
        self.checkpoint, self.on_step, self.on_epoch = checkpoint, on_step, on_epoch
        self.interrupt_path = interrupt_checkpoint or checkpoint
        self.eval_train = _eval_train(eval_train, evaluate)
        if validation_label not in ("val", "test"):
            raise ValueError(f"fit: validation_label must be 'val' or 'test', "
                             f"got {validation_label!r}")
        self.val_label = validation_label  # `val_*` for validation_data, `test_*` for a split
        check_training(net, self.batch_size, self.info.name, len(self.x),  # before allocating
                       max(len(self.x), len(self.val[0]) if self.val else 0))
        shapes = [(k, p.shape) for k, p in net.params.items()]
        flat_state = [np.zeros_like(net.flat_params) for _ in self.update.state]
        slots = {f"{s}/{k}": v for s, flat in zip(self.update.state, flat_state, strict=True)
                 for k, v in views(flat, shapes).items()}
        self.state = RunState(np.random.default_rng(seed), {**slots, **self.carried()})
        self.history = History()
        self._preds = np.empty(len(self.x), np.intp)  # the epoch's argmax, for train_acc
        if checkpoint is not None:
            from .checkpoint import check_writable

            # Why keep the result: a path `netc run` probed already is not probed again.
            self.checkpoint = checkpoint = check_writable(checkpoint)
        if resume is not None:
            restore(resume, self, anyway=resume_anyway)
        self._flat_state = flat_state
        # "numba": the epochs run in the compiled loop (runtime/jit.py) where it covers the net
        self.backend = net.backend if backend is None else check_backend(backend, "fit")
        self._jit: Any = None
        self._jit_chunk = 1  # steps per compiled call, grown by `jit_epoch`
        self._rebind()

    def carried(self) -> dict[str, NDArray]:
        """Arrays beyond the optimizer's that a checkpoint keeps (a language model's state)."""
        return {}

    def _take_data(self, x: ArrayLike, t: ArrayLike, data_name: str | None, subset: int,
                   validation_split: float, seed: int, validation_data: Any) -> None:
        """`self.x`, `self.t` and `self.val` (the held-out pair or None), checked."""
        self.x = as_inputs(x, self.net, data_name, finite=False)
        if not len(self.x):
            raise DataError(f"{data_name}: the training data has no samples" if data_name
                            else "fit: x has no samples (training needs at least one)")
        self.t = as_targets(_targets(t, self.x, self.net), self.net, len(self.x), data_name)
        self.x, self.t, split = held_out(self.x, self.t, subset, validation_split, seed,
                                            data_name)
        if split is not None and validation_data is not None:
            raise ValueError("fit: give validation_data or validation_split, not both")
        # Non-finite inputs are found when they first make the loss non-finite (see
        # `_diverged`): checking the whole set up front would cost a pass over it every fit.
        self.val = split
        if validation_data is not None:
            self.val = _validation(validation_data, self.net, data_name)
        fill_sampler(self.net, self.t)  # ns_loss draws words by their training counts

    def position(self, path: Any, meta: dict[str, Any], anyway: bool) -> tuple[Any, int]:
        """Where a checkpoint's epoch stood: (permutation, step), proven to fit this data."""
        return saved_position(path, meta, len(self.x), self.batch_size, anyway)

    def order(self) -> NDArray:
        """The next epoch's order of the samples: a permutation, drawn by the shuffle rng."""
        return self.state.rng.permutation(len(self.x))

    def run(self) -> History:
        """Train up to `epochs`, checkpointing after each; Ctrl-C saves, then KeyboardInterrupt."""
        st = self.state
        # Why errstate around the whole run: overflow on the way to divergence is reported
        # once by `_diverged` (it checks the loss), not as NumPy warnings at every step.
        # The lock is held for the whole run, released however it ends (see `lock_checkpoint`).
        with lock_checkpoint(self.checkpoint), interrupt_guard() as stop, \
                np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # The untrained loss, for `check_growth`: the first mini-batch's, set by `_epoch`
            # before the first update (no extra pass); None for a resumed run.
            self.start_loss: float | None = None
            go = hooks.begin(self.callbacks, self)
            while go and st.epoch < self.epochs:
                if st.perm is None:
                    st.perm = self.order()
                    st.seconds, st.loss_sum, st.correct_sum = 0.0, 0.0, 0.0
                self._epoch(stop)
                if stop.requested:
                    snapshot(self, interrupted=True)
                    raise KeyboardInterrupt(self.interrupt_path)
                record = self._record()
                self.history.append(record)
                st.epoch, st.step, st.perm = st.epoch + 1, 0, None
                go = hooks.epoch_end(self.callbacks, record, self)  # False: stop after it
                if self.hyper != self._bound_hyper:  # a schedule changed the learning rate
                    self._rebind()
                if self.checkpoint is not None:
                    snapshot(self)
                if self.on_epoch:
                    self.on_epoch(record)
                # After the epoch's line (and its progress bar) is out: a warning reads after it.
                self.start_loss = check_growth(self.history, self.start_loss,
                                               self.hyper.get("lr"))
            hooks.end(self.callbacks, self)
        return self.history

    def _rebind(self) -> None:
        """Generate the optimizer step for `hyper`; again after a callback changed it. Why not
        pass lr per step: the values are constants of the generated step (plain SGD even folds
        lr into the loss gradient), so a schedule costs one rebinding per change, no step time."""
        self.hyper = optim.hyper_values(self.info, None, self.hyper)
        wd, net = self.hyper.get("wd", 0.0), self.net
        self.update, masked = decayed_update(self.info, self.hyper, self.wd_all)
        self._step = bind_update(net.plan, self.update, net.flat_params, net.flat_grads,
                                 self._flat_state)
        decay = None
        if masked:
            decay = weights_mask(net.params, net.dtype) * (wd * self.update.grad_scale)
            self._step = with_decay(self._step, net.flat_params, net.flat_grads, decay)
        if self.backend == "numba":  # None, with a warning, where it trains on NumPy
            self._jit = compiled_steps(net, self.update, self._flat_state, decay,
                                       streams=bool(self.bptt))
        self._bound_hyper = dict(self.hyper)

    def _epoch(self, stop: Any) -> None:
        if self._jit is not None:
            return jit_epoch(self, stop)
        st, bs, n = self.state, self.batch_size, len(self.x)
        steps = math.ceil(n / bs)
        x, t, perm, on_step, update = self.x, self.t, st.perm, self.on_step, self._step
        isfinite, bound, op = math.isfinite, {}, self.net.plan.loss.op
        # Why one argmax into an epoch-long buffer: comparing with the labels per step costs
        # three NumPy calls (a fifth of a small network's step); it is done once per call.
        # A softmax over a sequence's steps (one class a step) is scored per batch instead.
        per_step = len(self.net.plan.loss.in_shape) == 2
        preds = self._preds if op == "softmax_ce" and not per_step else None
        # seq2seq reports exact-match accuracy of generated answers, not of teacher forcing
        scored = (op == "sigmoid_ce" or per_step) and not self.net.plan.run.generate
        first = st.step
        start = time.perf_counter() - st.seconds
        # Why locals and one binding per batch size: this loop runs once per mini-batch, and
        # for small networks its own overhead is a large share of the step.
        while st.step < steps and not stop.requested:
            idx = perm[st.step * bs:(st.step + 1) * bs]
            if len(idx) not in bound:
                bound[len(idx)] = self._batch(len(idx))
            xb, tb, forward, loss, backward, trace, scale, out = bound[len(idx)]
            # The gather writes into reused buffers; "clip" skips the bounds check, which is a
            # third of the gather's cost (100x784 float32: 18 us against 32 us with "raise").
            # Safe only because every index is proven in range: `perm` is either drawn here by
            # `rng.permutation(n)` or restored by `saved_position`, which refuses one that is not
            # a permutation of exactly these n samples. Any other source must prove the same.
            x.take(idx, axis=0, out=xb, mode="clip")
            t.take(idx, axis=0, out=tb, mode="clip")
            forward(xb, True)
            value = loss(tb)
            if not isfinite(value):
                self._diverged(value, xb, tb, idx, trace)
            # Why here: the running means read the forward's output, no second pass (Keras).
            st.loss_sum += value * len(idx)
            if preds is not None:
                np.argmax(out, axis=1, out=preds[st.step * bs:st.step * bs + len(idx)])
            elif scored:
                st.correct_sum += accuracy(out, tb, op) * len(idx)
            backward(xb, tb, None, scale)
            if self.clip:
                optim.clip_norm(self.net.flat_grads, self.clip * self.update.grad_scale)
            if not st.updates:  # the untrained loss, for `check_growth` (no extra pass)
                self.start_loss = value
            st.updates += 1
            update(st.updates)
            st.step += 1
            if on_step:
                on_step(st.epoch + 1, st.step, steps, float(value))
        st.seconds = time.perf_counter() - start
        if preds is not None:
            st.correct_sum += self._correct(preds, perm, first * bs, min(st.step * bs, n))

    def _correct(self, preds: NDArray, perm: NDArray, lo: int, hi: int) -> int:
        """How many of the samples perm[lo:hi] the epoch's stored predictions got right."""
        t = self.t.take(perm[lo:hi], axis=0)
        labels = t if t.ndim == 1 else np.argmax(t, axis=1)
        return int(np.count_nonzero(preds[lo:hi] == labels))

    def _batch(self, n: int) -> tuple[Any, ...]:
        """Reused gather buffers, the passes for batch size `n` and the loss gradient's scale
        (1/n for the mean loss, times lr where the update expects that folded in)."""
        forward, loss, backward, _, out, trace = self.net.passes(n)[:6]
        return (np.empty((n, *self.x.shape[1:]), self.x.dtype),
                np.empty((n, *self.t.shape[1:]), self.t.dtype), forward, loss, backward, trace,
                self.update.grad_scale / n, out)

    def _record(self) -> dict[str, Any]:
        """The epoch's figures: running means over its mini-batches (weighted by batch size,
        training mode, as Keras reports them) or, with `eval_train`, a full evaluation pass
        over the training set as DLFS's scripts print; the held-out set is always evaluated."""
        st, n = self.state, len(self.x)
        rec: dict[str, Any] = {"epoch": st.epoch + 1}
        sets = [(self.val_label, self.val)] if self.val else []
        if self.eval_train:
            sets.insert(0, ("train", (self.x, self.t)))
        else:
            rec["train_loss"] = st.loss_sum / n
            # Why not for generate: a teacher-forced token's accuracy is no exact match.
            if self.net.plan.loss.op in ("softmax_ce", "sigmoid_ce") and \
                    not self.net.plan.run.generate:
                rec["train_acc"] = st.correct_sum / n
        for name, (x, t) in sets:
            loss, acc = self.evaluate(x, t)
            rec[f"{name}_loss"] = loss
            if acc == acc:  # Why: mse has no accuracy; NaN would not be valid JSON.
                rec[f"{name}_acc"] = acc
        rec["seconds"] = round(self.state.seconds, 4)
        return rec

    def evaluate(self, x: NDArray, t: NDArray) -> tuple[float, float]:
        """Mean loss and accuracy over (x, t) in evaluation mode, in chunks."""
        total, preds = 0.0, []
        rows = self.net.eval_rows
        for s in range(0, len(x), rows):
            xc, tc = x[s:s + rows], t[s:s + rows]
            forward, loss, _, _, out, _ = self.net.passes(len(xc))[:6]
            forward(xc, False)
            total += float(loss(tc)) * len(xc)
            preds.append(out.copy())
        if self.net.plan.run.generate:  # seq2seq: whole answers, decoded greedily
            from .generation import exact_match, greedy

            return total / len(x), exact_match(greedy(self.net, x), t)
        return total / len(x), accuracy(np.concatenate(preds), t, self.net.plan.loss.op)

    def _diverged(self, value: float, xb: NDArray, tb: NDArray, idx: NDArray,
                  trace: Callable[..., Any]) -> None:
        for name, batch in (("inputs", xb), ("targets", tb)):
            bad = ~np.isfinite(batch.reshape(len(batch), -1)).all(axis=1)
            if bad.any():
                raise DataError(f"{self.data_name}: {name} contain NaN or infinite values "
                                f"(sample {int(idx[bad.argmax()])})")
        st, plan = self.state, self.net.plan
        bad = next((k for k, p in self.net.params.items() if not np.isfinite(p).all()), None)
        where = trace(xb, False) if bad is None else int(bad.split(".")[0])
        if st.updates == 0:  # nothing trained yet: the learning rate is not the cause
            raise TrainingError(initial_divergence(plan, -1 if where is None else where,
                                                   value, xb))
        layer = plan.layers[where if where is not None else -1]
        what = "parameters" if bad is not None else "output"
        spot = f"{plan.path}:{layer.where}" if layer.span else layer.label
        kept = (f"; the checkpoint {self.checkpoint} keeps epoch {st.epoch}"
                if self.checkpoint is not None and st.epoch else "")
        lr = self.hyper.get("lr")
        raise TrainingError(
            f"training diverged in epoch {st.epoch + 1} at step {st.step + 1}: the loss is "
            f"{value}. The {what} of {layer.label} ({spot}) went non-finite first{kept}.\n"
            f"  hint: lower the learning rate (now {lr}), e.g. --lr {lr / 10:g}")
