"""`netc graph` and the notebook diagram on graphs with branches: shapes from the plan, titles
from the op catalogue, one edge per input, lanes for edges that skip boxes, repeats drawn once
only where they are a plain chain. Hand-made plans pin the drawing; specs check the real thing."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import netc
from netc import graph, html
from netc.compiler.plan import INPUT, LayerPlan, NetPlan, ParamPlan

RESIDUAL = ("input: 4\naffine(8) -> relu -> residual(affine(8) -> relu) -> affine(2) "
            "-> softmax_ce\n")


def _node(i: int, op: str, width: int = 8, inputs: tuple[int, ...] = (),
          shape: tuple[int, ...] = (), n_in: int = 8) -> LayerPlan:
    params = ()
    if op == "affine":
        params = (ParamPlan(f"{i}.affine.W", "W", (n_in, width), "he"),
                  ParamPlan(f"{i}.affine.b", "b", (width,), "zeros"))
    return LayerPlan(i, op, "layer", n_in, width, params=params, inputs=inputs, shape=shape)


def _residual() -> NetPlan:
    """input -> 0 affine -> 1 relu -> 2 affine -> 3 relu -> 4 add(3, 1) -> 5 mse."""
    return NetPlan((_node(0, "affine", n_in=4), _node(1, "relu"), _node(2, "affine"),
                    _node(3, "relu"), _node(4, "add", inputs=(3, 1)), _node(5, "mse")), 4)


def _nested() -> NetPlan:
    """Two skips, one inside the other: 1 -> 3 inside 0 -> 4."""
    return NetPlan((_node(0, "relu"), _node(1, "relu"), _node(2, "relu"),
                    _node(3, "add", inputs=(2, 1)), _node(4, "add", inputs=(3, 0)),
                    _node(5, "mse")), 8)


def _branches() -> NetPlan:
    """concat(relu, tanh) of the input: the tanh does not read the box above it."""
    return NetPlan((_node(0, "relu", 4, n_in=4), _node(1, "tanh", 4, inputs=(INPUT,), n_in=4),
                    _node(2, "concat", 8, inputs=(0, 1)), _node(3, "mse")), 4)


def _lines_of(text: str, marker: str) -> list[str]:
    return [line for line in text.splitlines() if marker in line]


def test_chain_text_takes_shapes_and_catalogue_labels() -> None:
    plan = NetPlan((_node(0, "flatten", 784, shape=(784,), n_in=784),
                    _node(1, "affine", 10, n_in=784), _node(2, "softmax_ce", 10, n_in=10)),
                   784, input_shape=(1, 28, 28))
    assert plan.is_chain
    text = graph.to_text(plan)
    assert "│ (batch, 1, 28, 28) " in text and "│ 0 flatten " in text
    assert "│ 1 affine(784, 10) " in text  # dense ops' label: in and out widths
    assert "(batch, 10) · 7,850 params" in text and "←" not in text and "◀" not in text
    assert text.count("▼") == 3


def test_residual_text_draws_the_skip_as_a_lane() -> None:
    text = graph.to_text(_residual())
    lines = text.splitlines()
    # The relu's value leaves on the right; the add names both inputs and takes the lane.
    leave = _lines_of(text, "├")
    assert len(leave) == 1 and leave[0].startswith("│ (batch, 8) ") and leave[0].endswith("├─┐")
    enter = _lines_of(text, "◀")
    assert len(enter) == 1 and enter[0].startswith("│ 4 add ← 3, 1 ") and enter[0].endswith("│◀┘")
    # The lane runs unbroken in one column from where it leaves to where it enters.
    top, bottom = lines.index(leave[0]), lines.index(enter[0])
    column = len(leave[0]) - 1
    assert all(line[column] == "│" for line in lines[top + 1:bottom])
    # Every box still reads the one above it, so every arrow is drawn; the boxes line up.
    assert text.count("▼") == 6
    corners = {line.index("┐" if line[0] == "┌" else "┘") for line in lines if line[:1] in "┌└"}
    assert len(corners) == 1


def test_nested_skips_do_not_cross_and_inner_is_nearer() -> None:
    text = graph.to_text(_nested())
    assert "┼" not in text
    assert _lines_of(text, "3 add ← 2, 1")[0].endswith("│◀┘ │")  # the outer one passes
    assert _lines_of(text, "4 add ← 3, 0")[0].endswith("│◀──┘")  # the outer column


def test_fan_out_is_one_lane_tapped_by_each_reader() -> None:
    # The input is read by 0 (just below it), 2 and 3: one lane, a tee at 2, the end at 3.
    plan = NetPlan((_node(0, "relu"), _node(1, "relu"), _node(2, "add", inputs=(1, INPUT)),
                    _node(3, "add", inputs=(2, INPUT)), _node(4, "mse")), 8)
    text = graph.to_text(plan)
    assert len(_lines_of(text, "├")) == 1 and _lines_of(text, "├")[0].endswith("├─┐")
    assert _lines_of(text, "2 add ← 1, input")[0].endswith("│◀┤")
    assert _lines_of(text, "3 add ← 2, input")[0].endswith("│◀┘")


def test_a_box_that_does_not_read_the_one_above_gets_no_arrow() -> None:
    text = graph.to_text(_branches())
    assert text.count("▼") == 3  # input -> 0, 1 -> 2, 2 -> 3; not 0 -> 1
    assert "1 tanh ← input" in text and "2 concat ← 0, 1" in text
    assert "(batch, 8)" in text and "(batch, 4)" in text


@pytest.mark.parametrize("plan", [_residual(), _nested(), _branches()])
def test_mermaid_and_dot_draw_one_edge_per_input(plan: NetPlan) -> None:
    ids = {INPUT: "input", **{lp.index: f"L{lp.index}" for lp in plan.layers}}
    expected = [(ids[j], f"L{lp.index}") for lp in plan.layers for j in lp.inputs]
    mermaid = re.findall(r"^    (\w+) --> (\w+)$", graph.to_mermaid(plan), re.M)
    dot = re.findall(r"^    (\w+) -> (\w+);$", graph.to_dot(plan), re.M)
    assert mermaid == expected and dot == expected


def test_repeats_collapse_only_where_no_edge_enters_leaves_or_passes() -> None:
    # A lane passes over `(relu -> tanh) * 3`, so it is drawn in full; the chain after the
    # merge is drawn once, bracketed.
    plan = netc.plan("input: 4\naffine(8) => h\nh -> (relu -> tanh) * 3 => a\n"
                     "add(a, h) -> (affine(8) -> relu) * 2 -> affine(2) -> softmax_ce\n")
    text = graph.to_text(plan)
    assert text.count("┏━") == 1 and "× 2 · layers 8-11" in text
    assert all(f"│ {i} {op} " in text for i, op in enumerate(["relu", "tanh"] * 3, 1))
    assert "7 add ← 6, 0" in text and "9 relu" in text and "10 affine" not in text
    assert "L9 --> L12" in graph.to_mermaid(plan)  # out of the copy drawn


def test_svg_draws_an_arc_per_skipping_edge_and_an_arrow_per_adjacent_read() -> None:
    chain = netc.plan("input: 4\naffine(8) -> relu -> affine(2) -> softmax_ce\n")
    assert "netc-skip" not in html.plan_svg(chain)
    for plan, arcs, arrows in ((_residual(), 1, 6), (_nested(), 2, 6), (_branches(), 2, 3)):
        svg = html.plan_svg(plan)
        ET.fromstring(svg)  # well-formed
        assert svg.count('class="netc-skip"') == arcs and svg.count("<line") == arrows
        assert svg.count("<rect") == len(plan.layers) + 1
    wide = int(re.search(r'width="(\d+)"', html.plan_svg(_nested())).group(1))
    assert wide == html.BOX_W + 4 + 2 * html.LANE  # two lanes widen the picture


def _netc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netc", *args], capture_output=True,
                          text=True, timeout=120, encoding="utf-8")


def test_cli_draws_the_residual_spec(tmp_path: Path) -> None:
    spec = tmp_path / "res.net"
    spec.write_text(RESIDUAL)
    result = _netc("graph", str(spec))
    assert result.returncode == 0, result.stderr
    assert "│ 4 add ← 1, 3" in result.stdout and "├─┐" in result.stdout
    for name, edge in (("g.mmd", "    L1 --> L4\n"), ("g.dot", "    L1 -> L4;\n")):
        assert _netc("graph", str(spec), "-o", str(tmp_path / name)).returncode == 0
        assert edge in (tmp_path / name).read_text()
