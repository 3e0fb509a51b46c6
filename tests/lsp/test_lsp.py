"""`netc lsp`: a real LSP client (pytest-lsp) drives `python -m netc lsp` over stdio.

One server for the module: each test opens its own document. What the server answers comes
from netc/lsp_features.py and netc/lsp_info.py; these tests check it arrives as the protocol
says (ranges, codes, edits), and that a spec that does not compile degrades, never fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls", reason="the language server needs the extra: pip install 'netc[lsp]'")
pytest.importorskip("pytest_lsp", reason="the LSP tests need pytest-lsp (the test extra)")

import pytest_lsp  # noqa: E402
from lsprotocol import types as t  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GOOD = "input: 2\naffine(10) -> relu -> affine(3) -> softmax_ce\n"
BAD = "input: 2\naffine(10) -> relu -> affin(3) -> softmax_ce\n"
BLOCKS = ("input: 784\nhidden = affine(50) -> relu\n"
          "hidden * 2 -> affine(10)@A -> affine(tied=A) -> affine(10) -> softmax_ce\n")
module = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(
    server_command=[sys.executable, "-m", "netc", "lsp"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=pytest_lsp.client_capabilities("visual-studio-code"),
        root_uri=ROOT.as_uri()))
    yield
    await lsp_client.shutdown_session()


async def _open(client: LanguageClient, name: str, text: str) -> str:
    uri = (ROOT / "tests" / "lsp" / name).as_uri()
    client.text_document_did_open(t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(
        uri=uri, language_id="net", version=1, text=text)))
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


def _doc(uri: str) -> t.TextDocumentIdentifier:
    return t.TextDocumentIdentifier(uri=uri)


@module
async def test_diagnostics_on_open_then_cleared_on_change(client: LanguageClient):
    uri = await _open(client, "bad.net", BAD)
    [d] = client.diagnostics[uri]
    assert d.code == "unknown_op" and d.severity == t.DiagnosticSeverity.Error
    assert d.range == t.Range(start=t.Position(line=1, character=22),
                              end=t.Position(line=1, character=27))
    assert "did you mean 'affine'?" in d.message and d.source == "netc"
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=GOOD)]))
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[uri]) == []


@module
async def test_lint_warnings_are_warnings(client: LanguageClient):
    uri = await _open(client, "lint.net", "input: 2\naffine(3) -> softmax -> softmax_ce\n")
    assert [(d.code, d.severity) for d in client.diagnostics[uri]] == [
        ("double_activation", t.DiagnosticSeverity.Warning)]


@module
async def test_hover_on_an_op_shows_arguments_shapes_and_parameters(client: LanguageClient):
    uri = await _open(client, "hover.net", GOOD)
    h = await client.text_document_hover_async(t.HoverParams(
        text_document=_doc(uri), position=t.Position(line=1, character=2)))
    text = h.contents.value
    assert "**affine** (layer)" in text and "`n_out`: int = required" in text
    assert "(batch, 2) -> (batch, 10), 30 parameters" in text


@module
async def test_hover_on_a_spec_that_does_not_compile_still_describes_the_op(
        client: LanguageClient):
    uri = await _open(client, "hover_bad.net", BAD)
    h = await client.text_document_hover_async(t.HoverParams(
        text_document=_doc(uri), position=t.Position(line=1, character=2)))
    assert "**affine**" in h.contents.value and "parameters" not in h.contents.value


@module
async def test_completion_offers_keywords_ops_optimizers_settings_and_blocks(
        client: LanguageClient):
    uri = await _open(client, "complete.net", BLOCKS)
    got = await client.text_document_completion_async(t.CompletionParams(
        text_document=_doc(uri), position=t.Position(line=1, character=16)))
    items = {i.label: i for i in got.items}
    assert items["n_out"].kind == t.CompletionItemKind.Field
    assert items["n_out"].detail == "int = required" and items["n_out"].insert_text == "n_out="
    assert {"relu", "conv", "adam", "sgd", "train", "hidden"} <= set(items)


@module
async def test_definition_and_references_of_a_block_and_a_label(client: LanguageClient):
    uri = await _open(client, "defs.net", BLOCKS)
    loc = await client.text_document_definition_async(t.DefinitionParams(
        text_document=_doc(uri), position=t.Position(line=2, character=3)))
    assert loc.range == t.Range(start=t.Position(line=1, character=0),
                                end=t.Position(line=1, character=6))
    tied = BLOCKS.splitlines()[2].index("tied=A") + 5
    refs = await client.text_document_references_async(t.ReferenceParams(
        text_document=_doc(uri), position=t.Position(line=2, character=tied),
        context=t.ReferenceContext(include_declaration=True)))
    assert [(r.range.start.line, r.range.start.character) for r in refs] == [
        (2, BLOCKS.splitlines()[2].index("@A") + 1), (2, tied)]


@module
async def test_formatting_returns_what_netc_fmt_writes(client: LanguageClient):
    from netc.dsl.printer import format_source

    messy = "input: 2\naffine( 10 )->relu -> affine(3) -> softmax_ce\n"
    uri = await _open(client, "fmt.net", messy)
    edits = await client.text_document_formatting_async(t.DocumentFormattingParams(
        text_document=_doc(uri), options=t.FormattingOptions(tab_size=4, insert_spaces=True)))
    [edit] = edits
    assert edit.new_text == format_source(messy) and edit.range.start == t.Position(
        line=0, character=0)


@module
async def test_inlay_hints_give_the_shape_after_each_stage(client: LanguageClient):
    uri = await _open(client, "hints.net", GOOD)
    hints = await client.text_document_inlay_hint_async(t.InlayHintParams(
        text_document=_doc(uri), range=t.Range(start=t.Position(line=0, character=0),
                                                end=t.Position(line=2, character=0))))
    assert [(h.position.character, h.label) for h in hints] == [
        (10, ": (batch, 10)"), (18, ": (batch, 10)"), (31, ": (batch, 3)")]
    uri = await _open(client, "hints_bad.net", BAD)
    assert not await client.text_document_inlay_hint_async(t.InlayHintParams(
        text_document=_doc(uri), range=t.Range(start=t.Position(line=0, character=0),
                                                end=t.Position(line=2, character=0))))
