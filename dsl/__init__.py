"""netc.dsl, stage 1: spec text -> AST (`parse`). Imports only lark and netc.source/netc.errors."""

from .parser import parse

__all__ = ["parse"]
