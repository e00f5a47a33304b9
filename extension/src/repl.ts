/**
 * The REPL terminal's screen logic, without VS Code: what to write for the board's output
 * and for each change of the REPL's hold on the board, and whether keys may go to the board.
 * The terminal itself (a VS Code Pseudoterminal) lives in `extension.ts`; the bytes travel
 * through the server (`heaplens/replInput`, `replOutput`, `replState`), which owns the board
 * link for the serial Pico and the simulated one alike.
 */
import type { ReplStateParams } from "./protocol";

/** Dim text for HeapLens's own notes in the terminal. */
function note(text: string): string {
  return `\r\n\x1b[2m[${text}]\x1b[0m\r\n`;
}

export class ReplScreen {
  private state: ReplStateParams["state"] | "opening" = "opening";
  private lastWasCarriageReturn = false;
  private toldIgnored = false;

  /** True while keys go to the board. */
  get attached(): boolean {
    return this.state === "attached";
  }

  get closed(): boolean {
    return this.state === "closed";
  }

  /** The board's output for a terminal: a lone LF (the unix port's program output) becomes CR LF. */
  output(text: string): string {
    let out = "";
    for (const char of text) {
      if (char === "\n" && !this.lastWasCarriageReturn) out += "\r";
      out += char;
      this.lastWasCarriageReturn = char === "\r";
    }
    return out;
  }

  /** What to write when the REPL's hold on the board changes. */
  stateChanged(params: ReplStateParams): string {
    const before = this.state;
    this.state = params.state;
    switch (params.state) {
      case "attached":
        this.toldIgnored = false;
        return before === "released" ? note("the board is the REPL's again") : "";
      case "released":
        return note(params.message ?? "HeapLens is using the board; the REPL comes back when it is done");
      case "closed":
        return note(params.message === undefined || params.message === null ? "REPL closed" : `REPL closed: ${params.message}`);
    }
  }

  /** Keys typed: whether to send them, and what to write instead when not. */
  input(): { send: boolean; write: string } {
    if (this.state === "attached") return { send: true, write: "" };
    if (this.toldIgnored || this.state === "closed") return { send: false, write: "" };
    this.toldIgnored = true;
    return { send: false, write: note("keys are ignored while HeapLens has the board") };
  }
}
