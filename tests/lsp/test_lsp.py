"""End-to-end tests of `heaplens lsp` with a real LSP client (pytest-lsp / pygls), the real
binary and the simulated Pico. They assert what an editor would show."""

import asyncio
import os
import pathlib
import signal

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio


def uri_of(client: LanguageClient, name: str) -> str:
    return (client.workspace_dir / name).as_uri()  # type: ignore[attr-defined]


def open_doc(client: LanguageClient, name: str, language: str = "python") -> str:
    path: pathlib.Path = client.workspace_dir / name  # type: ignore[attr-defined]
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=path.read_text())
        )
    )
    return uri


def kib_and_bytes(n: int) -> str:
    """HeapLens's one unit system: `96.0 KiB (98,305 bytes)`, `512 B` under a KiB."""
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB ({n:,} bytes)"


async def wait_until(predicate, timeout=60.0):
    """Polls `predicate` (the tests wait for what the server sends, never on a clock)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


class JobFailed(Exception):
    """A board job ended with an error (its `heaplens/jobFinished` carried one)."""

    def __init__(self, error):
        super().__init__(f"{error.code}: {error.message}")
        self.code = error.code


async def command_job(client: LanguageClient, command: str, arguments=None):
    """Runs a command that starts a board job: it answers at once with the job's id; waits
    for the job's `heaplens/jobFinished` and returns it (raises JobFailed on an error)."""
    started = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=arguments or [])
    )
    job_id = started["jobId"]
    finished = client.custom["heaplens/jobFinished"]  # type: ignore[attr-defined]
    await wait_until(lambda: any(j.jobId == job_id for j in finished))
    job = next(j for j in finished if j.jobId == job_id)
    if job.error is not None:
        raise JobFailed(job.error)
    return job


async def run_file(client: LanguageClient, uri: str):
    """Runs `uri` and returns the run's summary once everything it produced has arrived."""
    job = await command_job(client, "heaplens.runFile", [uri])
    return job.run


async def test_save_of_parrot_gives_memory_error_on_line_10(client: LanguageClient):
    uri = open_doc(client, "parrot.py")
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await wait_until(lambda: any(d.severity == types.DiagnosticSeverity.Error for d in client.diagnostics.get(uri, [])))
    errors = [d for d in client.diagnostics[uri] if d.severity == types.DiagnosticSeverity.Error]
    assert len(errors) == 1
    err = errors[0]
    assert err.range.start.line == 9  # line 10, 0-based
    assert err.code == "memory-error-heap-full"
    # The simulated Pico has 32-byte blocks: 98305 bytes = 3073 blocks; the numbers come from
    # the failure-time snapshot.
    assert err.message.startswith("allocation of 98,305 bytes exceeds the longest free run at failure, ")
    assert "the heap is full" in err.message
    # Three snapshots per run: before, after, after-gc.
    await wait_until(lambda: len(client.custom["heaplens/snapshot"]) >= 3)
    labels = [s.label for s in client.custom["heaplens/snapshot"]]
    assert labels == ["before", "after", "after-gc"]
    # The numbers in the message are the after (failure-time) snapshot's.
    after = client.custom["heaplens/snapshot"][1]
    assert f"at failure, {kib_and_bytes(after.stats.max_free_bytes)};" in err.message


