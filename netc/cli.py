"""The `netc` command: check, run, gradcheck, compile, layers (and, from `cli_tools.py`,
export, graph, predict, summary, fmt). Exit codes: 0 ok, 1 a problem in
the user's spec, data or files, 2 a usage error, 130 interrupted.

Every `NetcError` is printed as its located message, never as a traceback (`--debug` shows
one for bug reports). Numpy is imported only by the commands that build networks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from . import __version__, flags
from .errors import NetcError, NetcWarning, SpecError
from .terminal import shown

# NumPy's floating-point warnings ("overflow encountered in matmul"): a diverging run or a
# too-large init is reported once, as an error or a warning line, never as NumPy's noise.
_NUMPY_NOISE = r"(overflow|invalid value|divide by zero|underflow) encountered"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    # Why the whole body: Ctrl-C while building the parser (it imports pydantic) or loading
    # data must end as quietly as one during training.
    try:
        with _user_facing_output():
            return _dispatch(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # Why not parse_args: the command's parser knows which flag was meant.
        from .cli_suggest import unrecognized

        command = _subcommand(parser, args.command)
        command.error(unrecognized(extras, command))
    try:
        return args.func(args)
    except NetcError as e:
        if args.debug:
            raise
        if getattr(args, "json", False) and isinstance(e, SpecError):
            print(json.dumps({"ok": False, "diagnostics": [d.to_json() for d in e.diagnostics]},
                             indent=2))
        else:
            # Why `shown`: messages quote CSV cells, member names and paths, which may hold
            # escape sequences or undecodable bytes.
            print(shown(e), file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


@contextlib.contextmanager
def _user_facing_output() -> Iterator[None]:
    """Netc's warnings as one escaped `warning:` line each, NumPy's float noise hidden, and a
    stdout that shows an undecodable file name as `\xe9` instead of raising."""
    out = sys.stdout
    strict = getattr(out, "errors", None) == "strict" and hasattr(out, "reconfigure")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _NUMPY_NOISE, RuntimeWarning)
        warnings.simplefilter("default", NetcWarning)
        warnings.showwarning = _show_warning
        if strict:
            out.reconfigure(errors="backslashreplace")
        try:
            yield
        finally:
            if strict:
                with contextlib.suppress(ValueError, OSError):  # closed meanwhile
                    out.reconfigure(errors="strict")


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: Any = None, line: str | None = None) -> None:
    if issubclass(category, NetcWarning):
        text = f"warning: {message}\n"
    else:
        text = warnings.formatwarning(message, category, filename, lineno, line)
    with contextlib.suppress(OSError):
        sys.stderr.write(shown(text))


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors escaped (they quote the offending argument) and a
    "did you mean" for a mistyped command or choice (`netc chek`)."""

    def _print_message(self, message: str, file: Any = None) -> None:
        super()._print_message(shown(message) if message else message, file)

    def error(self, message: str) -> NoReturn:
        from .cli_suggest import with_suggestion

        super().error(with_suggestion(message))


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="netc", description="Compile and train .net network specs.")
    p.add_argument("--version", action="version", version=f"netc {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks (bug reports)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("check", parents=[common],
                       help="validate specs; print each one's layer table")
    c.add_argument("spec", nargs="+", metavar="SPEC")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument("-v", "--verbose", action="store_true", help="also print the run settings")
    c.add_argument("--strict", action="store_true", help="fail (exit 1) on lint warnings")
    c.set_defaults(func=cmd_check)

    lint = sub.add_parser("lint", parents=[common],
                          help="warn about what is legal but almost surely wrong")
    lint.add_argument("spec")
    lint.add_argument("--strict", action="store_true", help="exit 1 when there are warnings")
    lint.add_argument("--json", action="store_true", help="print the warnings as JSON")
    lint.set_defaults(func=_cmd_lint)

    r = sub.add_parser("run", parents=[common], help="train a spec on its data")
    r.add_argument("spec")
    r.add_argument("--epochs", type=flags.epochs)
    r.add_argument("--batch-size", type=flags.batch_size)
    r.add_argument("--lr", type=flags.learning_rate)
    r.add_argument("--optimizer", choices=_optimizers())
    r.add_argument("--seed", type=flags.seed)
    r.add_argument("--dtype", choices=("float32", "float64"))
    r.add_argument("--backend", choices=("numpy", "numba"),
                   help="numba: a compiled training loop (pip install 'netc[jit]')")
    r.add_argument("--data", help="spiral, mnist, or a .npz/.csv file")
    r.add_argument("--data-dir", help="folder with the MNIST files (default $NETC_DATA_DIR)")
    r.add_argument("--metrics-json", metavar="PATH", help="write the history as JSON")
    r.add_argument("--checkpoint", metavar="PATH", help="save a checkpoint after every epoch")
    r.add_argument("--resume", metavar="PATH", help="continue from a checkpoint")
    r.add_argument("--resume-anyway", action="store_true",
                   help="with --resume: accept changed data or hyper-parameters")
    r.add_argument("--quiet", action="store_true", help="print only the final summary")
    r.add_argument("--log-every", type=flags.positive_int, metavar="N",
                   help="an epoch line every N epochs (default: about 20 lines in all)")
    r.add_argument("--eval-train", action="store_true",
                   help="train figures from a full pass after each epoch (DLFS), not running means")
    r.add_argument("--keep-best", action="store_true",
                   help="with --checkpoint: also keep the best epoch's, as PATH.best.npz")
    r.add_argument("--plot", metavar="PNG", help="draw loss/accuracy curves to an image")
    r.set_defaults(func=cmd_run)

    g = sub.add_parser("gradcheck", parents=[common],
                       help="compare backprop with numerical gradients (float64)")
    g.add_argument("spec")
    g.add_argument("--batch", type=flags.batch_size, default=8)
    g.add_argument("--tol", type=flags.positive_float, default=1e-6)
    g.add_argument("--seed", type=flags.seed, default=0)
    g.set_defaults(func=cmd_gradcheck)

    k = sub.add_parser("compile", parents=[common], help="print the generated code")
    k.add_argument("spec")
    k.add_argument("--emit", choices=("python", "plan", "torch", "numba"), default="python")
    k.add_argument("-o", "--output", metavar="FILE")
    k.set_defaults(func=cmd_compile)

    lay = sub.add_parser("layers", parents=[common],
                         help="list layers, losses, settings and optimizers")
    lay.set_defaults(func=cmd_layers)

    from .cli_tools import add_commands

    add_commands(sub, common, _optimizers())
    from .cli_seq2seq import add_commands as add_seq2seq

    add_seq2seq(sub, common)
    from .cli_jit import add_commands as add_jit

    add_jit(sub, common)
    from .cli_lsp import add_commands as add_lsp

    add_lsp(sub, common)
    return p


