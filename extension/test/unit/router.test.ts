import assert from "node:assert/strict";
import { test } from "node:test";
import type { LineDecoration } from "../../src/decorations";
import { Router } from "../../src/router";
import type { StatusView } from "../../src/statusText";
import { dump, snapshotFromDump } from "../fixtures/dumps";
import type { JobFinishedParams, Snapshot } from "../../src/protocol";

function recorder() {
  const calls = {
    status: [] as StatusView[],
    decorations: [] as { uri: string; groups: LineDecoration[][] }[],
    output: [] as string[],
    snapshots: [] as Snapshot[],
    jobs: [] as JobFinishedParams[],
  };
  const router = new Router({
    showStatus: (view) => calls.status.push(view),
    setDecorations: (uri, groups) => calls.decorations.push({ uri, groups }),
    appendOutput: (text) => calls.output.push(text),
    showSnapshot: (snapshot) => calls.snapshots.push(snapshot),
    jobFinished: (params) => calls.jobs.push(params),
  });
  return { router, calls };
}

test("the status bar starts as 'starting' and follows board status", () => {
  const { router, calls } = recorder();
  assert.equal(calls.status[0]?.text, "$(sync~spin) HeapLens: starting");
  router.onBoardStatus({ state: "connected", port: "/dev/ttyACM0", firmware: null, freeBytes: 1024, maxFreeBytes: 512 });
  assert.equal(calls.status[1]?.text, "$(circuit-board) Pico on /dev/ttyACM0 · 1.0 KiB free · 512 B max block");
  assert.equal(router.boardStatus?.port, "/dev/ttyACM0");
});

test("malformed notifications are ignored", () => {
  const { router, calls } = recorder();
  router.onBoardStatus(null);
  router.onBoardStatus({ port: 3 });
  router.onDecorations({ uri: 1, lines: [] });
  router.onOutput({ runId: 1 });
  router.onSnapshot({ id: "x" });
  assert.equal(calls.status.length, 1);
  assert.equal(calls.decorations.length + calls.output.length + calls.snapshots.length, 0);
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

test("output gets a header when a new run starts", () => {
  const { router, calls } = recorder();
  router.onOutput({ runId: 1, stream: "stdout", text: "a\n" });
  router.onOutput({ runId: 1, stream: "stdout", text: "b\n" });
  router.onOutput({ runId: 2, stream: "stderr", text: "Traceback\n" });
  assert.deepEqual(calls.output, ["\n── run 1 ──\na\n", "b\n", "\n── run 2 ──\nTraceback\n"]);
});

test("snapshots are forwarded and the latest kept", () => {
  const { router, calls } = recorder();
  const snapshot = snapshotFromDump(dump("pico-seed-192064.txt"), { id: "s1", blockBytes: 16 });
  router.onSnapshot(snapshot);
  assert.equal(calls.snapshots[0]?.id, "s1");
  assert.equal(router.latestSnapshot?.areas[0]?.blocks, 12004);
});
