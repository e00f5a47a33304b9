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

test("free heap and longest free block after a run", () => {
  const view = statusView({ ...base, state: "simulated", port: null, freeBytes: 90976, maxFreeBytes: 90976 });
  assert.equal(view.text, "$(vm) Simulated Pico · 88.8 KiB free · 88.8 KiB max block");
  assert.match(view.tooltip, /Free heap after the last run: 90976 bytes/);
  assert.match(view.tooltip, /Firmware: v1.28.0/);
  assert.equal(view.warning, false);
});

test("disconnected is a warning, and a message reaches the tooltip", () => {
  const view = statusView({ ...base, state: "disconnected", port: null, message: "no board found" });
  assert.equal(view.text, "$(debug-disconnect) disconnected");
  assert.equal(view.warning, true);
  assert.match(view.tooltip, /no board found/);
});

test("byte formatting", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(3 * 1024 * 1024), "3.0 MiB");
  assert.equal(formatBytes(Number.NaN), "?");
});
