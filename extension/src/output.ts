/** Pure formatting of `heaplens/output` for the output channel. */
import type { OutputParams } from "./protocol";

/**
 * Returns the text to append: a header line when a new run starts, then the output
 * (stderr is passed through as is; the server already marks tracebacks).
 */
export function formatOutput(params: OutputParams, previousRunId: number | null | undefined): string {
  const header =
    params.runId !== null && params.runId !== previousRunId ? `\n── run ${params.runId} ──\n` : "";
  return header + params.text;
}
