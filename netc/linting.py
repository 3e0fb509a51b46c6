"""`netc lint` and the warnings under `netc check`: the rules of `compiler/lint.py`, printed.

A warning is legal but almost surely wrong, so by default it is printed and the command still
succeeds (exit 0); `--strict` makes any warning an error (exit 1), for CI.
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from os import PathLike
from typing import Any

from .errors import Diagnostic, render
from .terminal import shown


def checked(path: str | PathLike[str]) -> tuple[Any, list[Diagnostic], Any]:
    """The plan of the spec at `path`, its lint warnings, and its `Source` (to render them).

    Raises the same `SpecError`s as `netc.plan_file`: a spec that is not valid has no warnings.
    """
    from .api import read, vocabulary
    from .compiler.lint import lint_source

    source = read(path)
    plan, warnings = lint_source(source, vocabulary)
    return plan, warnings, source


def report(warnings: list[Diagnostic], source: Any, *, strict: bool, file: Any = None) -> int:
    """Print the warnings (stderr by default); the exit code: 1 for any under `strict`."""
    if not warnings:
        return 0
    out = file or sys.stderr
    print(shown(render(warnings, source)), file=out)
    n = len(warnings)
    tail = " (--strict makes warnings errors)" if strict else ""
    print(f"{n} warning{'s' if n != 1 else ''}{tail}", file=out)
    return 1 if strict else 0


def as_json(warnings: list[Diagnostic]) -> list[dict[str, Any]]:
    return [d.to_json() for d in warnings]


def cmd_lint(args: Namespace) -> int:
    """`netc lint SPEC [--strict] [--json]`: the warnings on stdout, or that there are none."""
    plan, warnings, source = checked(args.spec)
    if args.json:
        ok = not (args.strict and warnings)
        print(json.dumps({"ok": ok, "path": plan.path, "diagnostics": as_json(warnings)},
                         indent=2))
        return 0 if ok else 1
    if not warnings:
        print(f"{shown(plan.path)}: no warnings")
        return 0
    return report(warnings, source, strict=args.strict, file=sys.stdout)
