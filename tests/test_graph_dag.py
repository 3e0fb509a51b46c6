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


def _two_inputs() -> NetPlan:
    """`input: a: 6, b: 1x2x2`: 0 affine(a), 1 flatten(b), 2 concat(0, 1, a), 3 mse. Input a
    is value -1, b is -2 (drawn just above 0, which does not read it)."""
    return NetPlan((_node(0, "affine", 4, inputs=(INPUT,), n_in=6),
                    _node(1, "flatten", 4, inputs=(INPUT - 1,), n_in=4),
                    _node(2, "concat", 14, inputs=(0, 1, INPUT), n_in=8),
                    _node(3, "mse", 14, n_in=14)), 10,
                   input_parts=(("a", (6,)), ("b", (1, 2, 2))))


MULTI = ("input: a: 6, b: 1x2x2\na -> affine(4) -> tanh => ha\n"
         "b -> flatten -> affine(4) => hb\n"
         "concat(ha, hb, a, b -> flatten) -> affine(3) -> softmax_ce\n")


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


def test_named_inputs_are_boxes_at_the_top_whose_readers_tap_their_lanes() -> None:
    text = graph.to_text(_two_inputs())
    lines = text.splitlines()
    # One box per input, in declared order, before every layer, each with its own shape.
    assert lines[1].startswith("│ input a ") and lines[2].startswith("│ (batch, 6) ")
    assert text.index("│ input b ") < text.index("│ (batch, 1, 2, 2) ") < text.index("│ 0 ")
    assert "│ input " not in text[text.index("│ 0 "):]
    # Only 2 and 3 read the box above them: no arrow joins the inputs, b to 0, or 0 to 1.
    assert text.count("▼") == 2
    assert "0 affine(6, 4) ← input a" in text and "1 flatten ← input b" in text
    assert "2 concat ← 0, 1, input a" in text
    # Each input leaves on its own lane (and 0 on a third): a is tapped by 0, across b's
    # lane, and ends at 2; b ends at 1.
    assert [line.split()[1] for line in _lines_of(text, "├")] == ["(batch,"] * 3
    assert _lines_of(text, "0 affine")[0].endswith("│◀┼───┤")
    assert _lines_of(text, "1 flatten")[0].endswith("│◀┘ │ │")
    assert _lines_of(text, "2 concat")[0].endswith("│◀──┴─┘")


def test_a_first_layer_reading_the_last_input_takes_the_arrow_below_it() -> None:
    # b is drawn just above 0: an arrow, no `←`; a's lane passes the repeat, which stays
    # drawn in full (the edge from input a passes over every layer before the concat).
    plan = netc.plan("input: a: 3, b: 4\nb -> affine(4) -> (relu -> tanh) * 3 => h\n"
                     "concat(h, a) -> affine(2) -> softmax_ce\n")
    text = graph.to_text(plan)
    assert "│ 0 affine(4, 4) " in text and "0 affine(4, 4) ←" not in text
    assert text.count("▼") == 10 and "┏━" not in text and "│ 6 tanh " in text
    assert _lines_of(text, "7 concat ← 6, input a")[0].rstrip().endswith("◀┘")
    # Now the lane over the repeat comes from input b (value -2, left of layer 0), and a's
    # from above b into 0: the repeat is still drawn in full.
    plan = netc.plan("input: a: 3, b: 4\na -> affine(4) -> (relu -> tanh) * 3 => h\n"
                     "concat(h, b) -> affine(2) -> softmax_ce\n")
    text = graph.to_text(plan)
    assert "┏━" not in text and "│ 6 tanh " in text and "7 concat ← 6, input b" in text
    assert "0 affine(3, 4) ← input a" in text and text.count("▼") == 9


@pytest.mark.parametrize("plan", [_residual(), _nested(), _branches(), _two_inputs()])
def test_mermaid_and_dot_draw_one_edge_per_input(plan: NetPlan) -> None:
    names = [name for name, _ in plan.input_parts]
    inputs = {INPUT - k: f"input_{name}" for k, name in enumerate(names)} or {INPUT: "input"}
    ids = {**inputs, **{lp.index: f"L{lp.index}" for lp in plan.layers}}
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


def test_mermaid_and_dot_give_each_named_input_a_node_with_its_shape() -> None:
    mermaid, dot = graph.to_mermaid(_two_inputs()), graph.to_dot(_two_inputs())
    assert '    input_a["input a<br/>(batch, 6)"]\n' in mermaid
    assert '    input_b["input b<br/>(batch, 1, 2, 2)"]\n' in mermaid
    assert '    input_b [label="input b\\n(batch, 1, 2, 2)"];\n' in dot
    assert "input_a --> L0" in mermaid and "input_b --> L1" in mermaid
    assert '"input"' not in mermaid + dot and not re.search(r"^    input\b[^_]", dot, re.M)


def test_svg_draws_a_grey_box_per_named_input_and_arcs_to_their_readers() -> None:
    svg = html.plan_svg(_two_inputs())
    ET.fromstring(svg)
    assert svg.count("<rect") == 6 and svg.count(html._FILLS["input"]) == 2
    assert "input a" in svg and "(batch, 1, 2, 2)" in svg
    # Arcs: a -> 0, a -> 2, b -> 1, 0 -> 2; arrows: 1 -> 2 and 2 -> 3 only.
    assert svg.count('class="netc-skip"') == 4 and svg.count("<line") == 2
    page = netc.plan(MULTI)._repr_html_()
    assert page.count("<rect") == 8 + 2 and "input b" in page


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


def test_cli_draws_a_spec_of_named_inputs(tmp_path: Path) -> None:
    spec = tmp_path / "multi.net"
    spec.write_text(MULTI)
    result = _netc("graph", str(spec))
    assert result.returncode == 0, result.stderr
    assert "│ input a " in result.stdout and "│ (batch, 1, 2, 2) " in result.stdout
    assert "│ 5 concat ← 1, 3, input a, 4 " in result.stdout
    assert "│ 2 flatten ← input b " in result.stdout and "│ 4 flatten ← input b " in result.stdout
    for name, edges in (("g.mmd", ("    input_b --> L4\n", "    input_a --> L5\n")),
                        ("g.dot", ("    input_b -> L2;\n", "    input_a -> L0;\n"))):
        assert _netc("graph", str(spec), "-o", str(tmp_path / name)).returncode == 0
        assert all(edge in (tmp_path / name).read_text() for edge in edges)
