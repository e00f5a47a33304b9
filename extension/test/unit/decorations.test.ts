import assert from "node:assert/strict";
import { test } from "node:test";
import { applyEdits, clampLevel, countLineBreaks, groupByLevel, gutterIconDataUri } from "../../src/decorations";

const lines = [
  { line: 2, level: 1, text: "+64 B" },
  { line: 5, level: 5, text: "+96 KiB", hover: "MemoryError here" },
  { line: 9, level: 9, text: "clamped" },
  { line: -1, level: 2, text: "dropped" },
];

test("lines are grouped by clamped level", () => {
  const groups = groupByLevel(lines);
  assert.equal(groups.length, 6);
  assert.deepEqual(groups[1], [{ line: 2, text: "+64 B", hover: undefined }]);
  assert.deepEqual(
    groups[5]?.map((entry) => entry.line),
    [5, 9],
  );
  assert.equal(groups[2]?.length, 0);
  assert.equal(clampLevel(-3), 0);
  assert.equal(clampLevel(Number.NaN), 0);
});

test("editing a decorated line clears it; other lines keep theirs", () => {
  const next = applyEdits(lines.slice(0, 2), [{ startLine: 2, endLine: 2, insertedLineBreaks: 0 }]);
  assert.deepEqual(
    next.map((entry) => entry.line),
    [5],
  );
});

test("inserting and deleting lines above shifts decorations below", () => {
  const inserted = applyEdits(lines.slice(0, 2), [{ startLine: 3, endLine: 3, insertedLineBreaks: 2 }]);
  assert.deepEqual(
    inserted.map((entry) => entry.line),
    [2, 7],
  );
  const deleted = applyEdits(lines.slice(0, 2), [{ startLine: 3, endLine: 4, insertedLineBreaks: 0 }]);
  assert.deepEqual(
    deleted.map((entry) => entry.line),
    [2, 4],
  );
});

test("line breaks of every style are counted", () => {
  assert.equal(countLineBreaks("a\r\nb\nc\rd"), 3);
  assert.equal(countLineBreaks("plain"), 0);
});

test("gutter marks are SVG data URIs that grow with the level", () => {
  const low = Buffer.from(gutterIconDataUri(0, "#111111").split(",")[1] ?? "", "base64").toString();
  const high = Buffer.from(gutterIconDataUri(5, "#222222").split(",")[1] ?? "", "base64").toString();
  assert.match(low, /width="3"/);
  assert.match(high, /width="13"/);
  assert.match(high, /fill="#222222"/);
});
