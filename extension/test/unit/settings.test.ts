import assert from "node:assert/strict";
import { test } from "node:test";
import { affectsHeapLens, resolveServerPath, serverEnvironment, serverSettings } from "../../src/settings";

const none = (): unknown => undefined;

test("defaults mirror the server's settings", () => {
  assert.deepEqual(serverSettings(none, true), {
    board: "auto",
    simulatedHeapBytes: 194300,
    runOnSave: true,
    softResetBeforeRun: true,
    traceAllocations: true,
    sampleExecutions: "auto",
    thresholds: { lineBytes: 1024, fragmentationPercent: 50 },
    workspaceTrusted: true,
  });
});

test("user values are passed through, bad types fall back to defaults", () => {
  const values: Record<string, unknown> = {
    board: " /dev/ttyACM0 ",
    simulatedHeapBytes: 65536,
    runOnSave: false,
    softResetBeforeRun: "yes",
    traceAllocations: false,
    sampleExecutions: 64.7,
    "thresholds.lineBytes": 256,
    "thresholds.fragmentationPercent": Number.NaN,
  };
  const settings = serverSettings((key) => values[key], true);
  assert.equal(settings.board, "/dev/ttyACM0");
  assert.equal(settings.simulatedHeapBytes, 65536);
  assert.equal(settings.runOnSave, false);
  assert.equal(settings.softResetBeforeRun, true);
  assert.equal(settings.traceAllocations, false);
  assert.equal(serverSettings((key) => (key === "traceAllocations" ? 1 : undefined), true).traceAllocations, true);
  assert.equal(settings.sampleExecutions, 64);
  assert.equal(serverSettings((key) => (key === "sampleExecutions" ? -3 : undefined), true).sampleExecutions, 0);
  assert.equal(serverSettings((key) => (key === "sampleExecutions" ? "often" : undefined), true).sampleExecutions, "auto");
  assert.equal(settings.thresholds.lineBytes, 256);
  assert.equal(settings.thresholds.fragmentationPercent, 50);
});

test("an untrusted workspace never runs on save", () => {
  const settings = serverSettings((key) => (key === "runOnSave" ? true : undefined), false);
  assert.equal(settings.runOnSave, false);
  assert.equal(settings.workspaceTrusted, false);
});

test("server path: env, then setting, then bundled, then PATH", () => {
  const base = { extensionPath: "/ext", platform: "linux", exists: () => true };
  assert.deepEqual(
    resolveServerPath({ ...base, env: { HEAPLENS_SERVER_PATH: "/env/heaplens" }, get: () => "/set/heaplens" }),
    { path: "/env/heaplens", source: "env" },
  );
  assert.deepEqual(
    resolveServerPath({ ...base, env: {}, get: (key) => (key === "server.path" ? "/set/heaplens" : undefined) }),
    { path: "/set/heaplens", source: "setting" },
  );
  assert.deepEqual(resolveServerPath({ ...base, env: { HEAPLENS_SERVER_PATH: " " }, get: none }), {
    path: "/ext/server/heaplens",
    source: "bundled",
  });
  assert.deepEqual(resolveServerPath({ ...base, exists: () => false, env: {}, get: none }), {
    path: "heaplens",
    source: "path",
  });
  assert.deepEqual(
    resolveServerPath({ extensionPath: "C:\\ext", platform: "win32", exists: () => true, env: {}, get: none }),
    { path: "C:\\ext\\server\\heaplens.exe", source: "bundled" },
  );
});

test("the simulator path becomes HEAPLENS_MICROPYTHON", () => {
  const env = serverEnvironment((key) => (key === "simulator.path" ? "/venv/bin/micropython" : undefined), {
    PATH: "/usr/bin",
    UNSET: undefined,
  });
  assert.deepEqual(env, { PATH: "/usr/bin", HEAPLENS_MICROPYTHON: "/venv/bin/micropython" });
  assert.deepEqual(serverEnvironment(none, { PATH: "/usr/bin" }), { PATH: "/usr/bin" });
});

test("configuration changes are filtered on the heaplens section", () => {
  assert.equal(affectsHeapLens((section) => section === "heaplens"), true);
  assert.equal(affectsHeapLens((section) => section === "python"), false);
});