async def test_hover_shows_line_deltas(client: LanguageClient):
    uri = open_doc(client, "known_sizes.py")
    result = await run_file(client, uri)
    assert result.exception is None
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=8, character=2))
    )
    assert hover is not None
    text = hover.contents.value
    assert "| hits | 1 |" in text
    assert "| allocated | 1.0 KiB (1,056 bytes) |" in text  # bytearray(1000) on 32-byte blocks
    # heaplens.traceAllocations is on by default: the after snapshot says which line made
    # each new allocation (0-based lines), so the heap map can jump to it.
    await wait_until(lambda: any(s.label == "after" and s.file == uri for s in client.custom["heaplens/snapshot"]))
    after = next(s for s in client.custom["heaplens/snapshot"] if s.label == "after" and s.file == uri)
    traced = {a.line for a in after.allocationLines}
    assert {8, 9, 11} <= traced, traced
    before = next(s for s in client.custom["heaplens/snapshot"] if s.label == "before" and s.file == uri)
    assert not getattr(before, "allocationLines", None)
    # A second run compares against the first.
    await run_file(client, uri)
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=8, character=0))
    )
    assert "| vs previous run | no change (was 1.0 KiB) |" in hover.contents.value
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=20, character=0)),
        )
    )
    labels = {h.position.line: h.label for h in hints}
    assert labels[8] == "+1.0 KiB"
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    titles = [lens.command.title for lens in lenses]
    assert titles[:2] == ["▶ Run with heap capture", "Capture heap"]
    assert titles[2].startswith("last run: +")
    decorations = client.custom["heaplens/decorations"][-1]
    assert any(d.line == 8 and d.text == "+1.0 KiB" for d in decorations.lines)


async def test_commands(client: LanguageClient):
    capture = await command_job(client, "heaplens.captureHeap", [{"gc": True}])
    snap_id = capture.snapshotId
    # The snapshot itself arrived before the job's end.
    snap = next(s for s in client.custom["heaplens/snapshot"] if s.id == snap_id)
    assert snap.label == "capture"
    assert snap.blockBytes == 32
    assert snap.stats.gc_total == 232960
    listed = await client.protocol.send_request_async("heaplens/listSnapshots", {})
    assert [s.id for s in listed.snapshots] == [snap_id]
    second = await command_job(client, "heaplens.captureHeap")
    diff = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="heaplens.compareSnapshots", arguments=[snap_id, second.snapshotId])
    )
    assert diff["before"] == snap_id and diff["areas"][0]["blocks"] == 7280
    got = await client.protocol.send_request_async("heaplens/getSnapshot", {"id": snap_id})
    assert got.id == snap_id and got.areas[0].blocks == 7280
    reset = await command_job(client, "heaplens.softReset")
    assert reset.kind == "softReset"
    boards = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.listBoards"))
    assert boards["boards"][-1]["label"] == "Simulated Pico"
    selected = await command_job(client, "heaplens.selectBoard", ["simulated"])
    assert selected.kind == "selectBoard"
    await wait_until(lambda: any(s.state == "simulated" for s in client.custom["heaplens/boardStatus"]))


async def test_stop_interrupts_runaway_and_hover_answers_during_run(client: LanguageClient):
    uri = open_doc(client, "runaway.py")
    known = open_doc(client, "known_sizes.py")
    await run_file(client, known)
    run = asyncio.ensure_future(run_file(client, uri))
    await wait_until(lambda: any(s.label == "before" and s.file == uri for s in client.custom["heaplens/snapshot"]))
    # The run is in progress (its before snapshot arrived, its result has not): a hover on
    # another file must still be answered.
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=known), position=types.Position(line=8, character=0))
    )
    assert "(1,056 bytes)" in hover.contents.value
    # Listing boards is not board work either: it must not queue behind the run.
    boards = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.listBoards"))
    assert boards["boards"][-1]["board"] == "simulated"
    assert not run.done()
    stopped = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.stop"))
    assert stopped["stopped"] is not None
    result = await run
    assert result.exception.startswith("KeyboardInterrupt")
    infos = [d for d in client.diagnostics[uri] if d.code == "interrupted"]
    assert infos and infos[0].range.start.line in (5, 6)
    # The next run works.
    again = await run_file(client, known)
    assert again.exception is None


def _children(pid: int) -> list[int]:
    out = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


def _descendants(pid: int) -> list[int]:
    out = []
    for child in _children(pid):
        out.append(child)
        out.extend(_descendants(child))
    return out


