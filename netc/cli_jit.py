"""CLI for the compiled backend: `netc cache clear` (and `cache info`).

The compiled modules (runtime/jit.py) live in netc's cache folder, keyed by the hash of their
text; nothing ever removes one by itself, so this command is how a user reclaims the space
or forces a fresh compile.
"""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `netc cache` on the `netc` subparsers."""
    c = sub.add_parser("cache", parents=[common],
                       help="show or clear the compiled code of the numba backend")
    c.add_argument("action", choices=("info", "clear"),
                   help="info: where the cache is and what it holds; clear: remove it")
    c.set_defaults(func=cmd_cache)


def cmd_cache(args: argparse.Namespace) -> int:
    from .runtime.jit import cache_dir, clear_cache

    if args.action == "clear":
        folder, count = clear_cache()
        print(f"removed {count} compiled module{'s' * (count != 1)} from {folder}")
        return 0
    folder = cache_dir()
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    size = sum(p.stat().st_size for p in files)
    modules = sum(p.suffix == ".py" for p in files)
    print(f"{folder}: {modules} compiled module{'s' * (modules != 1)}, "
          f"{size / 1e6:.1f} MB")
    return 0
