"""`netc lsp`: a Language Server Protocol server for .net specs over stdio (extra `netc[lsp]`).

Stage: an editor front end over the compiler. This module only speaks the protocol (pygls):
it keeps each open document's latest `Analysis` (netc/lsp_features.py compiles it, once per
change) and turns the pure answers of lsp_features.py and lsp_info.py into protocol types.
Diagnostics are the errors and lint warnings of `netc check`/`netc lint`; hover, completion,
definitions, references, formatting (`netc fmt`'s printer) and inlay hints (the shape after
each stage) follow. Every handler answers "nothing" rather than raise: a bug in netc must
not show an editor a protocol error on each keystroke.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer

from . import __version__
from .lsp_features import Analysis, analyse, definition, formatted, message, references, span_range
from .lsp_info import completions, hover, inlay_hints

log = logging.getLogger(__name__)

_SEVERITY = {"error": t.DiagnosticSeverity.Error, "warning": t.DiagnosticSeverity.Warning}
_KIND = {"op": t.CompletionItemKind.Function, "optimizer": t.CompletionItemKind.Class,
         "setting": t.CompletionItemKind.Property, "keyword": t.CompletionItemKind.Field,
         "name": t.CompletionItemKind.Variable}


class NetcServer(LanguageServer):
    """The server and, per document URI, the analysis of the text it last saw."""

    def __init__(self) -> None:
        super().__init__("netc", __version__)
        self.analyses: dict[str, tuple[str, Analysis]] = {}

    def analysis(self, uri: str) -> Analysis:
        """The document's analysis, recomputed only when its text changed."""
        doc = self.workspace.get_text_document(uri)
        text = doc.source
        cached = self.analyses.get(uri)
        if cached is None or cached[0] != text:
            cached = (text, analyse(text, doc.path or uri))
            self.analyses[uri] = cached
        return cached[1]


def _safe(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Log a handler's exception and answer None instead (the client sees no error)."""

    @functools.wraps(fn)
    def wrapper(ls: NetcServer, params: Any) -> Any:
        try:
            return fn(ls, params)
        except Exception:  # noqa: BLE001 - see the module docstring
            log.exception("netc lsp: %s failed", fn.__name__)
            return None

    return wrapper


class _Units:
    """Positions between netc (characters) and the client (UTF-16 units by default)."""

    def __init__(self, ls: NetcServer, uri: str) -> None:
        doc = ls.workspace.get_text_document(uri)
        self.codec, self.lines = doc.position_codec, doc.lines

    def pos(self, p: tuple[int, int]) -> t.Position:
        return self.codec.position_to_client_units(
            self.lines, t.Position(line=p[0], character=p[1]))

    def range(self, r: tuple[tuple[int, int], tuple[int, int]]) -> t.Range:
        return t.Range(start=self.pos(r[0]), end=self.pos(r[1]))

    def at(self, p: t.Position) -> tuple[int, int]:
        found = self.codec.position_from_client_units(
            self.lines, t.Position(line=p.line, character=p.character))
        return found.line, found.character


def publish(ls: NetcServer, uri: str) -> None:
    """Send the document's errors and warnings (an empty list clears the old ones)."""
    a, units = ls.analysis(uri), _Units(ls, uri)
    found = [t.Diagnostic(range=units.range(span_range(a, d.span)), message=message(d),
                          severity=_SEVERITY.get(d.severity, t.DiagnosticSeverity.Error),
                          code=d.code, source="netc") for d in a.diagnostics]
    version = ls.workspace.get_text_document(uri).version
    ls.text_document_publish_diagnostics(
        t.PublishDiagnosticsParams(uri=uri, diagnostics=found, version=version))


def create_server() -> NetcServer:
    """A server with every feature registered (tests may drive it in-process)."""
    server = NetcServer()

    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    @_safe
    def did_open(ls: NetcServer, params: t.DidOpenTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    @_safe
    def did_change(ls: NetcServer, params: t.DidChangeTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    @_safe
    def did_close(ls: NetcServer, params: t.DidCloseTextDocumentParams) -> None:
        ls.analyses.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(
            t.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    _navigation(server)
    _editing(server)
    return server


def _navigation(server: NetcServer) -> None:
    @server.feature(t.TEXT_DOCUMENT_HOVER)
    @_safe
    def on_hover(ls: NetcServer, params: t.HoverParams) -> t.Hover | None:
        uri = params.text_document.uri
        a, units = ls.analysis(uri), _Units(ls, uri)
        found = hover(a, units.at(params.position))
        if found is None:
            return None
        text, (start, end) = found
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text),
                       range=units.range(a.range_of(start, end)))

    @server.feature(t.TEXT_DOCUMENT_DEFINITION)
    @_safe
    def on_definition(ls: NetcServer, params: t.DefinitionParams) -> t.Location | None:
        uri = params.text_document.uri
        units = _Units(ls, uri)
        found = definition(ls.analysis(uri), units.at(params.position))
        return t.Location(uri=uri, range=units.range(found)) if found else None

    @server.feature(t.TEXT_DOCUMENT_REFERENCES)
    @_safe
    def on_references(ls: NetcServer, params: t.ReferenceParams) -> list[t.Location]:
        uri = params.text_document.uri
        units = _Units(ls, uri)
        found = references(ls.analysis(uri), units.at(params.position),
                           declaration=params.context.include_declaration)
        return [t.Location(uri=uri, range=units.range(r)) for r in found]


def _editing(server: NetcServer) -> None:
    @server.feature(t.TEXT_DOCUMENT_COMPLETION,
                    t.CompletionOptions(trigger_characters=["(", ",", ":", ">"]))
    @_safe
    def on_completion(ls: NetcServer, params: t.CompletionParams) -> t.CompletionList:
        uri = params.text_document.uri
        a, units = ls.analysis(uri), _Units(ls, uri)
        items = [t.CompletionItem(
            label=c.label, kind=_KIND[c.kind], detail=c.detail or None,
            documentation=(t.MarkupContent(kind=t.MarkupKind.Markdown, value=c.documentation)
                           if c.documentation else None),
            insert_text=c.insert_text, sort_text=f"{i:04d}")
            for i, c in enumerate(completions(a, units.at(params.position)))]
        return t.CompletionList(is_incomplete=False, items=items)

    @server.feature(t.TEXT_DOCUMENT_FORMATTING)
    @_safe
    def on_formatting(ls: NetcServer, params: t.DocumentFormattingParams) -> list[t.TextEdit]:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        new = formatted(doc.source, doc.path or doc.uri)
        if new is None:
            return []
        lines = doc.lines
        end = ((len(lines), 0) if not lines or lines[-1].endswith("\n")
               else (len(lines) - 1, len(lines[-1])))
        whole = t.Range(start=t.Position(line=0, character=0),
                        end=_Units(ls, doc.uri).pos(end))
        return [t.TextEdit(range=whole, new_text=new)]

    @server.feature(t.TEXT_DOCUMENT_INLAY_HINT)
    @_safe
    def on_inlay_hint(ls: NetcServer, params: t.InlayHintParams) -> list[t.InlayHint]:
        uri = params.text_document.uri
        a, units = ls.analysis(uri), _Units(ls, uri)
        lo, hi = a.offset(units.at(params.range.start)), a.offset(units.at(params.range.end))
        return [t.InlayHint(position=units.pos(a.position(off)), label=label,
                            kind=t.InlayHintKind.Type, padding_left=True)
                for off, label in inlay_hints(a, lo, hi)]


def serve() -> None:
    """Run the server on stdin/stdout until the client says exit."""
    create_server().start_io()
