"""Stage 3's output types: Pydantic v2 schemas, one per op and one per declaration.

Argument names, types and ranges live here and only here, except the optimizers'
hyper-parameters and the `train:` integers: their rules live in `netc/rules.py`, shared with
the runtime and the CLI, and the models below are built from them. `netc layers` documents
every argument from these models. Models are strict (no "5" -> 5, no True -> 1), frozen, and
forbid unknown fields.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator

from .. import rules

MAX_WIDTH = 2**31
InitName = Literal["auto", "normal", "xavier", "he"]
Size = Annotated[int, Field(ge=1, le=MAX_WIDTH)]
Positive = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


class OpSpec(BaseModel):
    """Base of every validated call; `op` names it, `kind` says how the compiler treats it."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)
    op: str
    kind: ClassVar[str] = "activation"
    description: ClassVar[str] = ""


class _WeightedSpec(OpSpec):
    n_in: Size | None = Field(None, description="input width; inferred when left out")
    n_out: Size = Field(description="output width")
    init: InitName | None = Field(None, description="weight init; default: the `init:` setting")
    std: Positive | None = Field(None, description="std for init=normal (default 0.01)")
    tied: str | None = Field(None, description="use the weight of the layer labelled so "
                             "(`@E`), transposed; the width then comes from it")
    kind: ClassVar[str] = "layer"


class AffineSpec(_WeightedSpec):
    op: Literal["affine"] = "affine"
    description: ClassVar[str] = "fully connected layer: y = x @ W + b"


class MatMulSpec(_WeightedSpec):
    op: Literal["matmul"] = "matmul"
    description: ClassVar[str] = "matrix product without bias: y = x @ W"


class SigmoidSpec(OpSpec):
    op: Literal["sigmoid"] = "sigmoid"
    description: ClassVar[str] = "logistic activation 1 / (1 + exp(-x))"


class ReluSpec(OpSpec):
    op: Literal["relu"] = "relu"
    description: ClassVar[str] = "rectified linear unit max(0, x)"


class TanhSpec(OpSpec):
    op: Literal["tanh"] = "tanh"
    description: ClassVar[str] = "hyperbolic tangent activation"


class LeakyReluSpec(OpSpec):
    op: Literal["leaky_relu"] = "leaky_relu"
    alpha: Annotated[float, Field(ge=0, lt=1)] = Field(0.01, description="slope for x < 0")
    description: ClassVar[str] = "x for x > 0, alpha * x otherwise"


class SoftmaxSpec(OpSpec):
    op: Literal["softmax"] = "softmax"
    description: ClassVar[str] = "row-wise softmax (an inference output; train with softmax_ce)"


class DropoutSpec(OpSpec):
    op: Literal["dropout"] = "dropout"
    p: Fraction = Field(0.5, description="probability of dropping a unit while training")
    description: ClassVar[str] = "inverted dropout in training, identity in evaluation"


class BatchNormSpec(OpSpec):
    op: Literal["batchnorm"] = "batchnorm"
    momentum: Fraction = Field(0.9, description="running statistics decay")
    eps: Positive = Field(1e-5, description="added to the variance")
    kind: ClassVar[str] = "layer"
    description: ClassVar[str] = "batch normalisation with running statistics for evaluation"


class RepeatSpec(OpSpec):
    op: Literal["repeat"] = "repeat"
    n: Size = Field(description="number of copies")
    kind: ClassVar[str] = "node"
    description: ClassVar[str] = "branch node: n copies side by side, d -> n*d (backward: sum)"


class SumSpec(OpSpec):
    op: Literal["sum"] = "sum"
    n: Size = Field(description="number of blocks to add")
    kind: ClassVar[str] = "node"
    description: ClassVar[str] = "sum node: adds n blocks, width n*d -> d (backward: repeat)"


class AddSpec(OpSpec):
    op: Literal["add"] = "add"
    kind: ClassVar[str] = "merge"
    description: ClassVar[str] = "the sum of its branches, each applied to the input: add(f, g)"


class ConcatSpec(OpSpec):
    op: Literal["concat"] = "concat"
    kind: ClassVar[str] = "merge"
    description: ClassVar[str] = ("its branches side by side on the feature (last) axis, "
                                  "images on the channels, each applied to the input: "
                                  "concat(f, g)")


class FlattenSpec(OpSpec):
    op: Literal["flatten"] = "flatten"
    kind: ClassVar[str] = "reshape"
    description: ClassVar[str] = "one vector per row: (batch, 1, 28, 28) -> (batch, 784)"


