import assert from "node:assert/strict";
import { test } from "node:test";
import { clockTime, fileName, formatBytes, kibAndBytes, plural, thousands } from "../../src/units";

test("one unit system: KiB, exact bytes with separators", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(3 * 1024 * 1024), "3.0 MiB");
  assert.equal(formatBytes(-352), "−352 B");
  assert.equal(formatBytes(Number.NaN), "?");
  assert.equal(kibAndBytes(98305), "96.0 KiB (98,305 bytes)");
  assert.equal(kibAndBytes(32), "32 B");
  assert.equal(thousands(1234567), "1,234,567");
  assert.equal(thousands(999), "999");
  assert.equal(plural(1, "run"), "1 run");
  assert.equal(plural(2, "block"), "2 blocks");
  assert.equal(plural(1537, "block"), "1,537 blocks");
});

test("times and file names read as people read them", () => {
  const time = new Date(2026, 11, 2, 9, 5, 7);
  assert.equal(clockTime(time.toISOString()), "09:05:07");
  assert.equal(clockTime("not a time"), "not a time");
  assert.equal(fileName("file:///w/my%20script.py"), "my script.py");
  assert.equal(fileName("file:///w/log.mpheap"), "log.mpheap");
});
