import assert from "node:assert/strict";
import { test } from "node:test";
import type { LineDecoration } from "../../src/decorations";
import { Router, SOFT_RESET_NOTICE_MS, type RunningJob } from "../../src/router";
import type { StatusView } from "../../src/statusText";
import { dump, snapshotFromDump } from "../fixtures/dumps";
import type { JobFinishedParams, RunSummary, Snapshot, TimelineParams } from "../../src/protocol";

function recorder() {
  const calls = {
    status: [] as StatusView[],
    decorations: [] as { uri: string; groups: LineDecoration[][] }[],
    output: [] as string[],
    reveals: 0,
    snapshots: [] as Snapshot[],
    timelines: [] as TimelineParams[],
    running: [] as RunningJob[][],
    failed: [] as JobFinishedParams[],
    jobs: [] as JobFinishedParams[],
    timers: [] as { ms: number; action: () => void }[],
  };
  const router = new Router({
    showStatus: (view) => calls.status.push(view),
    setDecorations: (uri, groups) => calls.decorations.push({ uri, groups }),
    appendOutput: (text) => calls.output.push(text),
    revealOutput: () => calls.reveals++,
    showSnapshot: (snapshot) => calls.snapshots.push(snapshot),
    showTimeline: (timeline) => calls.timelines.push(timeline),
    runningChanged: (running) => calls.running.push([...running]),
    jobFailed: (params) => calls.failed.push(params),
    jobFinished: (params) => calls.jobs.push(params),
    schedule: (ms, action) => calls.timers.push({ ms, action }),
  });
  return { router, calls };
}

const summary = (extra: Partial<RunSummary> = {}): RunSummary => ({
  exception: null,
  systemExit: null,
  diagnostics: 0,
  gcCollections: 0,
  copied: [],
  files: [],
  interrupted: false,
  timedOut: false,
  instrumented: true,
  notInstrumented: null,
  elapsedMs: 350,
  ...extra,
});

test("the status bar starts as 'starting' and follows board status", () => {
  const { router, calls } = recorder();
  assert.equal(calls.status[0]?.text, "$(sync~spin) HeapLens: starting");
  router.onBoardStatus({
    state: "connected",
    port: "/dev/ttyACM0",
    firmware: null,
    freeBytes: 1024,
    maxFreeBytes: 512,
    freeSnapshot: "after-gc",
  });
  assert.equal(calls.status[1]?.text, "$(circuit-board) Pico on /dev/ttyACM0 · 1.0 KiB free · longest free run 512 B (after gc)");
  assert.equal(router.boardStatus?.port, "/dev/ttyACM0");
});

test("malformed notifications are ignored", () => {
  const { router, calls } = recorder();
  router.onBoardStatus(null);
  router.onBoardStatus({ port: 3 });
  router.onDecorations({ uri: 1, lines: [] });
  router.onOutput({ runId: 1 });
  router.onSnapshot({ id: "x" });
  router.onJobStarted({ jobId: "1" });
  router.onJobFinished({ kind: "run" });
  assert.equal(calls.status.length, 1);
  assert.equal(calls.decorations.length + calls.output.length + calls.snapshots.length + calls.jobs.length, 0);
});

test("decorations replace a document's set and follow edits", () => {
  const { router, calls } = recorder();
  const uri = "file:///w/parrot.py";
  router.onDecorations({
    uri,
    lines: [
      { line: 3, level: 2, text: "+1 KiB" },
      { line: 9, level: 5, text: "MemoryError", hover: "heap fragmented" },
      { line: "x", level: 1, text: "bad entry" },
    ],
  });
  assert.deepEqual(calls.decorations[0]?.groups[5], [{ line: 9, text: "MemoryError", hover: "heap fragmented" }]);
  router.onDocumentEdited(uri, [{ startLine: 3, endLine: 3, insertedLineBreaks: 1 }]);
  const after = calls.decorations[1]?.groups ?? [];
  assert.equal(after[2]?.length, 0);
  assert.equal(after[5]?.[0]?.line, 10);
  assert.deepEqual(router.decorationsFor(uri), after);
  assert.equal(router.decorationsFor("file:///other.py"), undefined);
  router.onDocumentEdited("file:///other.py", [{ startLine: 0, endLine: 0, insertedLineBreaks: 0 }]);
  assert.equal(calls.decorations.length, 2);
});

