#!/usr/bin/env python3
"""Language-server benchmark (not a test): hover latency over a 1,000-line file that has run,
and save-to-diagnostics time against a plain `heaplens run` of the same file, both on the
simulated Pico, measured in one process run.

    .venv/bin/python scripts/bench-lsp.py [--binary target/release/heaplens] [--hovers 1000]
"""

import argparse
import asyncio
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = pathlib.Path(__file__).resolve().parents[1]


def make_script(lines: int) -> str:
    out = ["import gc", "data = []"]
    i = 0
    while len(out) < lines - 1:
        kind = i % 4
        if kind == 0:
            out.append(f"a{i} = [0] * {i % 40 + 1}")
        elif kind == 1:
            out.append(f"s{i} = 'x' * {i % 200 + 10}")
        elif kind == 2:
            out.append(f"d{i} = {{'k': {i}}}")
        else:
            out.append(f"data.append(a{i - 3})")
        i += 1
    out.append("print(len(data))")
    return "\n".join(out) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "heaplens"))
    parser.add_argument("--hovers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    work = pathlib.Path(tempfile.mkdtemp(prefix="heaplens-bench-"))
    script = work / "big.py"
    script.write_text(make_script(1000))
    uri = script.as_uri()

    client = LanguageClient("bench", "1")
    diagnostics_seen = asyncio.Event()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: types.PublishDiagnosticsParams):
        if params.uri == uri:
            diagnostics_seen.set()

    for method in ("heaplens/snapshot", "heaplens/decorations", "heaplens/boardStatus", "heaplens/output"):
        client.feature(method)(lambda params: None)

    await client.start_io(args.binary, "lsp")
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"heaplens": {"board": "simulated", "runTimeoutSeconds": 120}},
        )
    )
    client.initialized(types.InitializedParams())
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=script.read_text())
        )
    )
    # Warm up: open the board, one run.
    await client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.runFile", arguments=[uri]))

    save_times = []
    for _ in range(args.runs):
        diagnostics_seen.clear()
        start = time.perf_counter()
        client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
        await diagnostics_seen.wait()
        save_times.append(time.perf_counter() - start)

    rng = random.Random(7)
    hover_times = []
    for _ in range(args.hovers):
        line = rng.randrange(1000)
        start = time.perf_counter()
        await client.text_document_hover_async(
            types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=0))
        )
        hover_times.append(time.perf_counter() - start)

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()

    cli_times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([args.binary, "run", "--board", "sim", "--json", str(script)], check=False, capture_output=True)
        cli_times.append(time.perf_counter() - start)

    hover_times.sort()
    p = lambda q: hover_times[min(len(hover_times) - 1, int(q * len(hover_times)))] * 1000  # noqa: E731
    save = statistics.median(save_times)
    cli = statistics.median(cli_times)
    print(f"hover over a 1,000-line file with results ({args.hovers} requests): p50 {p(0.50):.3f} ms, p99 {p(0.99):.3f} ms, max {hover_times[-1]*1000:.3f} ms")
    print(f"save → diagnostics (board already open): median {save*1000:.0f} ms over {args.runs} saves")
    print(f"heaplens run --board sim (fresh process, opens the simulated board): median {cli*1000:.0f} ms")
    print(f"ratio save-to-diagnostics / plain run: {save / cli:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