def _pair(value: Any) -> Any:
    """`5` -> (5, 5): a square kernel, stride or padding; `3x5` (height x width) stays a pair.
    Anything else is left for the type check to refuse."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    return value


Pair = Annotated[tuple[Size, Size], BeforeValidator(_pair)]
Padding = Annotated[tuple[Annotated[int, Field(ge=0, le=MAX_WIDTH)],
                          Annotated[int, Field(ge=0, le=MAX_WIDTH)]], BeforeValidator(_pair)]


class ConvSpec(OpSpec):
    op: Literal["conv"] = "conv"
    filters: Size = Field(description="output channels (the number of filters)")
    size: Pair = Field(description="kernel size: `5`, or `3x5` (height x width)")
    stride: Pair = Field(1, validate_default=True,
                         description="step between windows: `2`, or `2x1`")
    pad: Padding = Field(0, validate_default=True,
                         description="zeros added on each side: `1`, or `1x2`")
    init: InitName | None = Field(None, description="weight init; default: the `init:` setting")
    std: Positive | None = Field(None, description="std for init=normal (default 0.01)")
    kind: ClassVar[str] = "layer"
    takes_shapes: ClassVar[bool] = True
    description: ClassVar[str] = ("2-D convolution over channel x height x width images, "
                                  "weights (filters, channels, kh, kw), one bias per filter")


class PoolSpec(OpSpec):
    op: Literal["pool"] = "pool"
    size: Pair = Field(description="window size: `2`, or `2x3` (height x width)")
    stride: Pair | None = Field(None, description="step between windows; default: the size")
    mode: Literal["max", "avg"] = Field("max", description="max or average of each window")
    kind: ClassVar[str] = "node"
    takes_shapes: ClassVar[bool] = True
    description: ClassVar[str] = "max or average pooling of each channel; sizes round down"

    @model_validator(mode="after")
    def _stride_defaults_to_size(self) -> PoolSpec:
        if self.stride is None:
            object.__setattr__(self, "stride", self.size)
        return self


class GlobalAvgPoolSpec(OpSpec):
    op: Literal["global_avg_pool"] = "global_avg_pool"
    kind: ClassVar[str] = "reshape"
    description: ClassVar[str] = "mean of each channel: (batch, C, H, W) -> (batch, C)"


class EmbedSpec(OpSpec):
    op: Literal["embed"] = "embed"
    dim: Size = Field(description="vector width per token")
    vocab: Size | None = Field(None, description="vocabulary size; default: the token input's")
    init: InitName | None = Field("normal", description="weight init (DLFS-2: normal, std 0.01)")
    std: Positive | None = Field(None, description="std for init=normal (default 0.01)")
    kind: ClassVar[str] = "layer"
    description: ClassVar[str] = ("word vectors: token x becomes row x of W (vocab, dim), "
                                  "DLFS-2's Embedding")


class _RecurrentSpec(OpSpec):
    # Why no `init` keyword: LANGUAGE-V2 keeps `lstm(h, init=enc.last)` for the initial state
    # (seq2seq); the weights follow the `init:` setting (Xavier, as DLFS-2's randn / sqrt(d)).
    hidden: Size = Field(description="hidden state width")
    kind: ClassVar[str] = "layer"


class RNNSpec(_RecurrentSpec):
    op: Literal["rnn"] = "rnn"
    description: ClassVar[str] = "tanh RNN over (steps, width): every step's hidden state"


class LSTMSpec(_RecurrentSpec):
    op: Literal["lstm"] = "lstm"
    description: ClassVar[str] = ("LSTM over (steps, width), gates f, g, i, o as DLFS-2: "
                                  "every step's hidden state")


class GRUSpec(_RecurrentSpec):
    op: Literal["gru"] = "gru"
    description: ClassVar[str] = ("GRU over (steps, width), gates z, r, h as DLFS-2: every "
                                  "step's hidden state")


class LastSpec(OpSpec):
    op: Literal["last"] = "last"
    kind: ClassVar[str] = "reshape"
    description: ClassVar[str] = "the last time step of a sequence (`h.last`): (batch, H)"


class MeanSpec(OpSpec):
    op: Literal["mean"] = "mean"
    axis: Literal[1] = Field(1, description="the axis averaged: 1, the steps (CBOW's context)")
    kind: ClassVar[str] = "reshape"
    description: ClassVar[str] = "mean over the steps: (batch, T, D) -> (batch, D)"


class SoftmaxCESpec(OpSpec):
    op: Literal["softmax_ce"] = "softmax_ce"
    target: str | None = Field(None, description="a slice of a token input holding the "
                               "targets (teacher forcing): softmax_ce(tgt[1:])")
    kind: ClassVar[str] = "loss"
    description: ClassVar[str] = "softmax + cross-entropy (labels: class indices or one-hot)"


class NSLossSpec(OpSpec):
    op: Literal["ns_loss"] = "ns_loss"
    k: Size = Field(5, description="negative words drawn per target")
    power: Annotated[float, Field(gt=0, le=1)] = Field(
        0.75, description="the sampler draws words by count ** power")
    vocab: Size | None = Field(None, description="vocabulary size; default: the token input's")
    init: InitName | None = Field("normal", description="output vectors' init (DLFS-2: normal, "
                                  "std 0.01)")
    std: Positive | None = Field(None, description="std for init=normal (default 0.01)")
    kind: ClassVar[str] = "loss"
    description: ClassVar[str] = ("negative sampling (word2vec, DLFS-2 ch. 4): the target's "
                                  "output vector against k sampled ones")


class SigmoidCESpec(OpSpec):
    op: Literal["sigmoid_ce"] = "sigmoid_ce"
    kind: ClassVar[str] = "loss"
    description: ClassVar[str] = "sigmoid + binary cross-entropy per output unit"


class MSESpec(OpSpec):
    op: Literal["mse"] = "mse"
    kind: ClassVar[str] = "loss"
    description: ClassVar[str] = "mean squared error 0.5 * sum((y - t)**2) / batch"


# ---- declarations ----------------------------------------------------------------------


class SettingSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)
    description: ClassVar[str] = ""


def _values(shape: Any) -> int:
    """Values in one row of `shape`; 1 where a dimension is not a whole number >= 1, whose
    own error then says which (so no second error about the width)."""
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 1 for d in shape):
        return 1
    n = 1
    for d in shape:
        n *= d
    return n


class InputSpec(SettingSpec):
    width: Size = Field(description="number of input features (values per row)")
    shape: tuple[Size, ...] | None = Field(
        None, description="an image's shape, channels first: `1x28x28` or `1, 28, 28`")
    tokens: Annotated[int, Field(ge=0, le=MAX_WIDTH)] | None = Field(
        None, description="token ids of a vocabulary this large (`tokens(10000)`); `tokens` "
        "alone: the data's vocabulary")
    steps: Size | None = Field(None, description="tokens per row; default: `train: bptt`")
    named: tuple[tuple[str, tuple[Size, ...]], ...] | None = Field(
        None, description="several inputs by name, `a: 784, b: 1x28x28`; each row of the "
        "data holds them side by side, in this order; token inputs `src: tokens` (shape () "
        "until the data gives their lengths)")
    description: ClassVar[str] = "input width or shape, so the first layer may leave n_in out"

    @model_validator(mode="before")
    @classmethod
    def _width_of_shapes(cls, data: Any) -> Any:
        # Why: `input: 1x28x28` arrives as a shape alone, and named inputs lie side by side
        # in a data row, so the width is the values per row: the product, or their sum.
        if not isinstance(data, dict) or "width" in data:
            return data
        if isinstance(data.get("named"), tuple):
            return {**data, "width": sum(_values(shape) for _, shape in data["named"])}
        if "tokens" in data:  # Why 1: validate sets the steps (`steps=`, else train's bptt)
            return {**data, "width": data.get("steps", 1)}
        if isinstance(data.get("shape"), tuple):
            return {**data, "width": _values(data["shape"])}
        return data

    @property
    def parts(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """The named inputs, (name, shape) in the data's column order; () for one input."""
        return self.named or ()

    @property
    def dims(self) -> tuple[int, ...]:
        """One row's shape: `(784,)`, or `(1, 28, 28)` for an image."""
        return self.shape or (self.width,)