test("a run that prints nothing still gets its header, its traceback and how it ended; an exception reveals", () => {
  const { router, calls } = recorder();
  const started = new Date(2026, 11, 2, 9, 0, 31);
  router.onJobStarted({ jobId: 4, kind: "run", uri: "file:///w/parrot.py" }, started);
  assert.deepEqual(calls.running.at(-1), [{ jobId: 4, uri: "file:///w/parrot.py", plain: false }]);
  assert.equal(calls.status.at(-1)?.text, "$(sync~spin) HeapLens: starting · running parrot.py");
  router.onOutput({ runId: 4, stream: "stdout", text: "no newline" });
  router.onOutput({
    runId: 4,
    stream: "traceback",
    text: 'Traceback (most recent call last):\n  File "<stdin>", line 10, in <module>\nMemoryError: memory allocation failed, allocating 98305 bytes\n',
  });
  router.onJobFinished({
    jobId: 4,
    kind: "run",
    error: null,
    run: summary({ exception: "MemoryError: memory allocation failed, allocating 98305 bytes" }),
  });
  assert.equal(
    calls.output.join(""),
    "\n── run 4 · parrot.py · 09:00:31 ──\nno newline\nTraceback (most recent call last):\n" +
      '  File "<stdin>", line 10, in <module>\nMemoryError: memory allocation failed, allocating 98305 bytes\n' +
      "── run 4 ended with MemoryError: memory allocation failed, allocating 98305 bytes after 0.35 s ──\n",
  );
  assert.equal(calls.reveals, 1);
  assert.deepEqual(calls.running.at(-1), []);
  assert.equal(calls.status.at(-1)?.text, "$(sync~spin) HeapLens: starting");
});

test("a stopped run says so and reveals nothing; a plain run is named as such", () => {
  const { router, calls } = recorder();
  router.onJobStarted({ jobId: 7, kind: "plainRun", uri: "file:///w/runaway.py" }, new Date(2026, 0, 1, 12, 0, 0));
  router.onJobFinished({
    jobId: 7,
    kind: "plainRun",
    error: null,
    run: summary({ exception: "KeyboardInterrupt: ", interrupted: true, elapsedMs: 12_900 }),
  });
  assert.deepEqual(calls.output, ["\n── plain run 7 · runaway.py · 12:00:00 ──\n", "── plain run 7 was stopped after 12.9 s ──\n"]);
  assert.equal(calls.reveals, 0);
});

test("failed jobs are handed on, superseded runs are not", () => {
  const { router, calls } = recorder();
  router.onJobFinished({ jobId: 1, kind: "run", error: { code: "superseded", message: "newer run" } });
  router.onJobFinished({ jobId: 2, kind: "capture", error: { code: "simulatorMissing", message: "no interpreter" } });
  assert.deepEqual(
    calls.failed.map((job) => job.jobId),
    [2],
  );
  assert.equal(calls.jobs.length, 2);
});

test("a soft reset shows in the status bar, then the notice goes away", () => {
  const { router, calls } = recorder();
  router.onBoardStatus({ state: "simulated", port: null, firmware: null, freeBytes: null, maxFreeBytes: null });
  router.onJobStarted({ jobId: 9, kind: "softReset" });
  assert.equal(calls.status.at(-1)?.text, "$(sync~spin) Simulated Pico · soft resetting…");
  router.onJobFinished({ jobId: 9, kind: "softReset", error: null });
  assert.equal(calls.status.at(-1)?.text, "$(check) Simulated Pico · soft reset: fresh heap");
  assert.equal(calls.timers[0]?.ms, SOFT_RESET_NOTICE_MS);
  calls.timers[0]?.action();
  assert.equal(calls.status.at(-1)?.text, "$(vm) Simulated Pico");
});

test("snapshots are forwarded and the latest kept", () => {
  const { router, calls } = recorder();
  const snapshot = snapshotFromDump(dump("pico-seed-192064.txt"), { id: "s1", blockBytes: 16 });
  router.onSnapshot(snapshot);
  assert.equal(calls.snapshots[0]?.id, "s1");
  assert.equal(router.latestSnapshot?.areas[0]?.blocks, 12004);
});

test("timeline batches reach the heap map; malformed ones are dropped", () => {
  const { router, calls } = recorder();
  const batch: TimelineParams = { runId: 4, uri: "file:///w/main.py", intervalMs: 100, samples: [{ tMs: 0, used: 10, free: 90 }] };
  router.onTimeline(batch);
  router.onTimeline({ runId: "4", samples: [] });
  router.onTimeline({ runId: 4 });
  router.onTimeline(null);
  assert.deepEqual(calls.timelines, [batch]);
});
