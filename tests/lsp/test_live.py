"""Live heap through the language server: a Pico-style endless loop stopped by the run
timeout streams its heap timeline (`heaplens/timeline`) while it runs, and its unbounded
line, not its bounded one, gets the `leak` diagnostic, whose method the hover explains."""

from lsprotocol import types
from pytest_lsp import LanguageClient

from test_lsp import command_job, open_doc


async def test_an_endless_loop_streams_its_timeline_and_names_its_leak(client: LanguageClient):
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"heaplens": {"runTimeoutSeconds": 3}})
    )
    uri = open_doc(client, "endless_leak.py")
    job = await command_job(client, "heaplens.runFile", [uri])
    assert job.run.interrupted
    job_id = job.jobId

    arrivals = client.arrivals  # type: ignore[attr-defined]
    timeline = [
        (i, p) for i, (m, p) in enumerate(arrivals) if m == "heaplens/timeline" and p.runId == job_id
    ]
    # Streamed: several notifications while the script ran, all before the snapshot taken
    # after it stopped, and the job's end after everything.
    assert len(timeline) >= 2, timeline
    after = next(
        i
        for i, (m, p) in enumerate(arrivals)
        if m == "heaplens/snapshot" and p.runId == job_id and p.label == "after"
    )
    finished = next(
        i for i, (m, p) in enumerate(arrivals) if m == "heaplens/jobFinished" and p.jobId == job_id
    )
    assert all(i < after < finished for i, _ in timeline)
    assert {p.uri for _, p in timeline} == {uri}
    assert {p.intervalMs for _, p in timeline} == {100}
    samples = [s for _, p in timeline for s in p.samples]
    assert len(samples) >= 10, len(samples)
    times = [s.tMs for s in samples]
    assert times == sorted(times) and len(set(times)) == len(times), times
    assert samples[-1].used > samples[0].used, "the unbounded list grows the heap"
    assert all(s.used > 0 and s.free > 0 for s in samples)

    # `leak` on the never-trimmed list's line (0-based 10), not on the bounded one (7).
    leaks = [d for d in client.diagnostics[uri] if d.code == "leak"]
    assert [d.range.start.line for d in leaks] == [10], client.diagnostics[uri]
    assert " per execution, +" in leaks[0].message and leaks[0].message.endswith(" per second)")
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=10, character=4)
        )
    )
    assert hover is not None and "How HeapLens finds leaks" in hover.contents.value, hover
    # The bounded line's hover has figures but no leak method.
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=7, character=4)
        )
    )
    assert hover is not None and "How HeapLens finds leaks" not in hover.contents.value