def cmd_check(args: argparse.Namespace) -> int:
    """`netc check A.net [B.net ...]`: one spec as before; several each labelled by path,
    exit 1 if any fails (`--json`: a list with one object per spec)."""
    specs = [args.spec] if isinstance(args.spec, str) else args.spec
    if len(specs) == 1:
        return _check_one(args, specs[0])
    if args.json:
        return _check_many_json(args, specs)
    status = 0
    for i, path in enumerate(specs):
        print(("\n" if i else "") + f"{shown(path)}:", flush=True)
        try:
            status = max(status, _check_one(args, path))
        except NetcError as e:
            if args.debug:
                raise
            print(shown(e), file=sys.stderr, flush=True)
            status = 1
    return status


def _check_many_json(args: argparse.Namespace, specs: list[str]) -> int:
    from .commands import plan_json
    from .linting import as_json, checked

    results, status = [], 0
    for path in specs:
        try:
            plan, warnings, _ = checked(path)
        except NetcError as e:  # a missing file is one failed entry, as a bad spec is
            found = e.diagnostics if isinstance(e, SpecError) else []
            results.append({"path": path, "ok": False,
                            "diagnostics": [d.to_json() for d in found],
                            **({} if found else {"error": shown(e)})})
            status = 1
            continue
        ok = not (args.strict and warnings)
        results.append({"path": path, "ok": ok, **plan_json(plan),
                        "diagnostics": as_json(warnings)})
        status = max(status, 0 if ok else 1)
    print(json.dumps(results, indent=2))
    return status


def _check_one(args: argparse.Namespace, spec: str) -> int:
    from .linting import as_json, checked, report

    # The plan and the lint warnings (compiler/lint.py) in one pass over the stages.
    plan, warnings, source = checked(spec)
    strict = getattr(args, "strict", False)
    if args.json:
        from .commands import plan_json

        ok = not (strict and warnings)
        print(json.dumps({"ok": ok, **plan_json(plan), "diagnostics": as_json(warnings)},
                         indent=2))
        return 0 if ok else 1
    print(plan.summary())
    if args.verbose:
        from .commands import describe_run

        print(describe_run(plan))
    sys.stdout.flush()  # Why: the warnings (stderr) must read after the table
    return report(warnings, source, strict=strict)


def _cmd_lint(args: argparse.Namespace) -> int:
    from .linting import cmd_lint

    return cmd_lint(args)


def cmd_run(args: argparse.Namespace) -> int:
    from .run import run

    return run(args)


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from .commands import gradcheck_report

    text, ok = gradcheck_report(args.spec, batch=args.batch, tol=args.tol, seed=args.seed)
    print(text)
    return 0 if ok else 1


def cmd_compile(args: argparse.Namespace) -> int:
    from .commands import emit

    text = emit(args.spec, args.emit)
    if args.output:
        from .commands import write_text

        write_text(args.output, text)
    else:
        print(text, end="")
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    from .commands import layers_table

    print(layers_table())
    return 0


def _optimizers() -> tuple[str, ...]:
    from .compiler.registry import OPTIMIZERS

    return tuple(OPTIMIZERS)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
