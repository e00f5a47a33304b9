import assert from "node:assert/strict";
import { test } from "node:test";
import { affectsHeapLens, resolveServerPath, serverEnvironment, serverSettings } from "../../src/settings";

const none = (): unknown => undefined;

test("the configuration section is sent as data, with the workspace's trust", () => {
  // A WorkspaceConfiguration carries methods besides the values: only the values travel.
  const section = { board: "/dev/ttyACM0", thresholds: { hintBytes: 256 }, get: () => undefined };
  assert.deepEqual(serverSettings(section, true), {
    heaplens: { board: "/dev/ttyACM0", thresholds: { hintBytes: 256 } },
    workspaceTrusted: true,
    clientShowsJobErrors: true,
    unsandboxedSimulatorAllowed: false,
  });
  assert.deepEqual(serverSettings(undefined, false, true), {
    heaplens: null,
    workspaceTrusted: false,
    clientShowsJobErrors: true,
    unsandboxedSimulatorAllowed: true,
  });
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