async def test_board_vanishing_mid_run_is_reported_and_reconnects(client: LanguageClient):
    uri = open_doc(client, "runaway.py")
    run = asyncio.ensure_future(run_file(client, uri))
    await wait_until(lambda: any(s.label == "before" and s.file == uri for s in client.custom["heaplens/snapshot"]))
    server_pid = client._server.pid  # type: ignore[union-attr]
    victims = _descendants(server_pid)
    assert victims, "the simulated board's interpreter runs as a child of the server"
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    with pytest.raises(JobFailed) as failed:
        await run
    assert failed.value.code == "disconnected"
    # The board failed, not the script: nothing is marked in the document (its first line is a
    # comment), the message says what happened.
    assert not client.diagnostics.get(uri), client.diagnostics.get(uri)
    await wait_until(lambda: any("the run failed" in m.message for m in client.messages))
    await wait_until(lambda: any(s.state == "disconnected" for s in client.custom["heaplens/boardStatus"]), timeout=10)
    # The server is still up, and the next run reopens the board.
    known = open_doc(client, "known_sizes.py")
    again = await run_file(client, known)
    assert again.exception is None


async def test_heap_dump_documents(client: LanguageClient):
    dump = (pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "meminfo" / "pico-seed-192064.txt").read_text()
    path = client.workspace_dir / "seed.mpheap"  # type: ignore[attr-defined]
    path.write_text(dump)
    uri = open_doc(client, "seed.mpheap", language="mpheap")
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=4, character=18))
    )
    assert hover.contents.value.startswith("**tuple** `T` · block 11 of area 0")
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert [s.name for s in symbols] == ["Header", "Area 0: Area from 200084a0"]
    bad = client.workspace_dir / "bad.mpheap"  # type: ignore[attr-defined]
    bad.write_text("GC: total: banana\n")
    bad_uri = open_doc(client, "bad.mpheap", language="mpheap")
    await wait_until(lambda: bool(client.diagnostics.get(bad_uri)))
    assert client.diagnostics[bad_uri][0].severity == types.DiagnosticSeverity.Error


async def test_a_dump_log_shows_each_dump_and_opens_any_of_them(client: LanguageClient):
    fixtures = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "meminfo" / "real-world"
    text = (fixtures / "pyboard-v1.6-issue1877-series.txt").read_text()
    path = client.workspace_dir / "log.mpheap"  # type: ignore[attr-defined]
    path.write_text(text)
    uri = open_doc(client, "log.mpheap", language="mpheap")
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert [s.name for s in symbols] == [f"Dump {n}" for n in range(1, 6)]
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert [lens.command.title for lens in lenses][:2] == ["Open all 5 dumps as a timeline", "Open dump 1 of 5 as heap map"]
    assert list(lenses[3].command.arguments) == [uri, 2]
    # The old header has no `max free sz`: a warning on each dump's GC line, not a 0.
    await wait_until(lambda: len(client.diagnostics.get(uri, [])) >= 5)
    assert all("max free sz" in d.message for d in client.diagnostics[uri] if "unknown" in d.message)
    third = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="heaplens.openDump", arguments=[uri, 2])
    )
    assert third["dump"] == 3
    assert third["stats"]["used"] == 8896 and third["stats"]["max_free_blocks"] is None
    series = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="heaplens.openDump", arguments=[uri])
    )
    assert series["dump"] == 1
    listed = await client.protocol.send_request_async("heaplens/listSnapshots", {})
    mine = [s for s in listed.snapshots if s.file == uri]
    # Dump 3, opened first and again with the others, is listed once, in the series' order.
    assert [s.dump for s in mine] == [1, 2, 3, 4, 5]
    assert [s.used for s in mine] == [8768, 8832, 8896, 8960, 9024]