# The data `netc run` can load (`netc.runtime.data` holds the same lists; a test keeps them
# equal). `validate` refuses any other `data:` value, so `data: minst` fails at `check`.
DATA_NAMES = ("spiral", "mnist", "corpus", "markov", "addition", "dates", "pairs")
PAIR_DATA = ("addition", "dates", "pairs")  # question/answer pairs for seq2seq
DATA_SUFFIXES = (".npz", ".csv")


class DataSpec(SettingSpec):
    source: str = Field("spiral", description="spiral, mnist, corpus(\"file.txt\"), "
                        "markov(words=300), addition, dates, pairs(\"file.txt\"), or a "
                        ".npz/.csv file")
    path: str | None = Field(None, description="corpus: the training text, one sentence a "
                             "line (PTB's ptb.train.txt beside ptb.valid.txt, ptb.test.txt)")
    # Why 32: the source's words come in groups of 4 and each group has 8 successor groups.
    words: Annotated[int, Field(ge=32, le=1_000_000)] = Field(
        300, description="markov: vocabulary size of the generated source (at least 32)")
    tokens: Size = Field(1_000_000, description="markov: training tokens (valid and test "
                         "a tenth each)")
    reverse: bool = Field(False, description="addition, dates, pairs: questions read "
                          "backwards (DLFS-2 ch. 7's reversed input)")
    description: ClassVar[str] = "the training data"


