// The real spawn-based runner, driven with the Node binary running the tests (no network,
// no Python): exit codes, streamed output, a missing program, and a kill on cancel.
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { test } from "node:test";
import { spawnRunner } from "../../src/processRunner";

const node = process.execPath;

function run(args: string[], signal = new AbortController().signal, onOutput: (text: string) => void = () => undefined) {
  return spawnRunner.run(node, args, { cwd: tmpdir(), signal, onOutput });
}

test("streams stdout and stderr and reports the exit code", async () => {
  const chunks: string[] = [];
  const result = await run(
    ["-e", "process.stdout.write('out\\n'); process.stderr.write('err\\n'); process.exit(3)"],
    undefined,
    (text) => chunks.push(text),
  );
  assert.deepEqual(result, { kind: "exited", code: 3 });
  const text = chunks.join("");
  assert.match(text, /out\n/);
  assert.match(text, /err\n/);
});

test("a program that does not exist is notFound", async () => {
  const result = await spawnRunner.run("heaplens-no-such-program-3f9a", [], {
    cwd: tmpdir(),
    signal: new AbortController().signal,
    onOutput: () => undefined,
  });
  assert.deepEqual(result, { kind: "notFound" });
});

test("aborting the signal kills the child and reports cancelled", async () => {
  const abort = new AbortController();
  // The child would run forever; it is killed once it says it is ready.
  const result = await run(["-e", "console.log('ready'); setInterval(() => {}, 1000)"], abort.signal, (text) => {
    if (text.includes("ready")) abort.abort();
  });
  assert.deepEqual(result, { kind: "cancelled" });
});

test("an already aborted signal starts nothing", async () => {
  const abort = new AbortController();
  abort.abort();
  const seen: string[] = [];
  const result = await run(["-e", "console.log('ran')"], abort.signal, (text) => seen.push(text));
  assert.deepEqual(result, { kind: "cancelled" });
  assert.deepEqual(seen, []);
});
