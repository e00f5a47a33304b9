/**
 * Pure text of the HeapLens output channel: each run under a header (its number, file and
 * start time), its output and traceback as they stream, and a closing line saying how it
 * ended. Says when the channel should be revealed (a run that raised).
 */
import type { JobFinishedParams, JobStartedParams, OutputParams } from "./protocol";
import { fileName } from "./units";

/** What to append, and whether this is worth showing the channel for. */
export interface OutputText {
  text: string;
  reveal: boolean;
}

interface RunEntry {
  title: string;
  /** Whether the last text appended for the run ended a line. */
  atLineStart: boolean;
}

/** `09:00:31` of a Date, local time. */
function clock(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** Formats runs for the output channel; one per client. */
export class RunLog {
  private readonly runs = new Map<number, RunEntry>();

  /** The header of a run that began (other jobs print nothing). */
  started(params: JobStartedParams, now: Date = new Date()): OutputText | undefined {
    if (params.kind !== "run" && params.kind !== "plainRun") return undefined;
    return { text: this.header(params.jobId, params.kind === "plainRun", params.uri ?? null, now), reveal: false };
  }

  private header(jobId: number, plain: boolean, uri: string | null, now: Date): string {
    const title = `${plain ? "plain run" : "run"} ${jobId}`;
    this.runs.set(jobId, { title, atLineStart: true });
    const file = uri === null ? "" : ` · ${fileName(uri)}`;
    return `\n── ${title}${file} · ${clock(now)} ──\n`;
  }

  /** Output of a run: stdout as it is; a traceback always starts on its own line. */
  output(params: OutputParams, now: Date = new Date()): OutputText {
    let text = "";
    if (params.runId !== null && !this.runs.has(params.runId)) text += this.header(params.runId, false, null, now);
    const entry = params.runId === null ? undefined : this.runs.get(params.runId);
    if (params.stream === "traceback" && entry !== undefined && !entry.atLineStart) text += "\n";
    text += params.text;
    if (params.stream === "traceback" && !params.text.endsWith("\n")) text += "\n";
    if (entry !== undefined && text.length > 0) entry.atLineStart = text.endsWith("\n");
    return { text, reveal: false };
  }

  /** The closing line of a run; reveal when its script raised. */
  finished(params: JobFinishedParams): OutputText | undefined {
    if (params.kind !== "run" && params.kind !== "plainRun") return undefined;
    const entry = this.runs.get(params.jobId);
    this.runs.delete(params.jobId);
    const title = entry?.title ?? `${params.kind === "plainRun" ? "plain run" : "run"} ${params.jobId}`;
    const lead = entry === undefined || entry.atLineStart ? "" : "\n";
    const line = (what: string) => `${lead}── ${title} ${what} ──\n`;
    if (params.error !== null) {
      if (params.error.code === "superseded") return { text: line("was replaced by a newer run"), reveal: false };
      return { text: line(`failed: ${params.error.message}`), reveal: false };
    }
    const run = params.run;
    if (run === undefined || run === null) return { text: line("ended"), reveal: false };
    const time = seconds(run.elapsedMs);
    if (run.timedOut) return { text: line(`was stopped at its time limit after ${time}`), reveal: false };
    if (run.interrupted) return { text: line(`was stopped after ${time}`), reveal: false };
    if (run.systemExit !== null && run.systemExit !== undefined) {
      return { text: line(`ended with sys.exit(${run.systemExit}) after ${time}`), reveal: false };
    }
    if (run.exception !== null) return { text: line(`ended with ${run.exception} after ${time}`), reveal: true };
    return { text: line(`ended after ${time}`), reveal: false };
  }
}
