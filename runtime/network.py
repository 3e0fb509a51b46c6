"""Runtime stage 6, the network: live parameters plus the generated passes bound per batch size.

`Network` is what `netc.compile` returns. Its parameter arrays are allocated once and only
ever changed in place, so `net.params[k][...] = v` changes the network (DLFS-2's aliasing,
made a contract). The math lives in the kernels; this class only drives generated code.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..compiler.plan import NetPlan
from .buffers import views
from .targets import as_inputs, as_targets

if TYPE_CHECKING:
    from .trainer import History

_BOUND_SIZES = 4  # Why: a few batch sizes (train, last partial batch, eval) stay bound.
EVAL_BATCH = 2048  # at most; `plan.eval_rows` takes fewer for large rows


class Network:
    """A compiled network: `params`, `predict`, `loss`, `gradients`, `accuracy`, `fit`."""

    __slots__ = ("plan", "flat_params", "flat_grads", "params", "grads", "buffers", "dtype",
                 "rng", "source", "eval_rows", "_bind", "_bound", "_steps", "backend",
                 "_jit_warned")

    def __init__(self, plan: NetPlan, flat_params: NDArray, params: dict[str, NDArray],
                 buffers: dict[str, NDArray], dtype: np.dtype, rng: np.random.Generator,
                 source: str, bind: Callable[..., Any]) -> None:
        self.plan = plan
        self.flat_params = flat_params
        self.flat_grads = np.zeros_like(flat_params)
        self.params: Mapping[str, NDArray] = OrderedDict(params)
        self.grads: Mapping[str, NDArray] = OrderedDict(
            views(self.flat_grads, [(k, v.shape) for k, v in params.items()]))
        self.buffers: Mapping[str, NDArray] = OrderedDict(buffers)
        self.dtype = dtype
        self.rng = rng
        self.source = source
        self.eval_rows = plan.eval_rows  # rows predicted or evaluated at a time
        self._bind = bind
        self._bound: OrderedDict[int, tuple[Callable[..., Any], ...]] = OrderedDict()
        # A seq2seq decoder's (encode, first, step) for one batch size (runtime/generation.py)
        self._steps: dict[int, tuple[Callable[..., Any], ...]] = {}
        # What `fit` trains on: "numpy" (the reference) or "numba" (runtime/jit.py)
        self.backend = plan.run.backend
        self._jit_warned = False  # the numba backend's fallback note is given once

    def passes(self, n: int) -> tuple[Callable[..., Any], ...]:
        """(forward, loss, backward, predict) over buffers for batch size `n`."""
        bound = self._bound.get(n)
        if bound is None:
            bound = self._bind(self.params, self.grads, self.buffers, n, self.dtype, self.rng)
            self._bound[n] = bound
            if len(self._bound) > _BOUND_SIZES:
                self._bound.popitem(last=False)
        else:
            self._bound.move_to_end(n)
        return bound

    def predict(self, x: ArrayLike) -> NDArray:
        """The output a user wants: class probabilities (softmax_ce), sigmoid probabilities
        (sigmoid_ce) or the raw output (mse). Evaluation mode (no dropout, running stats)."""
        x = as_inputs(x, self)
        out = np.empty((len(x), self.plan.n_outputs), self.dtype)
        rows = self.eval_rows
        for s in range(0, len(x), rows):
            chunk = x[s:s + rows]
            out[s:s + len(chunk)] = self.passes(len(chunk))[3](chunk)
        return out

    def loss(self, x: ArrayLike, t: ArrayLike, *, train: bool = False) -> float:
        """Mean loss over the batch (evaluation mode unless `train`)."""
        x = as_inputs(x, self)
        t = as_targets(t, self, len(x))
        forward, loss = self.passes(len(x))[:2]
        forward(x, train)
        return float(loss(t))

    def gradients(self, x: ArrayLike, t: ArrayLike, *,
                  input_grad: bool = False) -> dict[str, NDArray]:
        """dL/dparam for every parameter (copies, keys as `params`), by backprop in training
        mode; with `input_grad`, also dL/dx under the key "input"."""
        x = as_inputs(x, self)
        t = as_targets(t, self, len(x))
        forward, loss, backward = self.passes(len(x))[:3]
        forward(x, True)
        loss(t)
        dx = np.empty_like(x) if input_grad else None
        backward(x, t, dx)
        grads = {k: g.copy() for k, g in self.grads.items()}
        if dx is not None:
            grads["input"] = dx
        return grads

    def accuracy(self, x: ArrayLike, t: ArrayLike) -> float:
        """Fraction of correct predictions (argmax for softmax_ce, > 0.5 for sigmoid_ce)."""
        from .metrics import accuracy

        return accuracy(self.predict(x), as_targets(t, self, None), self.plan.loss.op)

    def fit(self, x: ArrayLike, t: ArrayLike | None = None, **options: Any) -> History:
        """Train with mini-batches as `netc run` would: the spec's `optimizer:` and `train:`
        settings (callbacks included), keyword arguments overriding them; see
        `netc.runtime.trainer.Trainer` for the options (epochs, batch_size, optimizer, lr,
        seed, validation_data, eval_train, checkpoint, callbacks, clip, ...). With `bptt`
        (a language model), x is the corpus's token ids and t is left out (the next tokens).
        """
        from .callbacks import from_settings
        from .fitsettings import resolve
        from .progress import with_progress
        from .trainer import Trainer

        # Why a way out: `netc run` builds the spec's callbacks itself (it cannot restore the
        # best weights, and it reports what they did).
        own = options.pop("spec_callbacks", True)
        options = resolve(self.plan.run, options)
        options = with_progress(options, options["epochs"])  # verbose, log_every
        spec_hooks = from_settings(dict(self.plan.run.callbacks)) if own else []
        given = options.get("callbacks", [])
        if spec_hooks and isinstance(given, (list, tuple)):  # else the Trainer's message
            options["callbacks"] = [*spec_hooks, *given]  # the spec's first, then the caller's
        if options.pop("plot", False):  # live curves in a notebook (runtime/plot.py)
            from .plot import with_live_plot

            options["callbacks"] = with_live_plot(options.get("callbacks"))
        if options.get("bptt"):  # a language model: streams of one corpus (DLFS-2 ch. 5)
            from .streams import StreamTrainer

            return StreamTrainer(self, x, t, **options).run()
        return Trainer(self, x, t, **options).run()

    def save_checkpoint(self, path: str | PathLike[str]) -> None:
        """Save parameters and state (no optimizer state) to an .npz checkpoint."""
        from .checkpoint import Checkpoint, save_checkpoint

        save_checkpoint(path, Checkpoint(dict(self.params), dict(self.buffers), {},
                                         {"spec_hash": self.plan.spec_hash, "epoch": 0}))

    def load_checkpoint(self, path: str | PathLike[str]) -> dict[str, Any]:
        """Copy a checkpoint's parameters and state into this network; returns its meta.

        The file must hold exactly this spec's parameters and buffers, with their shapes, a
        floating dtype and finite values; all is checked before anything is copied."""
        from .checkpoint import load_checkpoint
        from .restore_check import LOAD_HINT, check_arrays, check_spec

        ckpt = load_checkpoint(path)
        check_spec(path, ckpt.meta, self.plan.spec_hash, LOAD_HINT)
        check_arrays(path, ckpt, {"param": self.params, "buffer": self.buffers}, self.dtype,
                     LOAD_HINT)
        for target, saved in ((self.params, ckpt.params), (self.buffers, ckpt.buffers)):
            for k, v in target.items():
                v[...] = saved[k]
        return ckpt.meta

    def perplexity(self, ids: ArrayLike, *, batch_size: int | None = None,
                   bptt: int | None = None) -> float:
        """A language model's perplexity over the corpus `ids`, exp(mean loss per token),
        streamed as training streams it (`batch_size` streams of `bptt` tokens, the state
        carried from zeros; defaults: the spec's `train:` settings), as DLFS-2's
        `eval_perplexity`."""
        import math

        from .streams import corpus_ids, stream_loss

        n = batch_size or self.plan.run.batch_size
        steps = bptt or int(dict(self.plan.run.fit).get("bptt", 0)) or self.plan.input_width
        if not self.plan.vocab or steps != self.plan.input_width:
            raise ValueError(f"perplexity: the network reads rows of {self.plan.input_width} "
                             f"values; a language model's are `bptt` token ids")
        loss = stream_loss(self.passes(n), corpus_ids(ids, self.plan.vocab, "perplexity: ids"),
                           n, steps, "perplexity: the corpus")
        return math.exp(loss) if loss < 700 else math.inf

    def most_similar(self, query: str, top: int = 5,
                     words: list[str] | tuple[str, ...] | None = None) -> list[tuple[str, float]]:
        """The words nearest `query` by cosine similarity of the first embed layer's vectors
        (DLFS-2's `most_similar`): one word, or an analogy `"king - man + woman"`. `words` is
        the vocabulary (id -> word), by default that of the spec's `data:` corpus."""
        from .similar import most_similar

        return most_similar(self, query, words if words is not None else self.vocabulary(), top)

    def vocabulary(self) -> tuple[str, ...]:
        """The words of the spec's `data: corpus(...)` or `markov(...)`, id -> word."""
        from ..errors import DataError
        from .data import corpus

        run = self.plan.run
        if run.data not in ("corpus", "markov"):
            raise DataError(f"{self.plan.path}: the data is {run.data!r}, which has no words; "
                            "pass words=[...] (id -> word)")
        return corpus(run.data, dict(run.data_args)).words

    def generate(self, questions: str | Sequence[str]) -> str | list[str]:
        """A seq2seq network's answers (`generate: greedy(...)`), decoded greedily from the
        start symbol: one question as text gives one answer, a list a list (DLFS-2 ch. 7)."""
        from .answers import generate

        if isinstance(questions, str):
            return generate(self, [questions])[0]
        return generate(self, list(questions))

    def attention(self, question: str) -> tuple[NDArray, str, str]:
        """(weights, question, answer): what the first attention layer looked at while
        answering `question`, one row per answer character over the question's characters
        (DLFS-2 ch. 8's heat map; `netc attention` draws it)."""
        from .answers import attention

        return attention(self, question)

    def plot_attention(self, question: str, path: str | PathLike[str] | None = None) -> Any:
        """The heat map `netc attention` draws for `question` (extra `plot`): written to
        `path`, or returned as an image a notebook shows."""
        from .attention_plot import plot_attention

        return plot_attention(*self.attention(question), path)

    def export_onnx(self, path: str | PathLike[str]) -> None:
        """Write the inference graph with the current weights as an ONNX model (netc[onnx])."""
        from .onnx_export import export_onnx

        export_onnx(self, path)

    def export_onnx_steps(self, path: str | PathLike[str]) -> tuple[str, str]:
        """A seq2seq network as ONNX models for step-by-step generation: the encoder and one
        decoder step, beside `path` (`x.encoder.onnx`, `x.decoder.onnx`); returns their paths
        (runtime/onnx_seq2seq.py says what each reads and returns)."""
        from .onnx_seq2seq import export_steps

        return export_steps(self, path)

    def summary(self) -> None:
        """Print the layer table of `netc check` (and return nothing, as Keras's does)."""
        print(self.summary_text())

    def summary_text(self) -> str:
        """The layer table of `netc check`, as a string."""
        return self.plan.summary()

    def _repr_html_(self) -> str:
        """Jupyter's view: the layer table beside an SVG diagram (netc/html.py)."""
        from ..html import plan_html

        where = "" if self.plan.path == "<string>" else f" of {self.plan.path}"
        return plan_html(self.plan, f"netc.Network{where}: {self.plan.param_count:,} params, "
                                    f"{self.dtype}")

    def __repr__(self) -> str:
        arch = " -> ".join(layer.op for layer in self.plan.layers)
        return f"<netc.Network {arch}, {self.plan.param_count:,} params, {self.dtype}>"
