/**
 * Routes the server's custom notifications to the views, keeping the little state the
 * client needs (last board status, what the board is doing, latest snapshot, decorations per
 * document, the runs going on). Pure: the views are an interface, implemented with VS Code
 * in `extension.ts` and with arrays in tests.
 */
import { applyEdits, groupByLevel, type LineDecoration, type LineEdit } from "./decorations";
import { RunLog } from "./output";
import type {
  BoardStatus,
  DecorationLine,
  DecorationsParams,
  JobFinishedParams,
  JobStartedParams,
  OutputParams,
  Snapshot,
  TimelineParams,
} from "./protocol";
import { statusView, type Activity, type StatusView } from "./statusText";

/** A run going on: Stop ends it. */
export interface RunningJob {
  jobId: number;
  uri: string | null;
  plain: boolean;
}

/** How long "soft reset: fresh heap" stays in the status bar. */
export const SOFT_RESET_NOTICE_MS = 5000;

/** What the router drives. */
export interface Views {
  showStatus(view: StatusView): void;
  /** Replaces all decorations of a document; `groups[level]` lists that level's lines. */
  setDecorations(uri: string, groups: LineDecoration[][]): void;
  appendOutput(text: string): void;
  /** A run raised: show the output channel (the views decide whether the user wants it). */
  revealOutput(): void;
  /** A new snapshot arrived (the heap map shows it when open). */
  showSnapshot(snapshot: Snapshot): void;
  /** New samples of a run's heap timeline (the heap map's live plot shows them when open). */
  showTimeline(timeline: TimelineParams): void;
  /** The runs going on changed (Stop buttons follow it). */
  runningChanged(running: readonly RunningJob[]): void;
  /** A board job failed (not replaced by a newer run): say so, with what to do. */
  jobFailed(params: JobFinishedParams): void;
  /** A board job ended (after all it produced). */
  jobFinished(params: JobFinishedParams): void;
  /** Runs `action` after `ms` milliseconds. */
  schedule(ms: number, action: () => void): void;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

export class Router {
  private status: BoardStatus | undefined;
  private activity: Activity | undefined;
  private latest: Snapshot | undefined;
  private readonly decorations = new Map<string, DecorationLine[]>();
  private readonly running = new Map<number, RunningJob>();
  private readonly log = new RunLog();

  constructor(private readonly views: Views) {
    this.showStatus();
  }

  /** The last board status, if any arrived. */
  get boardStatus(): BoardStatus | undefined {
    return this.status;
  }

  /** The most recent snapshot, if any arrived. */
  get latestSnapshot(): Snapshot | undefined {
    return this.latest;
  }

  /** The runs going on, oldest first. */
  get runs(): RunningJob[] {
    return [...this.running.values()];
  }

  private showStatus(): void {
    this.views.showStatus(statusView(this.status, this.activity));
  }

  private setActivity(activity: Activity | undefined): void {
    this.activity = activity;
    this.showStatus();
  }

  onBoardStatus(params: unknown): void {
    if (!isObject(params) || typeof params.state !== "string") return;
    this.status = params as unknown as BoardStatus;
    this.showStatus();
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

  onJobStarted(params: unknown, now: Date = new Date()): void {
    if (!isObject(params) || typeof params.jobId !== "number" || typeof params.kind !== "string") return;
    const job = params as unknown as JobStartedParams;
    const header = this.log.started(job, now);
    if (header !== undefined) this.views.appendOutput(header.text);
    if (job.kind === "run" || job.kind === "plainRun") {
      const running: RunningJob = { jobId: job.jobId, uri: job.uri ?? null, plain: job.kind === "plainRun" };
      this.running.set(job.jobId, running);
      this.views.runningChanged(this.runs);
      this.setActivity({ kind: "running", uri: running.uri, plain: running.plain });
    } else if (job.kind === "softReset") {
      this.setActivity({ kind: "softResetting" });
    }
  }

  onOutput(params: unknown): void {
    if (!isObject(params) || typeof params.text !== "string") return;
    this.views.appendOutput(this.log.output(params as unknown as OutputParams).text);
  }

  onSnapshot(params: unknown): void {
    if (!isObject(params) || typeof params.id !== "string" || !Array.isArray(params.areas)) return;
    this.latest = params as unknown as Snapshot;
    this.views.showSnapshot(this.latest);
  }

  onTimeline(params: unknown): void {
    if (!isObject(params) || typeof params.runId !== "number" || !Array.isArray(params.samples)) return;
    this.views.showTimeline(params as unknown as TimelineParams);
  }

  onJobFinished(params: unknown): void {
    if (!isObject(params) || typeof params.jobId !== "number" || typeof params.kind !== "string") return;
    const job = params as unknown as JobFinishedParams;
    const footer = this.log.finished(job);
    if (footer !== undefined) {
      this.views.appendOutput(footer.text);
      if (footer.reveal) this.views.revealOutput();
    }
    if (this.running.delete(job.jobId)) {
      this.views.runningChanged(this.runs);
      const next = this.runs.at(-1);
      this.setActivity(next === undefined ? undefined : { kind: "running", uri: next.uri, plain: next.plain });
    }
    if (job.kind === "softReset") {
      if (job.error === null) {
        const done: Activity = { kind: "softResetDone" };
        this.setActivity(done);
        this.views.schedule(SOFT_RESET_NOTICE_MS, () => {
          if (this.activity === done) this.setActivity(undefined);
        });
      } else {
        const failed: Activity = { kind: "softResetFailed", message: job.error.message };
        this.setActivity(failed);
        this.views.schedule(2 * SOFT_RESET_NOTICE_MS, () => {
          if (this.activity === failed) this.setActivity(undefined);
        });
      }
    }
    if (job.error !== null && job.error.code !== "superseded") this.views.jobFailed(job);
    this.views.jobFinished(job);
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
