/**
 * Hosts the heap map webview panel (one per window). Messages posted before the page says
 * `ready` are queued, so a snapshot or diff sent right after opening is never lost — and
 * never replaced by an older one: the latest snapshot is only shown on opening when nothing
 * else was asked for. The map's options (mode, zoom, columns) are remembered across
 * reopenings.
 */
import * as vscode from "vscode";
import type { Snapshot } from "./protocol";
import { handleWebviewMessage, type BridgeServer } from "./webviewBridge";
import { makeNonce, webviewHtml } from "./webviewHtml";
import type { MapOptions, ToWebview } from "./webview/messages";

export const HEAP_MAP_VIEW_TYPE = "heaplens.heapMap";

/** Where the map's options are kept between openings (the extension's global state). */
export interface MapMemory {
  load(): Partial<MapOptions> | undefined;
  save(options: MapOptions): void;
}

export class HeapMapPanel {
  private static current: HeapMapPanel | undefined;
  private ready = false;
  private readonly queue: ToWebview[] = [];

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    server: BridgeServer,
    latest: () => Snapshot | undefined,
    memory: MapMemory,
  ) {
    const remembered = memory.load();
    if (remembered !== undefined) this.post({ type: "options", ...remembered });
    const dist = vscode.Uri.joinPath(extensionUri, "dist");
    panel.webview.options = { enableScripts: true, localResourceRoots: [dist] };
    panel.webview.html = webviewHtml({
      cspSource: panel.webview.cspSource,
      nonce: makeNonce(),
      scriptUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(dist, "webview.js")).toString(),
      styleUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(dist, "webview.css")).toString(),
    });
    panel.onDidDispose(() => {
      if (HeapMapPanel.current === this) HeapMapPanel.current = undefined;
    });
    panel.webview.onDidReceiveMessage(async (message: unknown) => {
      let showLatest = true;
      if (typeof message === "object" && message !== null && (message as { type?: unknown }).type === "ready") {
        this.ready = true;
        const queued = this.queue.splice(0);
        // Something opened the map to show a snapshot or a diff: that one, not the latest.
        showLatest = !queued.some((entry) => entry.type === "snapshot" || entry.type === "diff");
        for (const entry of queued) void this.panel.webview.postMessage(entry);
      }
      await handleWebviewMessage(
        message,
        server,
        {
          post: (reply) => this.post(reply),
          reveal: (file, line) => void revealLine(file, line),
          showError: (text) => void vscode.window.showErrorMessage(text),
          saveOptions: (options) => memory.save(options),
        },
        showLatest ? latest() : undefined,
      );
    });
  }

  /** Opens (or reveals) the heap map. */
  static show(
    extensionUri: vscode.Uri,
    server: BridgeServer,
    latest: () => Snapshot | undefined,
    memory: MapMemory,
  ): HeapMapPanel {
    if (HeapMapPanel.current !== undefined) {
      HeapMapPanel.current.panel.reveal(undefined, true);
      return HeapMapPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(
      HEAP_MAP_VIEW_TYPE,
      "Heap Map",
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, "dist")] },
    );
    HeapMapPanel.current = new HeapMapPanel(panel, extensionUri, server, latest, memory);
    return HeapMapPanel.current;
  }

  /** Takes over a panel VS Code restored after a reload. */
  static adopt(
    panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    server: BridgeServer,
    latest: () => Snapshot | undefined,
    memory: MapMemory,
  ): void {
    HeapMapPanel.current?.panel.dispose();
    HeapMapPanel.current = new HeapMapPanel(panel, extensionUri, server, latest, memory);
  }

  /** The open panel, if any. */
  static get open(): HeapMapPanel | undefined {
    return HeapMapPanel.current;
  }

  post(message: ToWebview): void {
    if (this.ready) void this.panel.webview.postMessage(message);
    else this.queue.push(message);
  }
}

/** Opens a document and puts the cursor on a 0-based line. */
async function revealLine(file: string, line: number): Promise<void> {
  const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(file));
  const editor = await vscode.window.showTextDocument(document, vscode.ViewColumn.One);
  const position = new vscode.Position(Math.min(line, Math.max(0, document.lineCount - 1)), 0);
  editor.selection = new vscode.Selection(position, position);
  editor.revealRange(new vscode.Range(position, position), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
}