def _fields(*rs: rules.Rule) -> dict[str, Any]:
    """Pydantic fields from the shared rules (`netc/rules.py`): type, bounds, default, words."""
    return {r.name: (Annotated[int if r.integer else float, Field(**r.bounds())],
                     Field(r.default, description=r.description)) if not r.switch else
            (Annotated[int, BeforeValidator(_switch), Field(**r.bounds())],
             Field(r.default, description=r.description)) for r in rs}


def _switch(value: Any) -> Any:
    """`eval_train=true` as 1: a 0/1 switch reads true/false (`rules.Rule.switch`)."""
    return int(value) if isinstance(value, bool) else value


def _model(model_name: str, base: type[SettingSpec], description: str, **fields: Any) -> Any:
    model = create_model(model_name, __base__=base, __module__=__name__, **fields)
    model.description = description
    return model


# Why built from the rules: `fit(...)` and the `netc run` flags check the same bounds.
TrainSpec = _model("TrainSpec", SettingSpec, "the training loop", **_fields(*rules.TRAIN.values()),
                   dtype=(Literal["float32", "float64"],
                          Field("float32", description="floating point type")),
                   backend=(Literal["numpy", "numba"],
                            Field("numpy", description="numba: a compiled training loop "
                                  "(pip install 'netc[jit]')")))


class GenerateSpec(SettingSpec):
    method: Literal["greedy"] = Field("greedy", description="greedy: each step's most "
                                      "likely token, fed back as the next step's input")
    input: str = Field(description="the token input the decoder reads (its first token is "
                       "the start symbol)")
    steps: Size | None = Field(None, description="tokens generated; default: the target's "
                               "length")
    description: ClassVar[str] = "how a seq2seq model answers: generate: greedy(tgt, steps=4)"


class InitSpec(SettingSpec):
    scheme: InitName = Field("auto", description="auto: he before relu, xavier otherwise")
    std: Positive | None = Field(None, description="std for normal (default 0.01)")
    description: ClassVar[str] = "default weight initialisation"


class _OptimizerBase(SettingSpec):
    name: str = "sgd"

    def hyper(self) -> dict[str, Any]:
        """Hyper-parameters in the runtime kernel's order (`wd` last)."""
        d = self.model_dump(exclude={"name"})
        d["wd"] = d.pop("wd")
        return d


def _optimizer(cls_name: str, name: str, description: str) -> Any:
    """One optimizer's schema; its hyper-parameters come from `rules.OPTIMIZERS`."""
    # Fields of the base (lr, wd) keep their place, so `netc layers` lists them first.
    return _model(cls_name, OptimizerSpec, description, name=(Literal[name], name),
                  **_fields(*rules.OPTIMIZERS[name]))


# The `optimizer:` setting before its name is known: sgd's fields, as `netc layers` shows.
OptimizerSpec = _model("OptimizerSpec", _OptimizerBase,
                       "the optimizer and its hyper-parameters (see optimizers)",
                       **_fields(*rules.OPTIMIZERS["sgd"]))
SGDSpec = _optimizer("SGDSpec", "sgd", "stochastic gradient descent: p -= lr * g")
MomentumSpec = _optimizer("MomentumSpec", "momentum", "SGD with momentum (DLFS-1 6.1.4)")
NesterovSpec = _optimizer("NesterovSpec", "nesterov", "Nesterov accelerated gradient")
AdaGradSpec = _optimizer("AdaGradSpec", "adagrad",
                         "AdaGrad: per-parameter rates from summed squared gradients")
RMSpropSpec = _optimizer("RMSpropSpec", "rmsprop", "RMSprop: AdaGrad with a decaying average")
AdamSpec = _optimizer("AdamSpec", "adam", "Adam (DLFS-1 6.1.6)")


class RunSpec(BaseModel):
    """Everything `netc run` needs besides the layers; every part has a default."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    input: InputSpec | None = None
    data: DataSpec = DataSpec()
    optimizer: OptimizerSpec = SGDSpec()
    train: TrainSpec = TrainSpec()
    init: InitSpec = InitSpec()
    generate: GenerateSpec | None = None


class NetSpec(BaseModel):
    """The validated network: layers in topological order, what each reads, the run settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    layers: tuple[OpSpec, ...]
    run: RunSpec = RunSpec()
    # The layers each layer reads, by index (-1: the network's input); left out, a chain.
    inputs: tuple[tuple[int, ...], ...] = ()
    # Each layer's weight label (`affine(8)@E`: "E"), or None; left out, none has one.
    labels: tuple[str | None, ...] = ()

    def edges(self) -> tuple[tuple[int, ...], ...]:
        """What each layer reads: `inputs`, or a chain's when left out."""
        return self.inputs or tuple((i - 1,) for i in range(len(self.layers)))

    def weight_labels(self) -> tuple[str | None, ...]:
        """Each layer's weight label: `labels`, or none when left out."""
        return self.labels or (None,) * len(self.layers)
