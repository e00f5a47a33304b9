"""The language server survives its clients (issue 13): malformed messages get their JSON-RPC
error and the server keeps serving; a file that is not a regular file, or is too big, is
refused without blocking other requests; when the client closes stdin the server and its
interpreters go away. The real binary, driven by pytest-lsp's client."""

import asyncio
import json
import os
import pathlib

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

from conftest import BINARY, SCENARIOS, _record_custom
from test_lsp import _descendants, open_doc, wait_until

pytestmark = pytest.mark.asyncio


def record_error_replies(client: LanguageClient) -> list:
    """Every error reply the client receives, with its id: replies to malformed messages have
    no request waiting for them, so pygls would only log them."""
    replies: list = []
    protocol = client.protocol
    original = protocol._handle_response

    def handle(msg_id, result=None, error=None):
        if error is not None:
            replies.append((msg_id, error))
        return original(msg_id, result, error)

    protocol._handle_response = handle  # type: ignore[method-assign]
    return replies


def send_raw(client: LanguageClient, data: bytes):
    client.protocol.writer.write(data)  # type: ignore[union-attr]


def framed(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def hover_works(client: LanguageClient, uri: str):
    """A real request still gets its answer (no run yet: no hover, but an answer)."""
    hover = await asyncio.wait_for(
        client.text_document_hover_async(
            types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=0, character=0))
        ),
        timeout=60,
    )
    assert hover is None


MALFORMED = [
    ("bad JSON", framed(b'{"jsonrpc": "2.0", "id": 1, "method": '), -32700, None, "Parse error: the message is not JSON"),
    ("non-UTF-8 body", framed(b'{"jsonrpc": "2.0", "method": "\xff\xfe"}'), -32700, None, "Parse error: the message is not UTF-8"),
    ("a JSON array", framed(b"[1, 2, 3]"), -32600, None, "Invalid request: a message must be a JSON object"),
    ("a JSON number", framed(b"42"), -32600, None, "Invalid request: a message must be a JSON object"),
    ("an object that is no message", framed(b'{"foo": 1}'), -32600, None, "Invalid request: `jsonrpc` must be"),
    ("no method, no result", framed(b'{"jsonrpc": "2.0", "id": 77}'), -32600, 77, "Invalid request: neither a request"),
    ("a method that is not a string", framed(b'{"jsonrpc": "2.0", "id": "m", "method": 5}'), -32600, "m", "Invalid request: neither"),
    ("bad Content-Length", b"Content-Length: lots\r\n\r\n{}", -32700, None, "Parse error: bad Content-Length `lots`"),
    ("no Content-Length", b"Content-Type: text/plain\r\n\r\n{}", -32700, None, "Parse error: message header without Content-Length"),
    ("a header line without a colon", b"hello there\r\n\r\n", -32700, None, "Parse error: unreadable message header"),
]


async def test_malformed_messages_get_their_error_and_the_server_keeps_serving(client: LanguageClient):
    uri = open_doc(client, "known_sizes.py")
    replies = record_error_replies(client)
    for name, data, code, msg_id, message in MALFORMED:
        count = len(replies)
        send_raw(client, data)
        await wait_until(lambda: len(replies) > count, timeout=30)
        assert len(replies) == count + 1, f"{name}: one reply, got {replies[count:]}"
        got_id, error = replies[-1]
        assert (got_id, error.code) == (msg_id, code), f"{name}: {got_id} {error}"
        assert error.message.startswith(message), f"{name}: {error.message}"
        await hover_works(client, uri)
    # Everything at once, in one write, before a good request: each gets its reply. (A header
    # without a usable Content-Length cannot say where its body ends: the server skips to the
    # next `Content-Length:`, so only the last message of the batch may have such a header.)
    batch = [case for case in MALFORMED if case[1].startswith(b"Content-Length: ") and case[2] != -32700 or case[0] in ("bad JSON", "non-UTF-8 body")]
    batch.append(next(case for case in MALFORMED if case[0] == "bad Content-Length"))
    count = len(replies)
    send_raw(client, b"".join(data for _, data, _, _, _ in batch))
    await hover_works(client, uri)
    await wait_until(lambda: len(replies) >= count + len(batch), timeout=30)
    assert [e.code for _, e in replies[count:]] == [c for _, _, c, _, _ in batch]
    assert client.error is None, client.error


