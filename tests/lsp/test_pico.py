"""A Pico script in the editor (issue 15, part 3): `from machine import Pin` and the rest of
the Pico tour run on the simulated Pico through the language server, with their output
streamed and the modules' own heap outside the script's figures."""

import shutil

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from conftest import ROOT
from test_lsp import open_doc, run_file, wait_until

pytestmark = pytest.mark.asyncio

TOUR = ROOT / "tests" / "fixtures" / "pico" / "tour.py"


async def test_the_pico_tour_runs_in_the_editor(client: LanguageClient):
    shutil.copy(TOUR, client.workspace_dir / "tour.py")  # type: ignore[attr-defined]
    uri = open_doc(client, "tour.py")
    run = await run_file(client, uri)
    assert run.exception is None
    printed = "".join(o.text for o in client.custom["heaplens/output"] if o.stream == "stdout")
    assert "i2c scan ['0x3c', '0x76']" in printed
    assert "temperature 27.0" in printed
    assert "timer fired while sleeping True True" in printed
    assert "pio True ['0xff01', '0xbf42', '0xff00', '0xbf42']" in printed
    # No error diagnostics; the import line is charged only its names, not the modules.
    await wait_until(lambda: uri in client.diagnostics)
    assert [d for d in client.diagnostics[uri] if d.severity == types.DiagnosticSeverity.Error] == []
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=4, character=0))
    )
    text = hover.contents.value if hover is not None else ""
    assert "128 B" in text or "96 B" in text or "64 B" in text, text
    assert "KB" not in text, text
