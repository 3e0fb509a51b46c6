"""Pydantic error -> located `Diagnostic`: one table of user-facing wording (stage 3 helper).

Why a table: Pydantic's messages ("Input should be greater than or equal to 1") speak about
"input"; users wrote an argument in a spec, so each message names the argument, the call and
the value they wrote, and points at it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from ..dsl.nodes import Call
from ..errors import Diagnostic
from ..source import Span
from .registry import suggest

_WORDING: dict[str, Callable[[dict[str, Any]], str]] = {
    "int_type": lambda c: "must be a whole number",
    "float_type": lambda c: "must be a number",
    "string_type": lambda c: "must be a name or a string",
    "bool_type": lambda c: "must be true or false",
    "finite_number": lambda c: "must be a finite number",
    "greater_than_equal": lambda c: f"must be at least {c['ge']}",
    "greater_than": lambda c: f"must be greater than {c['gt']}",
    "less_than_equal": lambda c: f"must be at most {c['le']}",
    "less_than": lambda c: f"must be less than {c['lt']}",
    "literal_error": lambda c: f"must be one of {c['expected']}",
    # A size, stride or pad pair: `5` or `3x5`.
    "too_long": lambda c: "must be one number or a pair such as 3x5",
    "too_short": lambda c: "must be one number or a pair such as 3x5",
    "tuple_type": lambda c: "must be one number or a pair such as 3x5",
}

_CODES = {
    "int_type": "bad_type", "float_type": "bad_type", "string_type": "bad_type",
    "bool_type": "bad_type", "finite_number": "out_of_range", "greater_than_equal": "out_of_range",
    "greater_than": "out_of_range", "less_than_equal": "out_of_range",
    "less_than": "out_of_range", "literal_error": "bad_choice", "too_long": "bad_type",
    "too_short": "bad_type", "tuple_type": "bad_type",
}


def describe_error(err: dict[str, Any], call: Call, schema: type[BaseModel],
                   span_of: Callable[[str], Span | None], usage: str,
                   notes: tuple[str, ...]) -> Diagnostic:
    """One Pydantic error of `call`'s arguments as a diagnostic at the argument's span."""
    kind = err["type"]
    name = str(err["loc"][0]) if err["loc"] else ""
    fields = [f for f in schema.model_fields if f not in ("op", "name")]
    if kind == "missing":
        return Diagnostic("missing_arg", f"{call.name} needs '{name}'", call.span,
                          loc=(call.name, name), hint=usage, notes=notes)
    if kind == "extra_forbidden":
        hint = suggest(name, fields) or usage
        # Why: point at the keyword (`nout=4`), not at its value.
        span = next((a.span for a in call.args if a.name == name), None) or span_of(name)
        return Diagnostic("unknown_arg", f"{call.name} has no argument '{name}'",
                          span, loc=(call.name, name), hint=hint, notes=notes)
    wording = _WORDING.get(kind, lambda c: err["msg"][0].lower() + err["msg"][1:])
    got = _show(err.get("input"))
    hint = suggest(str(err.get("input")), _choices(err)) if kind == "literal_error" else None
    return Diagnostic(
        _CODES.get(kind, "invalid_value"),
        f"'{name}' of {call.name} {wording(err.get('ctx') or {})}, got {got}",
        span_of(name), loc=(call.name, name), hint=hint, notes=notes)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):  # a shape as written: 1x2x3
        return "x".join(str(v) for v in value)
    return repr(value) if isinstance(value, str) else str(value)


def _choices(err: dict[str, Any]) -> list[str]:
    expected = str((err.get("ctx") or {}).get("expected", ""))
    return [p.strip(" '") for p in expected.replace(" or ", ",").split(",") if p.strip(" '")]
