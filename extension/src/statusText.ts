/**
 * Pure text for the status bar item, from the last `heaplens/boardStatus`.
 * The item reads e.g. "Pico on /dev/ttyACM0 · 91.0 KiB free · 45.5 KiB max block".
 */
import type { BoardStatus } from "./protocol";

/** What the status bar item shows. `icon` is a codicon id. */
export interface StatusView {
  text: string;
  tooltip: string;
  icon: string;
  /** True when the item should use the warning background. */
  warning: boolean;
}

/** Formats a byte count with a binary unit, one decimal above 1 KiB ("1.5 KiB", "512 B"). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "?";
  if (Math.abs(bytes) < 1024) return `${bytes} B`;
  if (Math.abs(bytes) < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

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

/** Builds the status bar view from the latest board status (undefined before the first). */
export function statusView(status: BoardStatus | undefined): StatusView {
  const parts = [boardLabel(status)];
  if (status?.freeBytes !== null && status?.freeBytes !== undefined) {
    parts.push(`${formatBytes(status.freeBytes)} free`);
  }
  if (status?.maxFreeBytes !== null && status?.maxFreeBytes !== undefined) {
    parts.push(`${formatBytes(status.maxFreeBytes)} max block`);
  }
  const tooltipLines = ["HeapLens — click to select a board"];
  if (status?.firmware) tooltipLines.push(`Firmware: ${status.firmware}`);
  if (status?.freeBytes !== null && status?.freeBytes !== undefined) tooltipLines.push(`Free heap after the last run: ${status.freeBytes} bytes`);
  if (status?.maxFreeBytes !== null && status?.maxFreeBytes !== undefined) {
    tooltipLines.push(`Longest free block after the last run: ${status.maxFreeBytes} bytes`);
  }
  if (status?.message) tooltipLines.push(status.message);
  const icon =
    status === undefined || status.state === "busy"
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
    warning: status?.state === "disconnected",
  };
}
