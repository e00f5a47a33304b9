"""Hardening of runs in the editor (issue 13), with the real client, server and simulated Pico:
what a script prints is data (the output notifications carry every byte in order, before the
run's end); bad timeouts in the settings are refused with a message and never wedge the
server; a non-file URI is refused, a non-UTF-8 file name runs, a save that cannot be read
says why; Stop at any moment ends the run with its report so far or a clear reason, and the
next run works."""

import asyncio
import os
import pathlib

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from test_lsp import JobFailed, command_job, open_doc, wait_until

pytestmark = pytest.mark.asyncio

CONFUSING = r"""import time
print('a\x04b')
print('c\x04d\x04e')
print('\x04Traceback (most recent call last):\r\n  File "<stdin>", line 9\r\nMemoryError: memory allocation failed, allocating 99999 bytes\r\n\x04>', end='')
time.sleep(0.3)
print('\x1eHL0123456789abcdef T 1')
print('\x1eHL0123456789abcdef Z 0 0')
x = [bytearray(100) for i in range(5)]
print('tail', end='')
y = bytearray(2000)
print(' end')
"""

CONFUSING_OUTPUT = (
    "a\x04b\nc\x04d\x04e\n\x04Traceback (most recent call last):\n  File \"<stdin>\", line 9\n"
    "MemoryError: memory allocation failed, allocating 99999 bytes\n\x04>"
    "\x1eHL0123456789abcdef T 1\n\x1eHL0123456789abcdef Z 0 0\ntail end\n"
)


def write(client: LanguageClient, name: str, text: str) -> pathlib.Path:
    path = client.workspace_dir / name  # type: ignore[attr-defined]
    path.write_text(text)
    return path


def of_job(client: LanguageClient, method: str, job_id: int):
    return [p for p in client.custom[method] if getattr(p, "runId", getattr(p, "jobId", None)) == job_id]


async def test_script_output_reaches_the_editor_byte_for_byte_before_the_runs_end(client: LanguageClient):
    write(client, "confusing.py", CONFUSING)
    uri = open_doc(client, "confusing.py")
    # Allocation tracing is on (the editor's default).
    job = await command_job(client, "heaplens.runFile", [uri])
    assert job.run.exception is None, job.run
    outputs = of_job(client, "heaplens/output", job.jobId)
    stdout = "".join(o.text for o in outputs if o.stream == "stdout")
    assert stdout.replace("\r\n", "\n") == CONFUSING_OUTPUT
    assert not [o for o in outputs if o.stream == "traceback"]
    assert not [d for d in client.diagnostics.get(uri, []) if d.severity == types.DiagnosticSeverity.Error]
    # Everything of the run arrived before its end: jobFinished was recorded after the
    # output and the snapshots (the client records notifications in arrival order).
    snapshots = [s for s in client.custom["heaplens/snapshot"] if s.runId == job.jobId]
    assert [s.label for s in snapshots] == ["before", "after", "after-gc"]


async def test_a_plain_run_passes_every_byte_and_its_own_traceback_only(client: LanguageClient):
    """A plain run ("Run File (no heap capture)") is framed too: `\x04` bytes and a fake
    raw-REPL ending are output, and the run's only traceback is the script's real one."""
    write(client, "confusing_plain.py", CONFUSING + "def f():\n    1/0\nf()\n")
    uri = open_doc(client, "confusing_plain.py")
    job = await command_job(client, "heaplens.runPlain", [uri])
    assert job.kind == "plainRun"
    assert job.run.exception == "ZeroDivisionError: divide by zero", job.run
    outputs = of_job(client, "heaplens/output", job.jobId)
    stdout = "".join(o.text for o in outputs if o.stream == "stdout")
    assert stdout.replace("\r\n", "\n") == CONFUSING_OUTPUT
    tracebacks = [o.text.replace("\r\n", "\n") for o in outputs if o.stream == "traceback"]
    assert tracebacks == [
        'Traceback (most recent call last):\n  File "<stdin>", line 14, in <module>\n'
        '  File "<stdin>", line 13, in f\nZeroDivisionError: divide by zero\n'
    ], tracebacks


async def test_bad_timeouts_in_the_settings_are_refused_and_the_server_keeps_running(client: LanguageClient):
    bad = ["inf", "nan", 1e300, 1e19, 2**64, -1, 86401, "ten"]
    for value in bad:
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"heaplens": {"runTimeoutSeconds": value}})
        )
    await wait_until(lambda: len([m for m in client.messages if "runTimeoutSeconds" in m.message]) >= len(bad))
    texts = [m.message for m in client.messages if "runTimeoutSeconds" in m.message]
    assert all("must be a number of seconds from 0 to 86400" in t for t in texts), texts
    # Not wedged: a run still runs, under the timeout it had.
    uri = open_doc(client, "known_sizes.py")
    job = await command_job(client, "heaplens.runFile", [uri])
    assert job.run.exception is None and job.run.timedOut is False


