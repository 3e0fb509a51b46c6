"""Shape inference of the image ops (DLFS-1 ch. 7) and their errors: `netc check` shows image
shapes, sizes follow the book (conv must tile its input, pooling rounds down), channels flow
from one conv to the next, and every refusal is a located diagnostic whose fix really works."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import netc
from netc.cli import main
from netc.errors import SpecError, SpecShapeError, SpecValidationError

SIMPLE = ("input: 1x28x28\nconv(30, 5) -> relu -> pool(2) -> flatten -> affine(100) -> relu "
          "-> affine(10) -> softmax_ce")


def _error(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        netc.plan(text)
    return info.value


def _where(err: SpecError) -> tuple[str | None, int, int]:
    d = err.diagnostics[0]
    assert d.span is not None
    return d.code, d.span.line, d.span.column


def _conv(filters: int, size: str, stride: str = "1", pad: str = "0") -> str:
    extra = "".join(f", {k}={v}" for k, v, plain in (("stride", stride, "1"), ("pad", pad, "0"))
                    if v != plain)
    return f"conv({filters}, {size}{extra})"


def _fixes(hint: str) -> list[dict[str, str]]:
    """`use pad=1, stride=1 or size=4` -> [{"pad": "1"}, {"stride": "1"}, {"size": "4"}]."""
    return [{k: v} for k, v in re.findall(r"\b(pad|stride|size)=(\d+(?:x\d+)?)", hint)]


def _check_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, str]:
    spec = tmp_path / "net.net"
    spec.write_text(text, encoding="utf-8")
    code = main(["check", str(spec)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out + err


def test_image_shapes_check_table_shows_image_shapes(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _check_cli(tmp_path, capsys, f"data: mnist\n{SIMPLE}\n")
    assert code == 0
    rows = {line.split()[1]: line for line in out.splitlines() if line[:1].isdigit()}
    assert "(batch, 30, 24, 24)" in rows["conv(30,"] and "780" in rows["conv(30,"]
    assert "(batch, 30, 12, 12)" in rows["pool(2)"]
    assert "(batch, 4320)" in rows["flatten"]
    assert "(batch, 1, 28, 28)" in out  # the input row
    assert "parameters: 433,890" in out  # DLFS-1's SimpleConvNet: 780 + 432,100 + 1,010


def test_image_shapes_simple_convnet_parameters_as_in_the_book() -> None:
    plan = netc.plan(SIMPLE)
    conv = plan.layers[0]
    assert conv.shape == (30, 24, 24)
    assert [(p.name, p.shape) for p in conv.params] == [("W", (30, 1, 5, 5)), ("b", (30,))]
    assert sum(math.prod(p.shape) for p in conv.params) == 780
    assert conv.params[0].fan_in == 25  # He/Xavier: channels x kernel, not the book's TODO
    assert [lp.shape for lp in plan.layers[1:4]] == [(30, 24, 24), (30, 12, 12), (4320,)]


def test_image_shapes_channels_flow_from_conv_to_conv() -> None:
    plan = netc.plan("input: 3x11x10\nconv(8, 3, pad=1) -> relu -> conv(16, 3x5, stride=2x1) -> "
                     "pool(2) -> conv(4, 1) -> flatten -> mse")
    convs = [lp for lp in plan.layers if lp.op == "conv"]
    assert [lp.params[0].shape for lp in convs] == [(8, 3, 3, 3), (16, 8, 3, 5), (4, 16, 1, 1)]
    assert [lp.params[0].fan_in for lp in convs] == [27, 120, 16]
    # pad 1 keeps 11x10; then rows (11 - 3) / 2 + 1 = 5, columns (10 - 5) / 1 + 1 = 6
    assert [lp.shape for lp in plan.layers[:5]] == [(8, 11, 10), (8, 11, 10), (16, 5, 6),
                                                    (16, 2, 3), (4, 2, 3)]


@pytest.mark.parametrize(("shape", "call", "want"), [
    ((1, 5, 7), "pool(2)", (1, 2, 3)),  # the last row and column are in no window
    ((30, 24, 24), "pool(3, stride=2)", (30, 11, 11)),  # (24 - 3) / 2 + 1 = 11.5 -> 11
    ((2, 5, 8), "pool(2x3, stride=1x2)", (2, 4, 3)),
    ((2, 6, 6), "pool(2, stride=1)", (2, 5, 5)),
    ((2, 7, 7), 'pool(2, mode="avg")', (2, 3, 3)),
    ((4, 5, 3), "global_avg_pool", (4,)),
    ((1, 8, 8), "conv(3, 3x5)", (3, 6, 4)),
    ((1, 8, 8), "conv(3, 3, pad=1x2)", (3, 8, 10)),
])
def test_image_shapes_sizes_follow_the_book(shape: tuple[int, ...], call: str,
                                            want: tuple[int, ...]) -> None:
    tail = "-> mse" if call == "global_avg_pool" else "-> flatten -> mse"
    plan = netc.plan(f"input: {'x'.join(map(str, shape))}\n{call} {tail}")
    assert plan.layers[0].shape == want


def test_image_shapes_conv_not_exact_says_the_formula(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    text = "input: 1x28x28\nconv(30, 5, stride=2) -> relu -> flatten -> affine(10) -> softmax_ce"
    err = _error(text)
    assert isinstance(err, SpecShapeError)
    assert _where(err) == ("conv_not_exact", 2, 1)
    d = err.diagnostics[0]
    assert d.message == "conv(30, 5, stride=2) makes (28 - 5 + 0) / 2 + 1 = 12.5 rows"
    assert _fixes(d.hint or "")
    code, out = _check_cli(tmp_path, capsys, text)
    assert code == 1
    assert re.search(r"net\.net:2:1: error: conv\(30, 5, stride=2\) makes \(28 - 5 \+ 0\) / 2 "
                     r"\+ 1 = 12\.5 rows", out)


# (input H, W, kernel, stride, pad) that do not tile: the book's case, then rows or columns
# alone, a stride of 3 (where a pad can help), a non-square kernel.
NOT_EXACT = [(28, 28, "5", "2", "0"), (28, 27, "5", "2", "0"), (27, 28, "5", "2", "0"),
             (8, 8, "3", "2", "1"), (28, 28, "5", "2", "1"), (10, 10, "3", "3", "0"),
             (10, 9, "3", "3", "0"), (9, 10, "4x3", "2", "0"), (9, 9, "3x4", "2", "0")]


@pytest.mark.parametrize(("h", "w", "size", "stride", "pad"), NOT_EXACT)
def test_image_shapes_conv_not_exact_fixes_compile(h: int, w: int, size: str, stride: str,
                                                   pad: str) -> None:
    # Every setting the hint offers, put into the call, must make a spec that compiles.
    call = dict(size=size, stride=stride, pad=pad)
    err = _error(f"input: 1x{h}x{w}\n{_conv(4, **call)} -> flatten -> mse")
    assert err.code == "conv_not_exact"
    fixes = _fixes(err.diagnostics[0].hint or "")
    assert fixes, err.diagnostics[0].hint
    for fix in fixes:
        fixed = f"input: 1x{h}x{w}\n{_conv(4, **{**call, **fix})} -> flatten -> mse"
        try:
            netc.plan(fixed)
        except SpecError as e:
            pytest.fail(f"hint {err.diagnostics[0].hint!r}: {fix} still fails:\n{e}")


@pytest.mark.parametrize(("h", "w", "size", "stride"), [(4, 4, "5", "1"), (4, 4, "5", "2"),
                                                         (3, 8, "5", "1"), (8, 2, "3x5", "1")])
def test_image_shapes_kernel_too_large_and_its_fixes(h: int, w: int, size: str,
                                                     stride: str) -> None:
    err = _error(f"input: 1x{h}x{w}\n{_conv(2, size, stride)} -> flatten -> mse")
    assert _where(err) == ("kernel_too_large", 2, 1)
    d = err.diagnostics[0]
    assert re.fullmatch(r"conv\(2, .*\) needs at least \d+ (rows|columns) but receives \d+ "
                        r"from the input", d.message), d.message
    fixes = _fixes(d.hint or "")
    assert fixes, d.hint
    # With stride 1 a pad always helps; with stride 2 on 4x4 no pad tiles, a size does.
    assert stride == "2" or any("pad" in fix for fix in fixes), d.hint
    call = dict(size=size, stride=stride)
    for fix in fixes:
        netc.plan(f"input: 1x{h}x{w}\n{_conv(2, **{**call, **fix})} -> flatten -> mse")


def test_image_shapes_pool_larger_than_its_input() -> None:
    err = _error("input: 1x8x8\nconv(2, 3) -> pool(2) -> pool(4) -> flatten -> mse")
    assert _where(err) == ("kernel_too_large", 2, 26)
    assert err.diagnostics[0].message == ("pool(4) needs at least 4 rows but receives 3 from "
                                          "pool at 2:15")


def test_image_shapes_conv_on_a_vector_input_hints_at_an_image_input() -> None:
    err = _error("input: 784\nconv(30, 5) -> relu -> flatten -> affine(10) -> softmax_ce")
    assert _where(err) == ("shape_mismatch", 2, 1)
    d = err.diagnostics[0]
    assert "receives (batch, 784) from the input" in d.message
    assert "input: 1x28x28" in (d.hint or "")


@pytest.mark.parametrize(("text", "origin"), [
    ("input: 1x8x8\nconv(2, 3) -> flatten -> conv(2, 3) -> flatten -> mse", "flatten at 2:15"),
    ("input: 1x8x8\nconv(2, 3) -> global_avg_pool -> pool(2) -> flatten -> mse",
     "global_avg_pool at 2:15"),
])
def test_image_shapes_image_op_after_a_vector_layer_points_at_that_layer(text: str,
                                                                       origin: str) -> None:
    # The vector comes from a layer, not from the input: changing `input:` would not help.
    err = _error(text)
    d = err.diagnostics[0]
    assert d.code == "shape_mismatch" and d.message.endswith(f"from {origin}"), d.message
    assert "input: 1x28x28" not in (d.hint or ""), d.hint


def test_image_shapes_pairs_for_conv_and_pool_but_not_affine() -> None:
    plan = netc.plan("input: 1x8x8\nconv(3, 3x5) -> pool(2x1) -> flatten -> mse")
    assert [lp.shape for lp in plan.layers[:2]] == [(3, 6, 4), (3, 3, 4)]
    err = _error("input: 1x8x8\nconv(3, 3x5) -> pool(2x1) -> flatten -> affine(3x5) -> mse")
    assert _where(err) == ("not_supported_yet", 2, 48)


@pytest.mark.parametrize(("call", "code", "column", "words"), [
    ("conv(3, 0)", "out_of_range", 9, "'size' of conv must be at least 1, got 0"),
    ("conv(0, 3)", "out_of_range", 6, "'filters' of conv must be at least 1, got 0"),
    ("conv(3, 3, pad=-1)", "out_of_range", 16, "'pad' of conv must be at least 0, got -1"),
    ("conv(3, 3, stride=2x0)", "out_of_range", 19, "'stride' of conv must be at least 1, got 0"),
    ("pool(3x0)", "out_of_range", 6, "'size' of pool must be at least 1, got 0"),
    ('pool(2, mode="min")', "bad_choice", 14, "'mode' of pool must be one of 'max' or 'avg'"),
    ("conv(2.5, 3)", None, 6, "'filters' of conv must be a whole number"),
])
def test_image_shapes_bad_values_are_located(call: str, code: str | None, column: int,
                                             words: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    text = f"input: 1x8x8\n{call} -> flatten -> mse"
    err = _error(text)
    assert isinstance(err, SpecValidationError)
    got = _where(err)
    assert got[1:] == (2, column) and (code is None or got[0] == code)
    assert words in err.diagnostics[0].message
    status, out = _check_cli(tmp_path, capsys, text)
    assert status == 1 and f"net.net:2:{column}: error: {words}" in out


def test_image_shapes_a_pair_of_three_reads_as_a_user_message() -> None:
    err = _error("input: 1x8x8\nconv(2, 1x2x3) -> flatten -> mse")
    assert _where(err)[1:] == (2, 9)
    message = err.diagnostics[0].message
    # Pydantic's own wording ("tuple should have at most 2 items after validation") leaks.
    assert "after validation" not in message and "tuple should" not in message, message
    assert "size" in message and "conv" in message


def test_image_shapes_channel_mismatch_in_a_merge() -> None:
    err = _error("input: 1x8x8\nadd(conv(2, 3, pad=1), conv(3, 3, pad=1)) -> flatten -> mse")
    assert _where(err) == ("shape_mismatch", 2, 1)
    d = err.diagnostics[0]
    assert "(batch, 2, 8, 8) and (batch, 3, 8, 8)" in d.message
