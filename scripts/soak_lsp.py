#!/usr/bin/env python3
"""Soak test of `heaplens lsp` (issue 13): many runs in a row through ONE language server on
ONE simulated Pico, driven by a real LSP client (pytest-lsp / pygls), with saves, hovers,
stops, and the board's interpreter killed every 50 runs.

Checks: every run is answered (its `heaplens/jobFinished` arrives), the server's memory stays
flat (its RSS is sampled every 10 runs and printed), and no interpreter outlives the server.
Not part of `scripts/test.sh` (it takes minutes); run it by hand:

    .venv/bin/python scripts/soak_lsp.py --runs 200 [--binary target/release/heaplens]
"""

import argparse
import asyncio
import os
import pathlib
import shutil
import signal
import sys
import tempfile
import time

from lsprotocol import types
from pytest_lsp import client_capabilities, make_test_lsp_client

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lsp"))
from conftest import SCENARIOS, _record_custom  # noqa: E402


def children(pid: int) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def descendants(pid: int) -> list[int]:
    out = []
    for child in children(pid):
        out.append(child)
        out.extend(descendants(child))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def wait_until(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def soak(binary: str, runs: int, kill_every: int) -> int:
    work = pathlib.Path(tempfile.mkdtemp(prefix="heaplens-soak-"))
    for script in SCENARIOS.glob("*.py"):
        shutil.copy(script, work / script.name)
    client = make_test_lsp_client()
    _record_custom(client)
    await client.start_io(binary, "lsp")
    server = client._server  # type: ignore[attr-defined]
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=work.as_uri(),
            initialization_options={"heaplens": {"board": "simulated", "runTimeoutSeconds": 60}},
        )
    )
    finished = client.custom["heaplens/jobFinished"]  # type: ignore[attr-defined]
    snapshots = client.custom["heaplens/snapshot"]  # type: ignore[attr-defined]

    def open_doc(name: str) -> str:
        path = work / name
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=path.as_uri(), language_id="python", version=1, text=path.read_text())
            )
        )
        return path.as_uri()

    known = open_doc("known_sizes.py")
    runaway = open_doc("runaway.py")
    seen_interpreters: set[int] = set()
    samples: list[tuple[int, int]] = []
    counts = {"save": 0, "command": 0, "stop": 0, "killed": 0, "hover": 0}
    started_at = time.monotonic()

    async def run_command(uri: str) -> int:
        started = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.runFile", arguments=[uri]))
        return started["jobId"]

    async def job_end(job_id: int, what: str):
        await wait_until(lambda: any(j.jobId == job_id for j in finished), 180, f"{what} (job {job_id}) to be answered")
        return next(j for j in finished if j.jobId == job_id)

    for n in range(1, runs + 1):
        if n % kill_every == 0:
            # The board dies mid-run: the run fails with `disconnected`, the next one reconnects.
            job_id = await run_command(runaway)
            await wait_until(lambda: any(s.runId == job_id and s.label == "before" for s in snapshots), 120, "the runaway run to start")
            victims = descendants(server.pid)
            seen_interpreters.update(victims)
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            job = await job_end(job_id, "the killed run")
            assert job.error is not None and job.error.code == "disconnected", job
            counts["killed"] += 1
        elif n % 10 == 5:
            # A stop in the middle of a run that never ends.
            job_id = await run_command(runaway)
            await wait_until(lambda: any(s.runId == job_id and s.label == "before" for s in snapshots), 120, "the runaway run to start")
            await client.workspace_execute_command_async(types.ExecuteCommandParams(command="heaplens.stop"))
            job = await job_end(job_id, "the stopped run")
            counts["stop"] += 1
        elif n % 2 == 0:
            # A save starts a run.
            before = len(finished)
            client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=known)))
            await wait_until(lambda: len(finished) > before, 180, f"run {n} (a save) to be answered")
            job = finished[-1]
            assert job.error is None, job.error
            counts["save"] += 1
        else:
            job = await job_end(await run_command(known), f"run {n}")
            assert job.error is None, job.error
            counts["command"] += 1
        hover = await client.text_document_hover_async(
            types.HoverParams(text_document=types.TextDocumentIdentifier(uri=known), position=types.Position(line=8, character=2))
        )
        counts["hover"] += 1
        if counts["save"] + counts["command"] > 0:
            assert hover is not None and "| hits |" in hover.contents.value, hover
        seen_interpreters.update(descendants(server.pid))
        if n % 10 == 0:
            samples.append((n, rss_kib(server.pid)))
            print(f"run {n:4}: server RSS {samples[-1][1] / 1024:.1f} MiB, {time.monotonic() - started_at:.0f} s", flush=True)

    seen_interpreters.update(descendants(server.pid))
    await client.shutdown_session()
    await asyncio.wait_for(server.wait(), 60)
    await wait_until(lambda: not [p for p in seen_interpreters if alive(p)], 60, "every interpreter to end")
    await client.stop()
    shutil.rmtree(work, ignore_errors=True)

    print(f"\n{runs} runs answered in {time.monotonic() - started_at:.0f} s: {counts}")
    print(f"interpreters started and ended: {len(seen_interpreters)}; none left")
    first = samples[min(1, len(samples) - 1)][1]  # after warm-up (run 20)
    last = samples[-1][1]
    peak = max(s for _, s in samples)
    print(f"server RSS: run {samples[0][0]} {samples[0][1] / 1024:.1f} MiB, run {samples[min(1, len(samples) - 1)][0]} {first / 1024:.1f} MiB, "
          f"run {samples[-1][0]} {last / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--kill-every", type=int, default=50)
    parser.add_argument("--binary", default=os.environ.get("HEAPLENS_BIN", str(ROOT / "target" / "debug" / "heaplens")))
    args = parser.parse_args()
    return asyncio.run(soak(args.binary, args.runs, args.kill_every))


if __name__ == "__main__":
    sys.exit(main())
