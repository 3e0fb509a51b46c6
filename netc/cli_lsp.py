"""CLI for the language server: `netc lsp` (stdio; the extra `netc[lsp]`).

Stage: an editor front end. An editor starts `netc lsp` and talks the Language Server
Protocol on its stdin/stdout (netc/lsp.py); pygls is imported only when the command runs, so
the rest of the CLI works without the extra.
"""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `netc lsp` on the `netc` subparsers."""
    c = sub.add_parser("lsp", parents=[common],
                       help="a language server for editors, over stdio (extra 'lsp')")
    c.add_argument("--stdio", action="store_true",
                   help="talk over stdin/stdout (the default and only transport)")
    c.set_defaults(func=cmd_lsp)


def cmd_lsp(args: argparse.Namespace) -> int:
    from .errors import MissingDependencyError

    try:
        from .lsp import serve
    except ImportError:
        raise MissingDependencyError(
            "netc lsp needs pygls, the extra 'lsp': pip install 'netc[lsp]'") from None
    serve()
    return 0
