/**
 * Answers the heap map webview's messages by calling the server. Pure: the server calls and
 * the panel are interfaces, so tests drive it without VS Code.
 */
import type { DiffResult, Snapshot, SnapshotSummary } from "./protocol";
import type { FromWebview, MapOptions, ToWebview } from "./webview/messages";

export interface BridgeServer {
  listSnapshots(): Promise<SnapshotSummary[]>;
  getSnapshot(id: string): Promise<Snapshot>;
  diff(before: string, after: string): Promise<DiffResult>;
  /** Drops every snapshot the server holds. */
  clearSnapshots(): Promise<void>;
}

export interface BridgeHost {
  post(message: ToWebview): void;
  reveal(file: string, line: number): void;
  showError(message: string): void;
  /** Remembers the map's options for the next time it opens. */
  saveOptions(options: MapOptions): void;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Checks an untrusted message from the webview. */
export function parseWebviewMessage(message: unknown): FromWebview | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  const value = message as Record<string, unknown>;
  switch (value.type) {
    case "ready":
      return { type: "ready" };
    case "select":
      return typeof value.id === "string" ? { type: "select", id: value.id } : undefined;
    case "compare":
      return typeof value.before === "string" && typeof value.after === "string"
        ? { type: "compare", before: value.before, after: value.after }
        : undefined;
    case "revealLine":
      return typeof value.file === "string" && typeof value.line === "number" && value.line >= 0
        ? { type: "revealLine", file: value.file, line: Math.floor(value.line) }
        : undefined;
    case "clear":
      return { type: "clear" };
    case "saveOptions": {
      const options = parseOptions(value.options);
      return options === undefined ? undefined : { type: "saveOptions", options };
    }
    default:
      return undefined;
  }
}

/** Checks the map options a webview asks to remember. */
function parseOptions(value: unknown): MapOptions | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { mode, showFree, zoom, columns } = value as Record<string, unknown>;
  if (mode !== "kinds" && mode !== "rainbow" && mode !== "diff") return undefined;
  if (typeof showFree !== "boolean" || typeof zoom !== "number" || typeof columns !== "number") return undefined;
  if (!(zoom >= 0 && zoom <= 16) || !(columns >= 0 && columns <= 8192)) return undefined;
  return { mode, showFree, zoom: Math.floor(zoom), columns: Math.floor(columns) };
}

/**
 * Handles one message from the webview. On `ready` the snapshot list is sent, then `latest`
 * when given (the panel passes none when it already has a snapshot of its own to show).
 */
export async function handleWebviewMessage(
  raw: unknown,
  server: BridgeServer,
  host: BridgeHost,
  latest: Snapshot | undefined,
): Promise<void> {
  const message = parseWebviewMessage(raw);
  if (message === undefined) return;
  try {
    switch (message.type) {
      case "ready":
        host.post({ type: "snapshots", list: await server.listSnapshots() });
        if (latest !== undefined) host.post({ type: "snapshot", snapshot: latest });
        return;
      case "select":
        host.post({ type: "snapshot", snapshot: await server.getSnapshot(message.id) });
        return;
      case "compare":
        host.post({ type: "diff", diff: await server.diff(message.before, message.after) });
        return;
      case "revealLine":
        host.reveal(message.file, message.line);
        return;
      case "saveOptions":
        host.saveOptions(message.options);
        return;
      case "clear":
        await server.clearSnapshots();
        host.post({ type: "snapshots", list: await server.listSnapshots() });
        return;
    }
  } catch (error) {
    host.showError(`HeapLens: ${errorText(error)}`);
  }
}
