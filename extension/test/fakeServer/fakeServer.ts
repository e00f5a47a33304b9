/**
 * TEST DOUBLE of `heaplens lsp`: a scripted LSP server over stdio (hand-written JSON-RPC
 * framing, no dependencies) that speaks the custom messages of server/PROTOCOL.md with
 * canned data made from the repository's real dumps. It lets the real-VS-Code test
 * (tests/vscode/run.mjs --fake-server) check the client end to end before the real server
 * exists, and stays useful as a reference of what the client expects. Figures are canned:
 * nothing here measures a heap.
 */
import type { BoardStatus, DecorationsParams, Snapshot, SnapshotSummary } from "../../src/protocol";
import { diffOf, dump, snapshotFromDump } from "../fixtures/dumps";

type Message = { jsonrpc: "2.0"; id?: number | string; method?: string; params?: unknown; result?: unknown };

function send(message: Record<string, unknown>): void {
  const body = Buffer.from(JSON.stringify({ jsonrpc: "2.0", ...message }), "utf8");
  process.stdout.write(`Content-Length: ${body.length}\r\n\r\n`);
  process.stdout.write(body);
}
const notify = (method: string, params: unknown): void => send({ method, params });
const log = (text: string): void => void process.stderr.write(`fake-heaplens: ${text}\n`);

const snapshots: Snapshot[] = [];
let runs = 0;

function summary(snapshot: Snapshot): SnapshotSummary {
  const { id, label, file, runId, time, name, stats } = snapshot;
  return { id, label, file, runId, time, name, used: stats.used, gcTotal: stats.gc_total };
}

function addSnapshot(snapshot: Snapshot): void {
  snapshots.push(snapshot);
  notify("heaplens/snapshot", snapshot);
}

function boardStatus(extra: Partial<BoardStatus> = {}): void {
  notify("heaplens/boardStatus", {
    state: "simulated",
    port: null,
    firmware: "MicroPython (fake server)",
    freeBytes: null,
    maxFreeBytes: null,
    ...extra,
  } satisfies BoardStatus);
}

/** A canned run of parrot.py: output, diagnostics on line 10, decorations, three snapshots. */
function run(uri: string): void {
  runs++;
  const runId = runs;
  notify("heaplens/output", { runId, stream: "stdout", text: "" });
  notify("heaplens/output", {
    runId,
    stream: "stderr",
    text: 'Traceback (most recent call last):\n  File "parrot.py", line 10, in <module>\nMemoryError: memory allocation failed, allocating 98305 bytes\n',
  });
  notify("textDocument/publishDiagnostics", {
    uri,
    diagnostics: [
      {
        range: { start: { line: 9, character: 4 }, end: { line: 9, character: 19 } },
        severity: 1,
        source: "heaplens",
        message:
          "MemoryError: memory allocation failed, allocating 98305 bytes. The heap is full: 90976 bytes free, " +
          "longest free run 2843 blocks = 90976 bytes.",
      },
    ],
  });
  notify("heaplens/decorations", {
    uri,
    lines: [
      { line: 7, level: 1, text: "+32 B", hover: "line 8: +32 B (1 block)" },
      { line: 9, level: 5, text: "+98,240 B over 14 iterations, then MemoryError", hover: "line 10: +98240 B in 14 iterations" },
    ],
  } satisfies DecorationsParams);
  const options = { blockBytes: 32, file: uri, runId } as const;
  addSnapshot(snapshotFromDump(dump("unix-1.29pre-192k-fresh.txt"), { ...options, id: `run${runId}-before`, label: "before" }));
  addSnapshot(snapshotFromDump(dump("unix-1.29pre-192k-after-parrot.txt"), { ...options, id: `run${runId}-after`, label: "after" }));
  addSnapshot(
    snapshotFromDump(dump("unix-1.29pre-192k-after-parrot-gc-collect.txt"), {
      ...options,
      id: `run${runId}-after-gc`,
      label: "after-gc",
    }),
  );
  boardStatus({ freeBytes: 90976, maxFreeBytes: 90976 });
}

