import assert from "node:assert/strict";
import { test } from "node:test";
import type { BoardStatus } from "../../src/protocol";
import { boardLabel, formatBytes, statusView } from "../../src/statusText";

const base: BoardStatus = { state: "connected", port: "/dev/ttyACM0", firmware: "v1.28.0", freeBytes: null, maxFreeBytes: null };

test("board labels", () => {
  assert.equal(boardLabel(base), "Pico on /dev/ttyACM0");
  assert.equal(boardLabel({ ...base, state: "simulated", port: null }), "Simulated Pico");
  assert.equal(boardLabel({ ...base, state: "disconnected", port: null }), "disconnected");
  assert.equal(boardLabel({ ...base, state: "busy" }), "busy: /dev/ttyACM0");
  assert.equal(boardLabel(undefined), "HeapLens: starting");
});

test("free heap and longest free run of one named snapshot", () => {
  const view = statusView({ ...base, state: "simulated", port: null, freeBytes: 135040, maxFreeBytes: 69056, freeSnapshot: "after-gc" });
  assert.equal(view.text, "$(vm) Simulated Pico · 131.9 KiB free · longest free run 67.4 KiB (after gc)");
  assert.match(view.tooltip, /Free heap \(after gc\): 131\.9 KiB \(135,040 bytes\)/);
  assert.match(view.tooltip, /Longest free run \(after gc\): 67\.4 KiB \(69,056 bytes\)/);
  assert.match(view.tooltip, /Firmware: v1.28.0/);
  assert.equal(view.warning, false);
});

test("what the board is doing replaces the figures", () => {
  const status: BoardStatus = { ...base, state: "simulated", port: null, freeBytes: 1024, maxFreeBytes: 512, freeSnapshot: "capture" };
  assert.equal(
    statusView(status, { kind: "running", uri: "file:///w/parrot.py", plain: false }).text,
    "$(sync~spin) Simulated Pico · running parrot.py",
  );
  assert.equal(statusView(status, { kind: "softResetting" }).text, "$(sync~spin) Simulated Pico · soft resetting…");
  assert.equal(statusView(status, { kind: "softResetDone" }).text, "$(check) Simulated Pico · soft reset: fresh heap");
  const failed = statusView(status, { kind: "softResetFailed", message: "timed out" });
  assert.equal(failed.warning, true);
  assert.match(failed.tooltip, /soft reset failed: timed out/);
});

test("disconnected is a warning, and a message reaches the tooltip", () => {
  const view = statusView({ ...base, state: "disconnected", port: null, message: "no board found" });
  assert.equal(view.text, "$(debug-disconnect) disconnected");
  assert.equal(view.warning, true);
  assert.match(view.tooltip, /no board found/);
});

test("a simulated Pico that is not sandboxed says so, as a warning", () => {
  const view = statusView({ ...base, state: "simulated", port: null, sandbox: "notSandboxed" });
  assert.equal(view.text, "$(vm) Simulated Pico · not sandboxed");
  assert.equal(view.warning, true);
  assert.match(view.tooltip, /not sandboxed on this machine/);
  const sandboxed = statusView({ ...base, state: "simulated", port: null, sandbox: "sandboxed" });
  assert.equal(sandboxed.text, "$(vm) Simulated Pico");
  assert.equal(sandboxed.warning, false);
});

test("byte formatting", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(3 * 1024 * 1024), "3.0 MiB");
  assert.equal(formatBytes(Number.NaN), "?");
});
