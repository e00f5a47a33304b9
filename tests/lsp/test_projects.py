"""A project in the editor (pytest-lsp, the real binary, the simulated Pico): the workspace
folder is the project; running its script measures every module it imports, and each of
those files gets its own diagnostics, decorations, hovers, inlay hints and lenses."""

import pathlib
import shutil

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from conftest import BINARY, ROOT, _record_custom
from test_lsp import open_doc, run_file, wait_until

pytestmark = pytest.mark.asyncio

SENSOR = ROOT / "tests" / "fixtures" / "projects" / "sensor"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[BINARY, "lsp"]))
async def project_client(lsp_client: LanguageClient, tmp_path_factory):
    _record_custom(lsp_client)
    workspace: pathlib.Path = tmp_path_factory.mktemp("project") / "sensor"
    shutil.copytree(SENSOR, workspace)
    lsp_client.workspace_dir = workspace  # type: ignore[attr-defined]
    params = types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="sensor")],
        initialization_options={"heaplens": {"board": "simulated", "runTimeoutSeconds": 30}},
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


def hover_text(hover) -> str:
    assert hover is not None
    return hover.contents.value


async def test_a_run_reaches_every_imported_module(project_client: LanguageClient):
    client = project_client
    workspace: pathlib.Path = client.workspace_dir  # type: ignore[attr-defined]
    main = open_doc(client, "main.py")
    filters = (workspace / "filters.py").as_uri()
    driver = (workspace / "lib" / "ssd1306.py").as_uri()
    summary = await run_file(client, main)
    assert summary.exception == "ValueError: reading 52 over the limit 50"
    # The summary names what reached the board and the files the run measured.
    assert "filters.py" in summary.copied and "lib/ssd1306.py" in summary.copied
    assert summary.files[0] == "main.py"
    assert {"filters.py", "sensors/__init__.py", "sensors/raw.py", "lib/ssd1306.py"} <= set(summary.files)
    # The output channel says what was copied.
    copied = [o for o in client.custom["heaplens/output"] if o.stream == "copied"]  # type: ignore[attr-defined]
    assert copied and "filters.py" in copied[0].text

    # The exception raised inside filters.py is a diagnostic of filters.py (never opened),
    # on its line, related to the script's calling line.
    await wait_until(lambda: filters in client.diagnostics)
    errors = [d for d in client.diagnostics[filters] if d.severity == types.DiagnosticSeverity.Error]
    assert len(errors) == 1, client.diagnostics[filters]
    assert errors[0].range.start.line == 18  # line 19
    assert errors[0].message == "ValueError: reading 52 over the limit 50"
    related = errors[0].related_information or []
    assert [(r.location.uri, r.location.range.start.line) for r in related] == [(main, 10)]
    assert not any(d.severity == types.DiagnosticSeverity.Error for d in client.diagnostics.get(main, []))

    # Decorations for the module, from the same run: its loop over enumerate() (line 8).
    decorations = [d for d in client.custom["heaplens/decorations"] if d.uri == driver]  # type: ignore[attr-defined]
    assert decorations and [(line.line, line.text) for line in decorations[-1].lines] == [(7, "+1.3 KiB ×40")]

    # Hovers, inlay hints and lenses in the module once it is opened.
    open_doc(client, "lib/ssd1306.py")
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=driver), position=types.Position(line=7, character=8))
    )
    text = hover_text(hover)
    assert "of `main.py`" in text, text
    assert "| hits | 40 |" in text, text
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=driver),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=20, character=0)),
        )
    )
    assert hints and [(h.position.line, h.label) for h in hints] == [(7, "+1.3 KiB ×40")], hints
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=driver))
    )
    titles = [lens.command.title for lens in lenses or [] if lens.command]
    assert any(t.startswith("last run of main.py: +") for t in titles), titles


async def test_an_edited_module_is_measured_and_fixed_errors_go_away(project_client: LanguageClient):
    client = project_client
    workspace: pathlib.Path = client.workspace_dir  # type: ignore[attr-defined]
    main = open_doc(client, "main.py")
    filters = (workspace / "filters.py").as_uri()
    await run_file(client, main)
    await wait_until(lambda: any(d.severity == types.DiagnosticSeverity.Error for d in client.diagnostics.get(filters, [])))
    # The limit is raised in filters.py (saved to disk, as an editor's save does): the next
    # run copies only that file, and its error is gone.
    path = workspace / "filters.py"
    path.write_text(path.read_text().replace("if v > limit:", "if v > limit + 100:"))
    summary = await run_file(client, main)
    assert summary.exception is None
    assert summary.copied == ["filters.py"]
    await wait_until(lambda: not any(d.severity == types.DiagnosticSeverity.Error for d in client.diagnostics.get(filters, [])))