def dump_command(client: LanguageClient, path: pathlib.Path):
    return client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.openDump", arguments=[path.as_uri()]))


async def test_open_dump_refuses_what_is_not_a_regular_file_without_blocking_others(client: LanguageClient, tmp_path):
    uri = open_doc(client, "known_sizes.py")
    fifo = tmp_path / "pipe.mpheap"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.mpheap"
    zero.symlink_to("/dev/zero")
    folder = tmp_path / "folder.mpheap"
    folder.mkdir()
    huge = tmp_path / "huge.mpheap"
    with open(huge, "wb") as f:
        f.truncate(65 * 1024 * 1024)  # sparse: takes no disk
    cases = [
        (fifo, "is not a regular file (a pipe or a device)"),
        (zero, "is not a regular file (a pipe or a device)"),
        (folder, "is a folder, not a file"),
        (huge, "is 68157440 bytes, more than the 67108864 bytes HeapLens reads"),
        (tmp_path / "missing.mpheap", "does not exist"),
    ]
    for path, message in cases:
        with pytest.raises(Exception) as refused:
            await asyncio.wait_for(dump_command(client, path), timeout=60)
        assert message in str(refused.value), str(refused.value)
        assert str(path) in str(refused.value), str(refused.value)
        await hover_works(client, uri)
    assert client.error is None, client.error


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_closing_stdin_mid_run_stops_the_run_and_leaves_no_process(tmp_path):
    client = make_test_lsp_client()
    _record_custom(client)
    for script in SCENARIOS.glob("*.py"):
        (tmp_path / script.name).write_bytes(script.read_bytes())
    client.workspace_dir = tmp_path  # type: ignore[attr-defined]
    await client.start_io(BINARY, "lsp")
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                root_uri=tmp_path.as_uri(),
                initialization_options={"heaplens": {"board": "simulated", "runTimeoutSeconds": 600}},
            )
        )
        uri = open_doc(client, "runaway.py")
        started = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.runFile", arguments=[uri]))
        assert started["jobId"]
        # The run is under way on the board: its before-snapshot arrived.
        await wait_until(lambda: any(s.label == "before" and s.file == uri for s in client.custom["heaplens/snapshot"]))
        server = client._server  # type: ignore[attr-defined]
        tree = [server.pid, *_descendants(server.pid)]
        assert len(tree) >= 2, "the simulated Pico's interpreter runs under the server"
        server.stdin.close()  # the editor went away without shutdown/exit
        # Generous deadline: the server's own is a few seconds.
        await asyncio.wait_for(server.wait(), timeout=60)
        loop = asyncio.get_running_loop()
        end = loop.time() + 60
        while [pid for pid in tree if _alive(pid)]:
            assert loop.time() < end, f"still running: {[pid for pid in tree if _alive(pid)]}"
            await asyncio.sleep(0.1)
    finally:
        await client.stop()


async def test_a_request_to_a_notification_method_gets_invalid_request_and_is_not_delivered(client: LanguageClient):
    """tower-lsp runs a notification sent with an `id` and never answers it: the framing layer
    answers -32600 instead and does not deliver it (a `didOpen` with an id opens nothing)."""
    replies = record_error_replies(client)
    dump = (SCENARIOS.parent / "meminfo" / "unix-1.29pre-192k-fresh.txt").read_text()
    uri = "file:///tmp/heaplens-notification-with-id.mpheap"
    did_open = {
        "jsonrpc": "2.0",
        "id": "open-1",
        "method": "textDocument/didOpen",
        "params": {"textDocument": {"uri": uri, "languageId": "mpheap", "version": 1, "text": dump}},
    }
    for body, msg_id in [
        (b'{"jsonrpc":"2.0","id":7,"method":"initialized","params":{}}', 7),
        (json.dumps(did_open).encode(), "open-1"),
    ]:
        count = len(replies)
        send_raw(client, framed(body))
        await wait_until(lambda: len(replies) > count, timeout=30)
        got_id, error = replies[-1]
        assert (got_id, error.code) == (msg_id, -32600), error
        assert "is a notification: send it without an `id`" in error.message, error.message

    def symbols():
        return asyncio.wait_for(
            client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))),
            timeout=60,
        )

    assert await symbols() is None, "the didOpen with an id was delivered"
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(uri=uri, language_id="mpheap", version=1, text=dump)))
    assert await symbols(), "the same didOpen as a notification opens the dump"
    assert client.error is None, client.error