function handle(message: Message): void {
  const { id, method } = message;
  const params = (message.params ?? {}) as Record<string, unknown>;
  const reply = (result: unknown): void => send({ id, result });
  switch (method) {
    case "initialize":
      log(`initializationOptions ${JSON.stringify(params.initializationOptions)}`);
      reply({
        capabilities: {
          textDocumentSync: { openClose: true, change: 1, save: { includeText: false } },
          hoverProvider: true,
          executeCommandProvider: {
            commands: [
              "heaplens.captureHeap",
              "heaplens.runFile",
              "heaplens.stop",
              "heaplens.softReset",
              "heaplens.selectBoard",
              "heaplens.compareSnapshots",
              "heaplens.openDump",
            ],
          },
        },
        serverInfo: { name: "fake-heaplens", version: "0" },
      });
      return;
    case "initialized":
      boardStatus();
      return;
    case "workspace/didChangeConfiguration":
      log(`settings ${JSON.stringify(params.settings)}`);
      return;
    case "textDocument/didSave": {
      const uri = (params.textDocument as { uri?: string } | undefined)?.uri;
      if (typeof uri === "string" && uri.endsWith(".py")) run(uri);
      return;
    }
    case "textDocument/hover": {
      const line = (params.position as { line?: number } | undefined)?.line;
      reply(
        line === 9
          ? { contents: { kind: "markdown", value: "**HeapLens** line 10: +98240 B over 14 iterations (3070 blocks)" } }
          : null,
      );
      return;
    }
    case "workspace/executeCommand": {
      const command = params.command;
      const args = (params.arguments as unknown[] | undefined) ?? [];
      if (command === "heaplens.captureHeap") {
        addSnapshot(snapshotFromDump(dump("pico-seed-192064.txt"), { id: `capture${snapshots.length}`, blockBytes: 16 }));
        reply(null);
      } else if (command === "heaplens.runFile" && typeof args[0] === "string") {
        run(args[0]);
        reply(null);
      } else if (command === "heaplens.selectBoard" && args.length === 0) {
        reply([{ label: "Simulated Pico", board: "simulated", description: "MicroPython unix port, 192000-byte heap" }]);
      } else {
        reply(null);
      }
      return;
    }
    case "heaplens/listSnapshots":
      reply({ snapshots: snapshots.map(summary) });
      return;
    case "heaplens/getSnapshot":
      reply(snapshots.find((snapshot) => snapshot.id === params.id) ?? null);
      return;
    case "heaplens/diff": {
      const before = snapshots.find((snapshot) => snapshot.id === params.before);
      const after = snapshots.find((snapshot) => snapshot.id === params.after);
      if (before === undefined || after === undefined) send({ id, error: { code: -32602, message: "unknown snapshot" } });
      else reply(diffOf(before, after));
      return;
    }
    case "shutdown":
      reply(null);
      return;
    case "exit":
      process.exit(0);
      return;
    default:
      if (id !== undefined) send({ id, error: { code: -32601, message: `fake server: no ${method}` } });
  }
}

// Content-Length framed JSON-RPC reader.
let buffer = Buffer.alloc(0);
process.stdin.on("data", (chunk: Buffer) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const headerEnd = buffer.indexOf("\r\n\r\n");
    if (headerEnd < 0) return;
    const length = /Content-Length: (\d+)/i.exec(buffer.subarray(0, headerEnd).toString("ascii"))?.[1];
    if (length === undefined) {
      buffer = buffer.subarray(headerEnd + 4);
      continue;
    }
    const end = headerEnd + 4 + Number(length);
    if (buffer.length < end) return;
    const body = buffer.subarray(headerEnd + 4, end).toString("utf8");
    buffer = buffer.subarray(end);
    try {
      handle(JSON.parse(body) as Message);
    } catch (error) {
      log(`bad message: ${String(error)}`);
    }
  }
});
process.stdin.on("end", () => process.exit(0));
