/**
 * Pure text for the status bar, from the last `heaplens/boardStatus` and what the board is
 * doing now. The board item reads e.g.
 * "Simulated Pico · 131.9 KiB free · longest free run 67.4 KiB (after gc)": every figure is
 * of one named snapshot, in KiB, with the exact bytes in the tooltip.
 */
import type { BoardStatus, SnapshotLabel } from "./protocol";
import { fileName, formatBytes, kibAndBytes } from "./units";

export { formatBytes } from "./units";

/** What the status bar item shows. `icon` is a codicon id. */
export interface StatusView {
  text: string;
  tooltip: string;
  icon: string;
  /** True when the item should use the warning background. */
  warning: boolean;
}

/** What the board is busy with, as the status bar says it. */
export type Activity =
  | { kind: "running"; uri: string | null; plain: boolean }
  | { kind: "softResetting" }
  | { kind: "softResetDone" }
  | { kind: "softResetFailed"; message: string };

/** The board part alone: "Pico on /dev/ttyACM0", "Simulated Pico", "disconnected". */
export function boardLabel(status: BoardStatus | undefined): string {
  if (status === undefined) return "HeapLens: starting";
  switch (status.state) {
    case "connected":
      return status.port !== null ? `Pico on ${status.port}` : "Pico";
    case "simulated":
      return "Simulated Pico";
    case "busy":
      return status.port !== null ? `busy: ${status.port}` : "busy";
    case "disconnected":
      return "disconnected";
  }
}

/** The name every surface gives the snapshot the figures come from ("after gc"). */
export function snapshotName(label: SnapshotLabel | null | undefined): string {
  return label === undefined || label === null ? "last snapshot" : label.replace("-", " ");
}

/** What an activity adds to the item, and its icon. */
function activityPart(activity: Activity): { text: string; icon: string; tooltip: string } {
  switch (activity.kind) {
    case "running": {
      const what = activity.uri === null ? "a script" : fileName(activity.uri);
      const how = activity.plain ? "running (plain)" : "running";
      return { text: `${how} ${what}`, icon: "sync~spin", tooltip: `Running ${what} — HeapLens: Stop ends it` };
    }
    case "softResetting":
      return { text: "soft resetting…", icon: "sync~spin", tooltip: "Soft-resetting the board" };
    case "softResetDone":
      return { text: "soft reset: fresh heap", icon: "check", tooltip: "The board was soft-reset: its heap is fresh" };
    case "softResetFailed":
      return { text: "soft reset failed", icon: "error", tooltip: `The soft reset failed: ${activity.message}` };
  }
}

/** Builds the status bar view from the latest board status (undefined before the first). */
export function statusView(status: BoardStatus | undefined, activity?: Activity): StatusView {
  const parts = [boardLabel(status)];
  const tooltipLines = ["HeapLens — click to select a board"];
  if (status?.sandbox === "notSandboxed") {
    tooltipLines.push("The simulated Pico is not sandboxed on this machine (no Landlock): scripts can reach your files.");
  }
  if (status?.firmware) tooltipLines.push(`Firmware: ${status.firmware}`);
  const from = snapshotName(status?.freeSnapshot);
  const free = status?.freeBytes ?? null;
  const longest = status?.maxFreeBytes ?? null;
  if (activity !== undefined) {
    const part = activityPart(activity);
    parts.push(part.text);
    tooltipLines.push(part.tooltip);
  } else {
    if (free !== null) parts.push(`${formatBytes(free)} free`);
    if (longest !== null) parts.push(`longest free run ${formatBytes(longest)} (${from})`);
  }
  if (status?.sandbox === "notSandboxed") parts.push("not sandboxed");
  if (free !== null) tooltipLines.push(`Free heap (${from}): ${kibAndBytes(free)}`);
  if (longest !== null) tooltipLines.push(`Longest free run (${from}): ${kibAndBytes(longest)} — the largest allocation that can succeed`);
  if (status?.message) tooltipLines.push(status.message);
  const icon =
    activity !== undefined
      ? activityPart(activity).icon
      : status === undefined || status.state === "busy"
        ? "sync~spin"
        : status.state === "disconnected"
          ? "debug-disconnect"
          : status.state === "simulated"
            ? "vm"
            : "circuit-board";
  return {
    text: `$(${icon}) ${parts.join(" · ")}`,
    tooltip: tooltipLines.join("\n"),
    icon,
    warning:
      status?.state === "disconnected" || activity?.kind === "softResetFailed" || status?.sandbox === "notSandboxed",
  };
}