async def test_bad_settings_are_reported(client: LanguageClient):
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"heaplens": {"board": "banana", "simulatedHeapBytes": "big"}})
    )
    await wait_until(lambda: len(client.messages) >= 2)
    texts = [m.message for m in client.messages]
    assert any("banana" in t for t in texts)
    assert any("simulatedHeapBytes" in t for t in texts)
    # Still serving.
    capture = await command_job(client, "heaplens.captureHeap")
    assert capture.snapshotId.startswith("s")


async def test_progress_reports_phases_and_cancel_button_stops_the_run(client: LanguageClient):
    uri = open_doc(client, "runaway.py")
    run = asyncio.ensure_future(run_file(client, uri))
    await wait_until(lambda: any(s.label == "before" and s.file == uri for s in client.custom["heaplens/snapshot"]))
    token = next(t for t in client.progress_reports if str(t).startswith("heaplens/run/"))
    await wait_until(lambda: any(getattr(r, "message", None) == "running" for r in client.progress_reports[token]))
    # The user presses Cancel on the progress notification.
    client.protocol.notify("window/workDoneProgress/cancel", types.WorkDoneProgressCancelParams(token=token))
    result = await run
    assert result.exception.startswith("KeyboardInterrupt")
    reports = client.progress_reports[token]
    assert reports[0].kind == "begin" and reports[0].cancellable
    messages = [r.message for r in reports if r.kind == "report"]
    # The project's files are checked first; the first run on a just-started simulated Pico
    # needs no soft reset.
    assert messages[0] == "copying project files"
    assert [m for m in messages[1:] if m != "soft reset"][:2] == ["before snapshot", "running"]
    assert reports[-1].kind == "end"


async def test_board_status_is_known_before_the_first_run(client: LanguageClient):
    # No run, no command: the server opens the board on `initialized` so the status bar can
    # show it at once.
    await wait_until(lambda: any(s.state == "simulated" for s in client.custom["heaplens/boardStatus"]), timeout=20)
    status = next(s for s in client.custom["heaplens/boardStatus"] if s.state == "simulated")
    assert status.port.startswith("/dev/pts/")
    assert status.firmware.startswith("micropython 1.29")
    assert not status.firmware.endswith("version"), status.firmware  # the unix banner's last word


async def test_estimated_lines_are_marked(client: LanguageClient):
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"heaplens": {"sampleExecutions": 8, "thresholds": {"hintBytes": 1}}})
    )
    uri = open_doc(client, "leak.py")
    result = await run_file(client, uri)
    assert result.exception is None

    async def hover(line: int) -> str:
        h = await client.text_document_hover_async(
            types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=4))
        )
        assert h is not None
        return h.contents.value

    # Line 8 (0-based 7) ran 500 times: every hit counted, the first 8 allocating executions
    # measured, the rest estimated.
    text = await hover(7)
    assert "| hits | 500 |" in text, text
    assert "estimated |" in text, text
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=20, character=0)),
        )
    )
    labels = {h.position.line: h.label for h in hints}
    assert labels[7].startswith("≈+") and labels[7].endswith(" ×500"), labels


async def test_a_script_too_big_for_its_probes_runs_plain_and_says_so(client: LanguageClient):
    # Three copies of a script of every construct: with a 99000-byte heap (~42 KB of it the
    # Pico modules loaded at boot) the plain script compiles but the instrumented one does not
    # (from about 90 KB to 110 KB).
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"heaplens": {"simulatedHeapBytes": 99000}})
    )
    script = pathlib.Path(__file__).parents[2] / "server" / "src" / "run" / "testdata" / "constructs.py"
    (client.workspace_dir / "constructs.py").write_text(script.read_text() * 3)  # type: ignore[attr-defined]
    uri = open_doc(client, "constructs.py")
    result = await run_file(client, uri)
    assert result.exception is None
    await wait_until(lambda: any("without probes" in m.message for m in client.messages))
    message = next(m.message for m in client.messages if "without probes" in m.message)
    assert "too big to compile" in message
    assert not [d for d in client.diagnostics.get(uri, []) if d.severity == types.DiagnosticSeverity.Error]
