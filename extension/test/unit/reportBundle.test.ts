/**
 * The HTML report's script is this extension's webview renderer bundled into
 * server/assets/report.js (the server embeds it). Fails when that committed bundle is not
 * what `npm run report-bundle` makes from today's sources.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { extensionRoot } from "../fixtures/dumps";
import { timelineReadings } from "../../src/webview/report";

test("server/assets/report.js is fresh", () => {
  const result = spawnSync(process.execPath, ["esbuild.mjs", "--report", "--check"], { cwd: extensionRoot(), encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
});

test("a timeline is drawn from readings in the shapes the hook accepts", () => {
  assert.deepEqual(timelineReadings([1, 2, 3]), [1, 2, 3]);
  assert.deepEqual(timelineReadings({ points: [{ used: 5 }, { bytes: 7 }, { other: 1 }] }), [5, 7]);
  assert.deepEqual(timelineReadings({ samples: [{ used: 9 }] }), [9]);
  assert.equal(timelineReadings(null), null);
  assert.equal(timelineReadings({ points: [] }), null);
  assert.equal(timelineReadings("nope"), null);
});
