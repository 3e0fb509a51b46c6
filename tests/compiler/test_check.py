"""Stage 4, check: structural rules on the validated spec, all broken rules raised together."""

from __future__ import annotations

import pytest

import netc.api
from netc.compiler import spec as s
from netc.compiler.check import check, has_a_loss, has_layers_before_loss, loss_is_last
from netc.compiler.validate import SourceMap
from netc.errors import SpecError, SpecStructureError


def _error(text: str) -> SpecStructureError:
    with pytest.raises(SpecStructureError) as info:
        netc.api.validate(text)
    return info.value


def _where(err: SpecError) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in err.diagnostics]


def test_check_accepts_a_network_ending_in_a_loss() -> None:
    for loss in ("softmax_ce", "sigmoid_ce", "mse"):
        assert netc.api.validate(f"affine(2, 3) -> relu -> {loss}").layers[-1].op == loss


def test_check_loss_not_last() -> None:
    err = _error("affine(2, 3) -> mse -> relu -> softmax_ce")
    assert _where(err) == [("loss_not_last", 1, 17)]
    assert "the loss 'mse' must be the last layer" in str(err)
    assert err.diagnostics[0].hint == ("end the pipeline with one of: softmax_ce, sigmoid_ce, "
                                       "ns_loss, mse")


def test_check_loss_not_last_reports_every_misplaced_loss() -> None:
    err = _error("affine(2, 3)\n  -> mse\n  -> relu\n  -> softmax_ce\n  -> tanh")
    assert _where(err) == [("loss_not_last", 2, 6), ("loss_not_last", 4, 6)]


def test_check_loss_repeated_is_not_last() -> None:
    err = _error("affine(2, 3) -> mse * 2")
    assert _where(err) == [("loss_not_last", 1, 17)]


def test_check_loss_inside_a_block_has_a_note() -> None:
    err = _error("head = mse -> relu\naffine(2, 3) -> head -> mse")
    assert _where(err) == [("loss_not_last", 1, 8)]
    assert err.diagnostics[0].notes == ("in block 'head' used at 2:17",)


def test_check_missing_loss_points_at_last_layer() -> None:
    err = _error("affine(2, 3) ->\n  relu")
    assert _where(err) == [("missing_loss", 2, 3)]
    assert "the pipeline has no loss layer at its end" in str(err)


def test_check_missing_loss_not_reported_when_a_loss_is_misplaced() -> None:
    err = _error("affine(2, 3) -> mse -> relu")
    assert [d.code for d in err.diagnostics] == ["loss_not_last"]


def test_check_only_a_loss_is_an_empty_network() -> None:
    err = _error("# nothing to train\nsoftmax_ce")
    assert _where(err) == [("empty_network", 2, 1)]
    assert err.diagnostics[0].hint == "add layers before the loss"


def test_check_rules_have_illegal_examples_in_docstrings() -> None:
    for rule in (loss_is_last, has_a_loss, has_layers_before_loss):
        assert "`" in (rule.__doc__ or "")


def test_check_spec_built_in_python_falls_back_to_no_span() -> None:
    spec = s.NetSpec(layers=(s.AffineSpec(n_in=2, n_out=3), s.ReluSpec()))
    with pytest.raises(SpecStructureError) as info:
        check(spec, SourceMap())
    err = info.value
    assert (err.code, err.line, err.column) == ("missing_loss", None, None)
    assert str(err).startswith("error: the pipeline has no loss layer at its end")
