"""Notebooks: the HTML view of a network, plot_history, LivePlot, and examples/ run in a kernel.

The examples are executed with a real Jupyter kernel (nbclient + ipykernel, the `notebook`
extra) and fail on any error; one is rendered to HTML (nbconvert) and opened in headless
Chromium, whose DOM must hold the layer table, the diagram and the curves, and whose
screenshot must not be blank. Outside CI a missing kernel, MNIST or Chromium skips with the
reason; under CI it fails (conftest's `missing`).
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import netc
from netc.runtime import plot as plotting

sys.path.insert(0, str(Path(__file__).parent))
from conftest import missing  # noqa: E402 (a plain import: --import-mode=importlib)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(p.name for p in EXAMPLES.glob("*.ipynb"))
SPIRAL = ROOT / "specs" / "spiral.net"


def test_examples_hold_the_six_chapters():
    assert NOTEBOOKS == ["01_spiral.ipynb", "02_mnist_two_layer.ipynb", "03_optimizers.ipynb",
                         "04_batchnorm_dropout.ipynb", "05_weight_decay.ipynb",
                         "06_seq2seq_attention.ipynb"]


# --- the HTML view -------------------------------------------------------------------------

def test_network_html_has_the_check_table_and_an_svg_diagram():
    net = netc.load(SPIRAL)
    page = net._repr_html_()
    assert '<table class="netc-summary"' in page and "<svg" in page and "</svg>" in page
    for row in net.plan.summary_rows()[1:]:
        assert f">{row[1]}<" in page  # every layer of the table, as netc check words it
    assert page.count("<rect") == len(net.plan.layers) + 1  # the input and each layer
    assert "33 params" in page and " 0 params" not in page  # no count on relu/softmax_ce
    assert "63 params, float32" in page
    assert netc.plan_file(SPIRAL)._repr_html_().count("<svg") == 1


def test_html_diagram_groups_a_repeat_as_netc_graph_does():
    page = netc.plan_file(ROOT / "specs" / "mnist_deep.net")._repr_html_()
    svg = page[page.index("<svg"):]
    assert "× 4 · layers 0-15" in svg and 'stroke-dasharray' in svg
    # input, one copy of the 4-layer block, affine, softmax_ce, and the repeat's frame
    assert svg.count("<rect") == 1 + 4 + 2 + 1
    assert "4 affine" not in svg and "8 affine" not in svg  # later copies: not drawn
    assert page.count(">affine(100, 100)<") == 3  # but the table lists every layer


def test_html_escapes_the_spec_path():
    plan = netc.plan("input: 2\naffine(3) -> softmax_ce\n", path='<script>alert("x")</script>\x1b')
    page = plan._repr_html_()
    assert "<script>" not in page and "\x1b" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)" in page


def test_summary_prints_the_table_and_returns_none(capsys):
    net = netc.load(SPIRAL)
    assert net.summary() is None
    out = capsys.readouterr().out
    assert out == net.summary_text() + "\n" == net.plan.summary() + "\n"
    assert "affine(2, 10)" in out and "parameters: 63" in out


# --- plot_history and LivePlot -------------------------------------------------------------

def _history(accs):
    return [{"epoch": e, "train_loss": 1 / e, "train_acc": a, "test_loss": 1.1 / e,
             "test_acc": a - 0.01, "seconds": 0.1} for e, a in enumerate(accs, 1)]


def test_accuracy_axis_fits_the_data_and_epoch_ticks_are_integers():
    fig = netc.plot_history(_history([0.95, 0.96, 0.975, 0.978])).figure
    loss_ax, acc_ax = fig.axes
    low, high = acc_ax.get_ylim()
    assert 0.9 < low < 0.94 and 0.978 < high < 1.0  # not the flat 0-1 axis of before
    for ax in (loss_ax, acc_ax):
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 4]
        assert ticks and all(float(t).is_integer() for t in ticks)
    assert [line.get_label() for line in acc_ax.get_lines()] == ["train", "test"]


def test_plot_history_takes_keras_style_columns_and_val_keys():
    fig = netc.plot_history({"loss": [1.0, 0.5], "accuracy": [0.5, 0.7],
                             "val_loss": [1.1, 0.6], "val_acc": [0.4, 0.6]}).figure
    assert [line.get_label() for line in fig.axes[1].get_lines()] == ["train", "val"]
    assert plotting.accuracy_limits([1.0, 1.0])[1] > 1.0  # room for the marker at 1.0


def test_plot_history_returns_a_png_for_notebooks_and_writes_files(tmp_path):
    curves = netc.plot_history(_history([0.5, 0.6]))
    assert curves._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert netc.plot_history(_history([0.5, 0.6]), tmp_path / "c.svg") is None
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(netc.DataError, match="no epochs to plot"):
        netc.plot_history([])


def test_plot_history_leaves_pyplot_backend_alone():
    code = ("import matplotlib; matplotlib.use('svg'); import netc; "
            "netc.plot_history([{'epoch': 1, 'train_loss': 1.0}]); "
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr


class _Handle:
    def __init__(self, shown):
        self.shown = shown

    def update(self, obj):
        self.shown.append(("update", obj))


def test_liveplot_updates_one_display_handle(monkeypatch):
    shown = []

    def display(obj, display_id=False):
        shown.append(("display", obj))
        return _Handle(shown)

    monkeypatch.setattr(plotting, "_notebook_display", lambda: display)
    net = netc.load(SPIRAL)
    (x, t), _ = netc.datasets.load_spiral()
    history = net.fit(x, t, epochs=3, callbacks=[plotting.LivePlot()])
    assert [kind for kind, _ in shown] == ["display", "update", "update"]
    assert len(history) == 3 and shown[-1][1].data[:4] == b"\x89PNG"


def test_fit_plot_true_outside_a_notebook_trains_and_draws_nothing(capsys):
    net = netc.load(SPIRAL)
    (x, t), _ = netc.datasets.load_spiral()
    assert plotting._notebook_display() is None
    history = net.fit(x, t, epochs=2, plot=True)
    assert len(history) == 2 and "IPython" not in capsys.readouterr().out


# --- examples/ in a real kernel ------------------------------------------------------------

def _need(*modules):
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    if absent:
        missing(f"{', '.join(absent)} not installed (pip install -e '.[notebook]')")


def test_notebooks_are_built_by_the_script_and_have_no_outputs():
    _need("nbformat")
    import nbformat

    sys.path.insert(0, str(EXAMPLES))
    try:
        import build_notebooks
    finally:
        sys.path.remove(str(EXAMPLES))
    assert sorted(build_notebooks.NOTEBOOKS) == NOTEBOOKS
    for name in NOTEBOOKS:
        nb = nbformat.read(EXAMPLES / name, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), name
        cells = [c.source for c in nb.cells]
        assert cells == [src for _, src in build_notebooks.NOTEBOOKS[name]], \
            f"{name} is stale: run python examples/build_notebooks.py"


def _execute(name: str, mnist: Path | None):
    _need("nbformat", "nbclient", "ipykernel")
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(EXAMPLES / name, as_version=4)
    env = {"NETC_DATA_DIR": str(mnist)} if mnist else {}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment (where MNIST is)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return nb


@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if "spiral" not in n and "seq2seq" not in n])
def test_mnist_notebook_runs_in_a_kernel(name, mnist_dir):
    nb = _execute(name, mnist_dir)
    errors = [o for c in nb.cells for o in c.get("outputs", ()) if o.output_type == "error"]
    assert not errors
    if name == "02_mnist_two_layer.ipynb":  # fit(plot=True): one image, updated per epoch
        fit = next(c for c in nb.cells if c.cell_type == "code" and "plot=True" in c.source)
        assert [o.output_type for o in fit.outputs if "image/png" in o.get("data", {})] == [
            "display_data"]


def test_seq2seq_notebook_trains_generates_and_draws_attention_in_a_kernel():
    nb = _execute("06_seq2seq_attention.ipynb", None)
    outputs = {c.source.splitlines()[0]: c.get("outputs", ()) for c in nb.cells
               if c.cell_type == "code"}
    assert not [o for out in outputs.values() for o in out if o.output_type == "error"]
    answers = outputs['net.generate(["september 27, 1994", "2/10/93", "TUESDAY, SEPTEMBER '
                      '25, 1984"])'][0]["data"]["text/plain"]
    assert answers.count("'") == 6  # three answers, as text
    picture = outputs['net.plot_attention("september 27, 1994")']
    assert any("image/png" in o.get("data", {}) for o in picture)  # shown inline


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    missing("headless Chromium not found (apt-get install chromium)")
    raise AssertionError  # unreachable: missing() skips or fails


def test_spiral_notebook_runs_and_renders_in_chromium(tmp_path):
    nb = _execute("01_spiral.ipynb", None)
    outputs = [o for c in nb.cells for o in c.get("outputs", ())]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("text/html" in o.get("data", {}) for o in outputs)  # the network's view
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the curves
    _need("nbconvert")
    from nbconvert import HTMLExporter

    page = tmp_path / "spiral.html"
    page.write_text(HTMLExporter().from_notebook_node(nb)[0], encoding="utf-8")
    browser = _chromium()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=1200,2400"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert 'class="netc-summary"' in dom and "affine(2, 10)" in dom  # the layer table
    assert 'class="netc-diagram"' in dom  # the SVG diagram
    assert re.search(r'<img [^>]*src="data:image/png;base64,', dom)  # the learning curves
    shot = tmp_path / "spiral.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file(), "chromium wrote no screenshot"
    _not_blank(shot)
    if keep := os.environ.get("NETC_KEEP_SCREENSHOT"):  # to look at it: a path to copy to
        shutil.copy(shot, keep)


def _not_blank(png: Path) -> None:
    import matplotlib.image
    import numpy as np

    pixels = matplotlib.image.imread(png)
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"{png} looks blank ({len(colours)} colours)"
    assert math.prod(pixels.shape[:2]) == 1200 * 2400
