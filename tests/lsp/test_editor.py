"""What an editor shows around a run, through the real server and the simulated Pico: each
run's start, output and traceback; plain runs; snapshot names; the snapshot list's Clear;
heat marks following the hint threshold; no sampling advice after Stop; the REPL terminal
on the board, released while a run has it."""

import asyncio

from lsprotocol import types
from pytest_lsp import LanguageClient

from test_lsp import command_job, open_doc, run_file, wait_until


def of_job(client: LanguageClient, method: str, job_id: int):
    return [p for p in client.custom[method] if getattr(p, "runId", getattr(p, "jobId", None)) == job_id]


async def test_a_run_starts_streams_its_output_then_its_traceback(client: LanguageClient):
    uri = open_doc(client, "nested_error.py")
    job = await command_job(client, "heaplens.runFile", [uri])
    started = of_job(client, "heaplens/jobStarted", job.jobId)
    assert len(started) == 1 and started[0].kind == "run" and started[0].uri == uri
    outputs = of_job(client, "heaplens/output", job.jobId)
    assert outputs, "the traceback reaches the output"
    assert outputs[-1].stream == "traceback"
    traceback = outputs[-1].text
    assert traceback.startswith("Traceback (most recent call last):"), traceback
    assert 'File "<stdin>", line 6, in parse' in traceback, traceback
    assert traceback.rstrip().endswith("ValueError: invalid syntax for integer with base 10: 'three'")
    # Before the script's output: which project files reached the board (a fresh board: all).
    assert outputs[0].stream == "copied" and "nested_error.py" in outputs[0].text
    assert all(o.stream == "stdout" for o in outputs[1:-1])
    # The jobStarted came before anything else of the job, and its end after everything.
    names = [s.name for s in client.custom["heaplens/snapshot"] if s.runId == job.jobId]
    assert names == ["before", "at end", "after gc"], "streamed names are the moment's"
    listed = await client.protocol.send_request_async("heaplens/listSnapshots", {})
    assert [s.name for s in listed.snapshots if s.runId == job.jobId] == ["before", "at failure", "after gc"]


async def test_a_plain_run_runs_the_script_as_it_is(client: LanguageClient):
    uri = open_doc(client, "parrot.py")
    job = await command_job(client, "heaplens.runPlain", [uri])
    assert job.kind == "plainRun"
    assert job.run.exception == "MemoryError: memory allocation failed, allocating 98305 bytes"
    assert job.run.instrumented is False
    assert not [s for s in client.custom["heaplens/snapshot"] if s.runId == job.jobId], "no captures"
    traceback = of_job(client, "heaplens/output", job.jobId)[-1]
    assert traceback.stream == "traceback"
    assert 'File "<stdin>", line 10, in <module>' in traceback.text, traceback.text
    # A plain run leaves the document's marks alone.
    assert uri not in client.diagnostics or not client.diagnostics[uri]


async def test_after_gc_links_its_blocks_to_lines_and_the_list_clears(client: LanguageClient):
    uri = open_doc(client, "known_sizes.py")
    job = await command_job(client, "heaplens.runFile", [uri])
    after_gc = next(s for s in client.custom["heaplens/snapshot"] if s.runId == job.jobId and s.label == "after-gc")
    lines = {a.line for a in after_gc.allocationLines}
    # known_sizes keeps a..g alive: their lines (0-based 8, 9, 11) still own blocks after gc.
    assert {8, 9, 11} <= lines, lines
    cleared = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.clearSnapshots"))
    assert cleared["cleared"] == 3
    listed = await client.protocol.send_request_async("heaplens/listSnapshots", {})
    assert listed.snapshots == []


async def test_heat_marks_follow_the_hint_threshold_at_once(client: LanguageClient):
    uri = open_doc(client, "known_sizes.py")
    await run_file(client, uri)
    marked = {d.line for d in client.custom["heaplens/decorations"][-1].lines}
    # Default hintBytes 1024: only the 1 KiB bytearray (line 9) and the 5000-byte str (line 12).
    assert marked == {8, 11}, marked
    count = len(client.custom["heaplens/decorations"])
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"heaplens": {"thresholds": {"hintBytes": 100}}}))
    await wait_until(lambda: len(client.custom["heaplens/decorations"]) > count)
    marked = {d.line for d in client.custom["heaplens/decorations"][-1].lines}
    assert marked == {8, 9, 11, 13, 14}, marked


async def test_a_stopped_run_gets_no_sampling_advice(client: LanguageClient):
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"heaplens": {"sampleExecutions": 0}})
    )
    uri = open_doc(client, "runaway.py")
    run = asyncio.ensure_future(run_file(client, uri))
    await wait_until(lambda: any(s.label == "before" and s.file == uri for s in client.custom["heaplens/snapshot"]))
    # Long enough that an unstopped run this slow would be advised to sample.
    await asyncio.sleep(6)
    await client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.stop"))
    result = await run
    assert result.interrupted and result.elapsedMs > 5000
    assert not [m for m in client.messages if "sampleExecutions" in m.message], client.messages


def repl_text(client: LanguageClient) -> str:
    return "".join(p.text for p in client.custom["heaplens/replOutput"])


async def test_the_repl_is_the_boards_and_is_released_while_a_run_has_it(client: LanguageClient):
    job = await command_job(client, "heaplens.openRepl")
    assert job.kind == "repl"
    await wait_until(lambda: any(s.state == "attached" for s in client.custom["heaplens/replState"]))
    await wait_until(lambda: ">>> " in repl_text(client))
    client.protocol.notify("heaplens/replInput", {"text": "print(6 * 7)\r"})
    # The unix port ends program output in LF, a Pico in CR LF: both are the board's own.
    await wait_until(lambda: "\n42\n" in repl_text(client).replace("\r", ""))
    # A run takes the board, then gives the REPL back.
    uri = open_doc(client, "known_sizes.py")
    await run_file(client, uri)
    states = [(s.state, getattr(s, "message", None)) for s in client.custom["heaplens/replState"]]
    released = [m for state, m in states if state == "released"]
    assert released and "known_sizes.py" in released[0], states
    await wait_until(lambda: client.custom["heaplens/replState"][-1].state == "attached")
    # The run soft-reset the board: what the REPL defined before is gone, the REPL works.
    mark = len(repl_text(client))
    client.protocol.notify("heaplens/replInput", {"text": "print(len('abc') * 11)\r"})
    await wait_until(lambda: "\n33\n" in repl_text(client)[mark:].replace("\r", ""))
    closed = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.closeRepl"))
    assert closed["closed"] is True
    await wait_until(lambda: client.custom["heaplens/replState"][-1].state == "closed")
    # Runs still work after the REPL.
    assert (await run_file(client, uri)).exception is None


async def test_leak_py_says_leak_and_a_def_line_is_a_definition(client: LanguageClient):
    uri = open_doc(client, "leak.py")
    await run_file(client, uri)
    leaks = [d for d in client.diagnostics[uri] if d.code == "leak"]
    # Line 8 keeps every "event %d" string in the module-level list: a leak after gc.collect().
    assert [d.range.start.line for d in leaks] == [7], client.diagnostics[uri]
    assert leaks[0].severity == types.DiagnosticSeverity.Warning
    assert leaks[0].message.startswith("leak: at least ")
    assert "still held after gc.collect(), from several of its 500 hits" in leaks[0].message
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=6, character=2))
    )
    text = hover.contents.value
    # `def handle(i):` ran once (the definition); its 500 calls are counted where they are made.
    assert "| hits | 1 |" in text, text
    assert "_A definition: its hits and bytes are creating the function or class" in text, text
