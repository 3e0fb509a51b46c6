"""netc.dsl: spec text -> AST (`parse`). Imports only lark and netc.source/netc.errors."""
