import assert from "node:assert/strict";
import { test } from "node:test";
import { ReplScreen } from "../../src/repl";

test("board output reaches the terminal with CR LF line ends, split or not", () => {
  const screen = new ReplScreen();
  assert.equal(screen.output("42\n>>> "), "42\r\n>>> ");
  assert.equal(screen.output("a\r"), "a\r");
  assert.equal(screen.output("\nb\r\n"), "\nb\r\n", "a CR LF split across chunks stays one line end");
});

test("keys go to the board only while the REPL has it", () => {
  const screen = new ReplScreen();
  assert.deepEqual(screen.input().send, false, "not attached yet");
  assert.equal(screen.stateChanged({ state: "attached" }), "");
  assert.deepEqual(screen.input(), { send: true, write: "" });
  const released = screen.stateChanged({ state: "released", message: "HeapLens is running parrot.py on the board" });
  assert.match(released, /HeapLens is running parrot\.py on the board/);
  const first = screen.input();
  assert.equal(first.send, false);
  assert.match(first.write, /keys are ignored/);
  assert.deepEqual(screen.input(), { send: false, write: "" }, "said once");
  assert.match(screen.stateChanged({ state: "attached" }), /the board is the REPL's again/);
  assert.equal(screen.attached, true);
  assert.match(screen.stateChanged({ state: "closed", message: "the board went away" }), /REPL closed: the board went away/);
  assert.equal(screen.closed, true);
});
