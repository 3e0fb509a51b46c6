"""`netc graph`: the terminal diagram, Mermaid, DOT, and rendering through Graphviz's `dot`
(the real one when installed, a fake one on PATH, and the message when there is none)."""

from __future__ import annotations

import shutil
import stat
import sys
from pathlib import Path

import pytest

import netc
from netc import graph

ROOT = Path(__file__).resolve().parents[2]
SPIRAL = ROOT / "specs" / "spiral.net"
DEEP = ROOT / "specs" / "mnist_deep.net"


def test_graph_text_shows_every_layer_shape_and_params() -> None:
    text = graph.to_text(netc.plan_file(SPIRAL))
    assert text.index("input") < text.index("0 affine(2, 10)") < text.index("3 softmax_ce")
    assert "(batch, 10) · 30 params" in text and "(batch, 3) · 33 params" in text
    assert text.count("▼") == 4 and text.rstrip().endswith("63 parameters")
    assert "│ (batch, 10)  " in text  # the sigmoid: its shape, and no "0 params"


@pytest.mark.parametrize("render", [graph.to_text, graph.to_mermaid, graph.to_dot])
def test_graph_layers_without_parameters_show_no_count(render) -> None:
    text = render(netc.plan_file(DEEP))
    assert " 0 params" not in text
    assert "2 relu" in text and "(batch, 100) · 200 params" in text  # batchnorm keeps its


def test_graph_text_draws_a_repeat_once_with_its_count() -> None:
    # `hidden * 4`: the block is drawn once, bracketed "× 4" with the layers it spans; the
    # first copy reads 784 inputs, the others 100, and the box says both counts.
    text = graph.to_text(netc.plan_file(DEEP))
    assert "┏━ × 4 · layers 0-15 ━━" in text and text.count("┗━━") == 1
    assert "0 affine(784, 100)" in text and "78,500 params (10,100 in the other copies)" in text
    assert "4 affine" not in text and "16 affine(100, 10)" in text
    assert text.count("┌") == 1 + 4 + 2 and text.rstrip().endswith("110,610 parameters")


def test_graph_mermaid_and_dot_group_a_repeat() -> None:
    plan = netc.plan_file(DEEP)
    mermaid = graph.to_mermaid(plan).splitlines()
    assert '    subgraph R1["× 4 · layers 0-15"]' in mermaid
    assert mermaid[mermaid.index("    end") - 1].startswith('        L3["3 dropout(p=0.2)')
    assert "    L3 --> L16" in mermaid
    dot = graph.to_dot(plan)
    assert "    subgraph cluster_1 {\n        style=dashed;\n" \
           '        label="× 4 · layers 0-15";\n        L0 [label="0 affine(784, 100)' in dot
    assert "L3 -> L16;" in dot and "L4" not in dot


def test_graph_groups_only_what_the_spec_wrote_once(tmp_path: Path) -> None:
    # Two relus typed one after the other are two layers of the spec: both are drawn. A
    # block used in a repeat is grouped, nested repeats as the outermost one.
    spec = tmp_path / "n.net"
    spec.write_text("input: 4\nb = affine(8) -> relu\n"
                    "(b * 2 -> tanh) * 3 -> affine(8) -> relu -> relu -> affine(2) -> mse\n")
    text = graph.to_mermaid(netc.plan_file(spec))
    assert 'subgraph R1["× 3 · layers 0-14"]' in text and text.count("subgraph") == 1
    assert 'L16["16 relu' in text and 'L17["17 relu' in text
    assert "L4 --> L15" in text


def test_graph_mermaid_is_a_flowchart_with_one_node_per_layer() -> None:
    plan = netc.plan_file(DEEP)
    text = graph.to_mermaid(plan)
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    drawn = len(plan.layers) - 12  # `hidden * 4`: three of the four copies are not drawn
    assert sum('"]' in line and "subgraph" not in line for line in lines) == drawn + 1
    assert sum("-->" in line for line in lines) == drawn
    assert ('        L0["0 affine(784, 100)<br/>(batch, 100) · 78,500 params (10,100 in the '
            'other copies)"]') in text


def test_graph_dot_is_a_digraph_with_labelled_boxes() -> None:
    text = graph.to_dot(netc.plan_file(SPIRAL))
    assert text.startswith('digraph "') and text.rstrip().endswith("}")
    assert 'L2 [label="2 affine(10, 3)\\n(batch, 3) · 33 params"];' in text
    assert 'L1 [label="1 sigmoid\\n(batch, 10)"];' in text
    assert "L2 -> L3;" in text


def test_graph_cli_prints_text_without_output(netc_run) -> None:
    done = netc_run("graph", SPIRAL)
    assert done.returncode == 0, done.stderr
    assert done.stdout == graph.to_text(netc.plan_file(SPIRAL))


@pytest.mark.parametrize("name, render", [("net.mmd", graph.to_mermaid),
                                          ("net.dot", graph.to_dot)])
def test_graph_cli_writes_by_suffix(netc_run, tmp_path: Path, name: str, render) -> None:
    done = netc_run("graph", SPIRAL, "-o", name)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / name).read_text(encoding="utf-8") == render(netc.plan_file(SPIRAL))


def test_graph_cli_svg_without_dot_explains(netc_run, tmp_path: Path) -> None:
    done = netc_run("graph", SPIRAL, "-o", "net.svg", path=str(tmp_path / "empty"))
    assert done.returncode == 1
    assert "rendering .svg needs Graphviz's `dot` program (apt-get install graphviz)" \
        in done.stderr and "-o net.mmd" in done.stderr
    assert not (tmp_path / "net.svg").exists()


def test_graph_cli_svg_renders_with_dot_on_path(netc_run, tmp_path: Path) -> None:
    # A stand-in for Graphviz: prints its arguments and the DOT text on stdout, where netc
    # reads the image from (it then writes the file as it writes every file).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text(f"#!{sys.executable}\nimport sys\nargs = sys.argv[1:]\n"
                    "sys.stdout.write(' '.join(args) + '\\n' + sys.stdin.read())\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    done = netc_run("graph", SPIRAL, "-o", "net.svg", path=str(bin_dir))
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "net.svg").read_text()
    assert written.startswith("-Tsvg\ndigraph")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_cli_svg_with_real_graphviz(netc_run, tmp_path: Path) -> None:
    done = netc_run("graph", SPIRAL, "-o", "net.svg")
    assert done.returncode == 0, done.stderr
    svg = (tmp_path / "net.svg").read_text()
    assert "<svg" in svg and "softmax_ce" in svg


def test_graph_cli_unknown_suffix_exits_1(netc_run) -> None:
    done = netc_run("graph", SPIRAL, "-o", "net.jpeg")
    assert done.returncode == 1 and "net.jpeg" in done.stderr and ".mmd" in done.stderr
