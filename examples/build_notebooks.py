"""Writes the example notebooks of examples/ (DLFS-1 ch. 4-6, DLFS-2 ch. 8 with netc) from the
cells below.

The .ipynb files are generated, committed without outputs, and executed by
tests/test_notebooks.py with a real Jupyter kernel. Edit the cells here, then run
`python examples/build_notebooks.py` (needs nbformat, in the `notebook` extra). Each notebook
trains on a subset for a few epochs, so it runs in seconds: the point is the workflow.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

MNIST_LOAD = """import netc

(x_train, t_train), (x_test, t_test) = netc.datasets.load_mnist()
# A subset keeps this notebook quick; use the full 60,000 for the book's figures.
x_train, t_train = x_train[:3000], t_train[:3000]
x_test, t_test = x_test[:1000], t_test[:1000]
x_train.shape, x_test.shape"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_spiral.ipynb": [
        ("md", "# The spiral: a first network\n\nDLFS-2 ch. 1's three-class spiral, written "
               "as a netc spec. The spec is the whole network: layers, initialisation, "
               "optimizer and training settings."),
        ("code", '''import netc

spec = """
data: spiral
input: 2
init: normal(std=0.01)
optimizer: sgd(lr=1.0)
train: epochs=300, batch_size=30, seed=0

affine(10) -> sigmoid -> affine(3) -> softmax_ce
"""
net = netc.compile(spec)
net'''),
        ("md", "Displaying the network shows the layer table of `netc check` and a diagram. "
               "`net.summary()` prints the same table as text."),
        ("code", "net.summary()"),
        ("code", '''(x, t), _ = netc.datasets.load_spiral()
history = net.fit(x, t)  # epochs, optimizer and lr come from the spec
history[-1]'''),
        ("code", "netc.plot_history(history, title='spiral')"),
        ("code", "net.accuracy(x, t)"),
    ],
    "02_mnist_two_layer.ipynb": [
        ("md", "# MNIST with a two-layer net (DLFS-1 ch. 4-5)\n\n784 pixels -> 50 ReLU "
               "units -> 10 classes, trained by backprop with SGD. `fit(plot=True)` redraws "
               "the curves after every epoch."),
        ("code", MNIST_LOAD),
        ("code", '''net = netc.compile("""
data: mnist
input: 784
init: normal(std=0.01)
optimizer: sgd(lr=0.1)
train: epochs=5, batch_size=100, seed=0

affine(50) -> relu -> affine(10) -> softmax_ce
""")
net'''),
        ("code", '''history = net.fit(x_train, t_train, validation_data=(x_test, t_test), plot=True)
history[-1]'''),
        ("code", "netc.plot_history(history, title='two-layer net on MNIST')"),
        ("code", '''probs = net.predict(x_test[:5])
probs.argmax(axis=1), t_test[:5]'''),
    ],
    "03_optimizers.ipynb": [
        ("md", "# Comparing optimizers (DLFS-1 ch. 6.1)\n\nThe same network trained with SGD, "
               "Momentum, AdaGrad and Adam: only the `optimizer:` line changes."),
        ("code", MNIST_LOAD),
        ("code", '''import matplotlib.pyplot as plt

SPEC = """
data: mnist
input: 784
init: he
optimizer: {opt}
train: epochs=4, batch_size=100, seed=0

affine(100) -> relu -> affine(100) -> relu -> affine(10) -> softmax_ce
"""
settings = {"sgd": "sgd(lr=0.01)", "momentum": "momentum(lr=0.01)",
            "adagrad": "adagrad(lr=0.01)", "adam": "adam(lr=0.001)"}
losses = {}
for name, opt in settings.items():
    net = netc.compile(SPEC.format(opt=opt))
    history = net.fit(x_train, t_train)
    losses[name] = [r["train_loss"] for r in history]

fig, ax = plt.subplots(figsize=(6, 4))
for name, values in losses.items():
    ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("train loss")
ax.legend()
plt.show()'''),
    ],
    "04_batchnorm_dropout.ipynb": [
        ("md", "# Batch normalisation and dropout (DLFS-1 ch. 6.3-6.4)\n\nA deeper net, "
               "with and without `batchnorm`; a repeated block is written once."),
        ("code", MNIST_LOAD),
        ("code", '''SPEC = """
data: mnist
input: 784
init: normal(std=0.05)
optimizer: sgd(lr=0.01)
train: epochs=4, batch_size=100, seed=0

hidden = affine(100) -> {norm}relu -> dropout(0.1)
hidden * 4 -> affine(10) -> softmax_ce
"""
with_bn = netc.compile(SPEC.format(norm="batchnorm -> "))
without_bn = netc.compile(SPEC.format(norm=""))
with_bn'''),
        ("code", '''curves = {}
for name, net in (("batchnorm", with_bn), ("plain", without_bn)):
    history = net.fit(x_train, t_train, validation_data=(x_test, t_test))
    curves[name] = history
    print(name, history[-1])'''),
        ("code", "netc.plot_history(curves['batchnorm'], title='with batchnorm')"),
    ],
    "05_weight_decay.ipynb": [
        ("md", "# Overfitting and weight decay (DLFS-1 ch. 6.4)\n\n300 training images and a "
               "large net overfit: train accuracy races ahead of test accuracy. Weight decay "
               "(`wd=` in the optimizer) narrows the gap."),
        ("code", '''import netc

(x_train, t_train), (x_test, t_test) = netc.datasets.load_mnist()
x_train, t_train = x_train[:300], t_train[:300]  # the book's overfitting subset
x_test, t_test = x_test[:1000], t_test[:1000]'''),
        ("code", '''SPEC = """
data: mnist
input: 784
init: he
optimizer: sgd(lr=0.01, wd={wd})
train: epochs=25, batch_size=100, seed=0

affine(100) -> relu -> affine(100) -> relu -> affine(100) -> relu -> affine(10) -> softmax_ce
"""
histories = {}
for wd in (0.0, 0.1):
    net = netc.compile(SPEC.format(wd=wd))
    histories[wd] = net.fit(x_train, t_train, validation_data=(x_test, t_test))
    print(f"wd={wd}: train accuracy {net.accuracy(x_train, t_train):.3f}, "
          f"test accuracy {net.accuracy(x_test, t_test):.3f}")'''),
        ("code", "netc.plot_history(histories[0.0], title='no weight decay')"),
        ("code", "netc.plot_history(histories[0.1], title='weight decay 0.1')"),
    ],
    "06_seq2seq_attention.ipynb": [
        ("md", "# Seq2seq with attention (DLFS-2 ch. 7-8)\n\nDates written by people -> "
               "`YYYY-MM-DD`. Two token inputs, the question and the answer; the decoder "
               "reads the answer one step behind what the loss scores (teacher forcing), "
               "and its attention looks over the encoder's states. The dates are generated "
               "by netc (`data: dates`): the same problems `netc run` trains on."),
        ("code", '''import numpy as np

import netc

dates = netc.datasets.load_dates(reverse=True)  # questions read backwards, as the book
rows = np.concatenate([dates.questions, dates.answers], axis=1)
# A subset keeps this notebook quick (about 20 s, 99 % exact answers after 6 epochs);
# the full 45,000 (specs/dates_attention.net) reach 99.8 % in 3 epochs.
train, test = rows[:12000], rows[-1000:]
dates.question_text(0), dates.decode(dates.answers[0])'''),
        ("code", '''net = netc.compile("""
data: dates(reverse=true)
input: src: tokens, tgt: tokens
optimizer: adam(lr=0.005)
train: epochs=6, batch_size=128, clip=5
src -> embed(16) -> lstm(128) => hs
tgt[:-1] -> embed(16) -> lstm(128, init=hs.last) => hd
concat(attention(hd, hs), hd) -> affine -> softmax_ce(tgt[1:])
generate: greedy(tgt, steps=10)
""")
net'''),
        ("md", "No targets are given to `fit`: `softmax_ce(tgt[1:])` takes them from the "
               "answer columns. The test figure is exact-match accuracy of answers generated "
               "one token at a time from the start symbol."),
        ("code", '''history = net.fit(train, validation_data=(test, None))
history[-1]'''),
        ("code", 'net.generate(["september 27, 1994", "2/10/93", "TUESDAY, SEPTEMBER 25, 1984"])'),
        ("md", "What the attention looked at while writing each character of the answer:"),
        ("code", 'net.plot_attention("september 27, 1994")'),
    ],
}


def build() -> list[Path]:
    """Write every notebook (without outputs); returns their paths."""
    import nbformat

    written = []
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md"
                    else nbformat.v4.new_code_cell(src) for kind, src in cells]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{Path(name).stem}-{i}"  # stable ids: a rebuild changes nothing
        path = HERE / name
        path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in build():
        print(p.name)
