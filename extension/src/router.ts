/**
 * Routes the server's custom notifications to the views, keeping the little state the
 * client needs (last board status, latest snapshot, decorations per document). Pure: the
 * views are an interface, implemented with VS Code in `extension.ts` and with arrays in tests.
 */
import { applyEdits, groupByLevel, type LineDecoration, type LineEdit } from "./decorations";
import { formatOutput } from "./output";
import type {
  BoardStatus,
  DecorationLine,
  DecorationsParams,
  JobFinishedParams,
  OutputParams,
  Snapshot,
} from "./protocol";
import { statusView, type StatusView } from "./statusText";

/** What the router drives. */
export interface Views {
  showStatus(view: StatusView): void;
  /** Replaces all decorations of a document; `groups[level]` lists that level's lines. */
  setDecorations(uri: string, groups: LineDecoration[][]): void;
  appendOutput(text: string): void;
  /** A new snapshot arrived (the heap map shows it when open). */
  showSnapshot(snapshot: Snapshot): void;
  /** A board job ended (after all it produced). */
  jobFinished(params: JobFinishedParams): void;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

export class Router {
  private status: BoardStatus | undefined;
  private latest: Snapshot | undefined;
  private lastRunId: number | null | undefined;
  private readonly decorations = new Map<string, DecorationLine[]>();

  constructor(private readonly views: Views) {
    views.showStatus(statusView(undefined));
  }

  /** The last board status, if any arrived. */
  get boardStatus(): BoardStatus | undefined {
    return this.status;
  }

  /** The most recent snapshot, if any arrived. */
  get latestSnapshot(): Snapshot | undefined {
    return this.latest;
  }

  onBoardStatus(params: unknown): void {
    if (!isObject(params) || typeof params.state !== "string") return;
    this.status = params as unknown as BoardStatus;
    this.views.showStatus(statusView(this.status));
  }

  onDecorations(params: unknown): void {
    if (!isObject(params) || typeof params.uri !== "string" || !Array.isArray(params.lines)) return;
    const { uri, lines } = params as unknown as DecorationsParams;
    const valid = lines.filter(
      (entry) => isObject(entry) && typeof entry.line === "number" && typeof entry.text === "string",
    );
    this.decorations.set(uri, valid);
    this.views.setDecorations(uri, groupByLevel(valid));
  }

  onOutput(params: unknown): void {
    if (!isObject(params) || typeof params.text !== "string") return;
    const output = params as unknown as OutputParams;
    this.views.appendOutput(formatOutput(output, this.lastRunId));
    if (output.runId !== null) this.lastRunId = output.runId;
  }

  onSnapshot(params: unknown): void {
    if (!isObject(params) || typeof params.id !== "string" || !Array.isArray(params.areas)) return;
    this.latest = params as unknown as Snapshot;
    this.views.showSnapshot(this.latest);
  }

  onJobFinished(params: unknown): void {
    if (!isObject(params) || typeof params.jobId !== "number" || typeof params.kind !== "string") return;
    this.views.jobFinished(params as unknown as JobFinishedParams);
  }

  /** The user edited a document: drop decorations on touched lines, shift the rest. */
  onDocumentEdited(uri: string, edits: readonly LineEdit[]): void {
    const lines = this.decorations.get(uri);
    if (lines === undefined || lines.length === 0 || edits.length === 0) return;
    const next = applyEdits(lines, edits);
    this.decorations.set(uri, next);
    this.views.setDecorations(uri, groupByLevel(next));
  }

  /** Decorations to re-apply when an editor for `uri` becomes visible. */
  decorationsFor(uri: string): LineDecoration[][] | undefined {
    const lines = this.decorations.get(uri);
    return lines === undefined ? undefined : groupByLevel(lines);
  }
}
