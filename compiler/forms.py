"""The graph forms of the language, as `netc layers` lists them: (form, what it means).

Kept apart from the walk that expands them (`unroll.py`) because only the command's table
and its test read it.
"""

from __future__ import annotations

# The graph forms, as `netc layers` lists them (form, what it means).
FORMS = (
    ("residual(f)", "x + f(x): the branch f added to its input"),
    ("residual(f, skip=g)", "g(x) + f(x)"),
    ("add(f, g, ...)", "each branch applied to the input, then summed (same shapes)"),
    ("concat(f, g, ...)", "each branch applied to the input, joined on the feature axis"),
    ("a -> b => h", "names the value after b; a later pipeline may start from it: h -> c"),
    ("h.last -> c", "the last time step of the sequence h (a recurrent layer's final state)"),
    ("lstm(128, init=enc.last)", "a recurrent layer starting from another pipeline's state"),
    ("tgt[:-1] -> c", "some steps of a sequence (teacher forcing: all but the last)"),
    ("softmax_ce(tgt[1:])", "the loss's targets: steps of a token input (all but the first)"),
    ("attention(hd, hs)", "each step of hd attends over hs's steps (DLFS-2 ch. 8)"),
    ("affine(50)@A", "labels a layer's weights; a later affine(50)@A shares them"),
    ("expect(30, 12, 12)", "asserts the value's shape here (per row); no layer, checked"),
    ("affine(tied=A)", "uses A's weight transposed (weight tying), with its own bias"),
    ("blk(n, p=1) = ...", "a block with parameters, used as blk(16) or blk(16, p=2)"),
    ("input: 1x28x28", "an image (channels first); input: 5x8 a sequence of 5 steps"),
    ("input: a: 784, b: 10", "several inputs, by name; pipelines start from them: a -> ..."),
    ("input: tokens", "token ids, bptt (or steps=) a row; the vocabulary from data: corpus(...)"),
    ("input: src: tokens, tgt: tokens", "two token inputs (seq2seq), lengths from the data"),
)