async def test_a_uri_that_is_not_a_file_is_refused(client: LanguageClient):
    with pytest.raises(Exception) as refused:
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="heaplens.runFile", arguments=["http://example.com/main.py"])
        )
    assert "is not a local file (scheme `http`)" in str(refused.value)


async def test_a_file_whose_name_is_not_utf8_runs(client: LanguageClient):
    path = client.workspace_dir / os.fsdecode(b"caf\xe9.py")  # type: ignore[attr-defined]
    path.write_text("x = bytearray(500)\nprint('hi')\n")
    uri = path.as_uri()
    assert "%E9" in uri
    job = await command_job(client, "heaplens.runFile", [uri])
    assert job.run.exception is None
    stdout = "".join(o.text for o in of_job(client, "heaplens/output", job.jobId) if o.stream == "stdout")
    assert stdout.replace("\r\n", "\n") == "hi\n"


async def test_a_save_that_cannot_be_read_says_why(client: LanguageClient):
    ws: pathlib.Path = client.workspace_dir  # type: ignore[attr-defined]
    (ws / "folder.py").mkdir()
    os.mkfifo(ws / "pipe.py")
    (ws / "latin1.py").write_bytes(b"print('caf\xe9')\n")
    cases = {
        "missing.py": "does not exist",
        "folder.py": "is a folder, not a file",
        "pipe.py": "is not a regular file",
        "latin1.py": "is not UTF-8 text",
    }
    for name in cases:
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=(ws / name).as_uri()))
        )
    await wait_until(lambda: len([m for m in client.messages if m.type == types.MessageType.Error]) >= len(cases))
    texts = [m.message for m in client.messages if m.type == types.MessageType.Error]
    for name, why in cases.items():
        assert any(name in t and why in t for t in texts), (name, texts)
    # Still serving.
    uri = open_doc(client, "known_sizes.py")
    job = await command_job(client, "heaplens.runFile", [uri])
    assert job.run.exception is None


async def test_stop_at_any_moment_ends_the_run_with_its_report_or_a_clear_reason(client: LanguageClient):
    write(
        client,
        "spin.py",
        "import time\nn = 0\nfor i in range(200):\n    n += i\n    s = str(i)\n    time.sleep(0.01)\nprint('end', n)\n",
    )
    uri = open_doc(client, "spin.py")
    finished = client.custom["heaplens/jobFinished"]  # type: ignore[attr-defined]
    outcomes = []
    for delay in [0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5]:
        started = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="heaplens.runFile", arguments=[uri])
        )
        job_id = started["jobId"]
        await asyncio.sleep(delay)
        await client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.stop"))
        await wait_until(lambda: any(j.jobId == job_id for j in finished))
        job = next(j for j in finished if j.jobId == job_id)
        if job.error is not None:
            assert job.error.code == "cancelled", job.error
            assert "before the script started" in job.error.message, job.error.message
            assert "did not stop" not in job.error.message
            outcomes.append("stopped before")
        else:
            assert job.run.interrupted or job.run.exception is None, job.run
            outcomes.append("interrupted" if job.run.interrupted else "finished")
        # The board is usable at once.
        again = await command_job(client, "heaplens.runFile", [open_doc(client, "known_sizes.py")])
        assert again.run.exception is None
    assert "interrupted" in outcomes, outcomes


STUBBORN = """import time
print('started')
while True:
    try:
        time.sleep(1)
    except KeyboardInterrupt:
        print('ignored')
"""


async def test_a_script_that_ignores_stop_resets_the_simulated_pico_and_says_so(client: LanguageClient):
    """Stop on a script that catches KeyboardInterrupt forever: the run ends with a clear
    reason (the simulated Pico was reset), its output so far was shown, and the board works
    at once — for a heap run and a plain run."""
    write(client, "stubborn.py", STUBBORN)
    uri = open_doc(client, "stubborn.py")
    finished = client.custom["heaplens/jobFinished"]  # type: ignore[attr-defined]
    for command in ["heaplens.runFile", "heaplens.runPlain"]:
        started = await client.workspace_execute_command_async(types.ExecuteCommandParams(command=command, arguments=[uri]))
        job_id = started["jobId"]
        await wait_until(lambda: any("started" in o.text for o in of_job(client, "heaplens/output", job_id)), timeout=60)
        await client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.stop"))
        await wait_until(lambda: any(j.jobId == job_id for j in finished), timeout=60)
        job = next(j for j in finished if j.jobId == job_id)
        assert job.error is not None, f"{command}: {job}"
        assert job.error.code == "cancelled", job.error
        assert "the script ignored Ctrl-C" in job.error.message, job.error.message
        assert "the simulated Pico was reset" in job.error.message, job.error.message
        stdout = "".join(o.text for o in of_job(client, "heaplens/output", job_id) if o.stream == "stdout")
        assert "started" in stdout and "ignored" in stdout, stdout
        # The board is usable at once.
        again = await command_job(client, "heaplens.runFile", [open_doc(client, "known_sizes.py")])
        assert again.run.exception is None
