import assert from "node:assert/strict";
import { test } from "node:test";
import type { DiffResult, Snapshot } from "../../src/protocol";
import { handleWebviewMessage, parseWebviewMessage, type BridgeServer } from "../../src/webviewBridge";
import type { MapOptions, ToWebview } from "../../src/webview/messages";
import { diffOf, dump, snapshotFromDump } from "../fixtures/dumps";

const before = snapshotFromDump(dump("unix-1.29pre-192k-fresh.txt"), { id: "a", blockBytes: 32, label: "before", runId: 1 });
const after = snapshotFromDump(dump("unix-1.29pre-192k-after-parrot.txt"), { id: "b", blockBytes: 32, label: "after", runId: 1 });

function harness(failing = false) {
  const posted: ToWebview[] = [];
  const revealed: [string, number][] = [];
  const errors: string[] = [];
  const saved: MapOptions[] = [];
  let cleared = false;
  const server: BridgeServer = {
    listSnapshots: () =>
      Promise.resolve(cleared ? [] : [{ id: "a", label: "before" as const, file: null, runId: 1, time: "t", name: "before", used: 1, gcTotal: 2 }]),
    getSnapshot: (id: string): Promise<Snapshot> =>
      failing ? Promise.reject(new Error(`unknown snapshot ${id}`)) : Promise.resolve(id === "a" ? before : after),
    diff: (b: string, a: string): Promise<DiffResult> => Promise.resolve({ ...diffOf(before, after), before: b, after: a }),
    clearSnapshots: () => {
      cleared = true;
      return Promise.resolve();
    },
  };
  const host = {
    post: (message: ToWebview) => posted.push(message),
    reveal: (file: string, line: number) => revealed.push([file, line]),
    showError: (message: string) => errors.push(message),
    saveOptions: (options: MapOptions) => saved.push(options),
  };
  return { server, host, posted, revealed, errors, saved };
}

test("ready sends the snapshot list, then the latest snapshot", async () => {
  const { server, host, posted } = harness();
  await handleWebviewMessage({ type: "ready" }, server, host, after);
  assert.deepEqual(
    posted.map((message) => message.type),
    ["snapshots", "snapshot"],
  );
});

test("select, compare and revealLine reach the server and the editor", async () => {
  const { server, host, posted, revealed } = harness();
  await handleWebviewMessage({ type: "select", id: "a" }, server, host, undefined);
  await handleWebviewMessage({ type: "compare", before: "a", after: "b" }, server, host, undefined);
  await handleWebviewMessage({ type: "revealLine", file: "file:///w/parrot.py", line: 9 }, server, host, undefined);
  assert.equal(posted[0]?.type === "snapshot" && posted[0].snapshot.id, "a");
  assert.equal(posted[1]?.type === "diff" && posted[1].diff.after, "b");
  assert.deepEqual(revealed, [["file:///w/parrot.py", 9]]);
});

test("server errors are shown, not thrown", async () => {
  const { server, host, errors } = harness(true);
  await handleWebviewMessage({ type: "select", id: "zz" }, server, host, undefined);
  assert.deepEqual(errors, ["HeapLens: unknown snapshot zz"]);
});

test("untrusted messages are validated", () => {
  assert.equal(parseWebviewMessage(null), undefined);
  assert.equal(parseWebviewMessage({ type: "select", id: 3 }), undefined);
  assert.equal(parseWebviewMessage({ type: "revealLine", file: "f", line: -1 }), undefined);
  assert.equal(parseWebviewMessage({ type: "eval", code: "x" }), undefined);
  assert.deepEqual(parseWebviewMessage({ type: "revealLine", file: "f", line: 2.7 }), { type: "revealLine", file: "f", line: 2 });
});

test("ready without a latest snapshot sends only the list (the panel has its own to show)", async () => {
  const { server, host, posted } = harness();
  await handleWebviewMessage({ type: "ready" }, server, host, undefined);
  assert.deepEqual(
    posted.map((message) => message.type),
    ["snapshots"],
  );
});

test("options are remembered and Clear empties the list", async () => {
  const { server, host, posted, saved } = harness();
  const options: MapOptions = { mode: "rainbow", showFree: false, zoom: 0, columns: 128 };
  await handleWebviewMessage({ type: "saveOptions", options }, server, host, undefined);
  assert.deepEqual(saved, [options]);
  await handleWebviewMessage({ type: "clear" }, server, host, undefined);
  assert.deepEqual(posted.at(-1), { type: "snapshots", list: [] });
  assert.equal(parseWebviewMessage({ type: "saveOptions", options: { ...options, zoom: 99 } }), undefined);
  assert.equal(parseWebviewMessage({ type: "saveOptions", options: { ...options, mode: "x" } }), undefined);
});
