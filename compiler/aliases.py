"""The one table of names people bring from elsewhere, and the lookup behind every "did you
mean" (spec layers, settings, arguments, optimizers, CLI commands and flags, `fit` keywords).

Pure Python (no pydantic, no numpy) so that `netc/rules.py`, which the runtime imports, and
the CLI's usage errors can use it as the validator does through `compiler/registry.py`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# Names people bring from DLFS (the book's layer classes) and Keras/PyTorch, keyed in lower
# case without '_'. Why a table: `SoftmaxWithLoss` or `Dense` are nowhere near 'softmax_ce'
# or 'affine' by spelling, and the first hour is spent on exactly these.
ALIASES: dict[str, str] = {
    "softmaxwithloss": "softmax_ce", "crossentropy": "softmax_ce",
    "categoricalcrossentropy": "softmax_ce", "crossentropyloss": "softmax_ce",
    "sigmoidwithloss": "sigmoid_ce", "binarycrossentropy": "sigmoid_ce",
    "bceloss": "sigmoid_ce", "meansquarederror": "mse", "mseloss": "mse",
    "dense": "affine", "linear": "affine", "fullyconnected": "affine", "fc": "affine",
    "batchnormalization": "batchnorm", "batchnorm1d": "batchnorm", "bn": "batchnorm",
    "leakyrelu": "leaky_relu", "weightdecay": "wd", "learningrate": "lr",
    "batchsize": "batch_size",
    # DLFS-1 ch. 7 and Keras/PyTorch names for the image ops
    "conv2d": "conv", "convolution": "conv", "convolution2d": "conv", "pooling": "pool",
    "maxpool": "pool", "maxpooling2d": "pool", "maxpool2d": "pool", "avgpool": "pool",
    "globalaveragepooling2d": "global_avg_pool", "adaptiveavgpool2d": "global_avg_pool",
    # DLFS-2's Time* layers act per time step here: the plain names do
    "embedding": "embed", "timeembedding": "embed", "timeaffine": "affine",
    "timelstm": "lstm", "timegru": "gru", "timernn": "rnn", "simplernn": "rnn",
    "timesoftmaxwithloss": "softmax_ce", "timedropout": "dropout",
}

# Layers asked for by name that netc does not have yet: said plainly instead of a guess.
NOT_YET: dict[str, str] = {
    name: "attention is not available yet (the seq2seq issue adds it)"
    for name in ("attention", "timeattention", "multiheadattention")
}


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The one of `choices` that `name` most likely meant: the same but for case or '_'
    (`ReLU`, `Adam`, `batch-size`), then the alias table, then the nearest spelling."""
    choices = list(choices)
    key = name.lower().replace("_", "").replace("-", "")
    for c in choices:
        if c.lower().replace("_", "").replace("-", "") == key:
            return c
    if ALIASES.get(key) in choices:
        return ALIASES[key]
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return close[0] if close else None
