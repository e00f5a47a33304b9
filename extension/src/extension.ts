/**
 * HeapLens VS Code client: finds and starts `heaplens lsp`, forwards settings and commands,
 * and shows what the server pushes (status bar, decorations, output, heap map). No heap
 * logic lives here: every figure comes from the server.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type Executable,
  type LanguageClientOptions,
  State,
} from "vscode-languageclient/node";
import { HEAT_COLOURS, LEVELS, countLineBreaks, gutterIconDataUri, type LineDecoration } from "./decorations";
import { HeapMapPanel, HEAP_MAP_VIEW_TYPE, type MapMemory } from "./heapMapPanel";
import {
  Method,
  ServerCommand,
  type DiffResult,
  type JobFinishedParams,
  type JobStarted,
  type ListBoardsResult,
  type ListSnapshotsResult,
  type ReplStateParams,
  type Snapshot,
  type SnapshotSummary,
} from "./protocol";
import { spawnRunner } from "./processRunner";
import { ReplScreen } from "./repl";
import { Router, type RunningJob } from "./router";
import { resolveServerPath, serverEnvironment, serverSettings, type SettingGetter } from "./settings";
import { failureMessage, installSimulator, isSimulatorUnsupported, SimulatorOfferGate } from "./simInstall";
import { fileName } from "./units";
import type { BridgeServer } from "./webviewBridge";
import type { MapOptions } from "./webview/messages";

/** `globalState` key: the user allowed runs on a simulated Pico that is not sandboxed. */
const UNSANDBOXED_ALLOWED_KEY = "heaplens.unsandboxedSimulatorAllowed";

let client: LanguageClient | undefined;

function settingGetter(): SettingGetter {
  const configuration = vscode.workspace.getConfiguration("heaplens");
  return (key) => configuration.get(key);
}

/** Calls a server command through `workspace/executeCommand`. */
async function serverCommand<T>(command: string, ...args: unknown[]): Promise<T> {
  if (client === undefined) throw new Error("the HeapLens server is not running");
  return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args })) as T;
}

const bridgeServer: BridgeServer = {
  async listSnapshots() {
    // Before the server runs (or after it failed) the map simply has no history yet.
    if (client === undefined || !client.isRunning()) return [];
    const result = await client.sendRequest<ListSnapshotsResult>(Method.listSnapshots, {});
    return result.snapshots;
  },
  async getSnapshot(id) {
    if (client === undefined) throw new Error("the HeapLens server is not running");
    return client.sendRequest<Snapshot>(Method.getSnapshot, { id });
  },
  async diff(before, after) {
    if (client === undefined) throw new Error("the HeapLens server is not running");
    return client.sendRequest<DiffResult>(Method.diff, { before, after });
  },
  async clearSnapshots() {
    await serverCommand(ServerCommand.clearSnapshots);
  },
};

/** The key under which the heap map's options are remembered. */
const MAP_OPTIONS_KEY = "heaplens.heapMap.options";

/**
 * The REPL terminal: a VS Code pseudoterminal whose bytes go through the server, which owns
 * the board link (serial or simulated alike) and gives the board back to HeapLens's own jobs
 * while they run. One at a time.
 */
class ReplTerminal implements vscode.Pseudoterminal {
  private static current: ReplTerminal | undefined;
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<void>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private readonly screen = new ReplScreen();
  private terminal: vscode.Terminal | undefined;

  /** Shows the REPL terminal, opening it on the board if it is not open. */
  static show(): void {
    if (ReplTerminal.current?.terminal !== undefined) {
      ReplTerminal.current.terminal.show();
      return;
    }
    const pty = new ReplTerminal();
    ReplTerminal.current = pty;
    pty.terminal = vscode.window.createTerminal({ name: "HeapLens REPL", pty, iconPath: new vscode.ThemeIcon("terminal") });
    pty.terminal.show();
  }

  static onOutput(params: unknown): void {
    const text = (params as { text?: unknown } | null)?.text;
    if (typeof text === "string") ReplTerminal.current?.write(ReplTerminal.current.screen.output(text));
  }

  static onState(params: unknown): void {
    const current = ReplTerminal.current;
    if (current === undefined || typeof (params as { state?: unknown } | null)?.state !== "string") return;
    current.write(current.screen.stateChanged(params as ReplStateParams));
  }

  open(): void {
    this.write("\x1b[2m[HeapLens: opening the REPL on the board…]\x1b[0m\r\n");
    serverCommand<JobStarted>(ServerCommand.openRepl).catch((error: unknown) => {
      this.write(`\r\n[HeapLens: the REPL could not open: ${error instanceof Error ? error.message : String(error)}]\r\n`);
    });
  }

  handleInput(data: string): void {
    const decision = this.screen.input();
    if (decision.write !== "") this.write(decision.write);
    if (decision.send && client !== undefined) void client.sendNotification(Method.replInput, { text: data });
  }

  close(): void {
    if (ReplTerminal.current === this) ReplTerminal.current = undefined;
    void serverCommand(ServerCommand.closeRepl).catch(() => undefined);
  }

  private write(text: string): void {
    if (text !== "") this.writeEmitter.fire(text);
  }
}

/** Creates one decoration type per heat level, with light/dark gutter marks. */
function createDecorationTypes(): vscode.TextEditorDecorationType[] {
  return Array.from({ length: LEVELS }, (_, level) => {
    const colours = HEAT_COLOURS[level] ?? { dark: "#888888", light: "#888888" };
    return vscode.window.createTextEditorDecorationType({
      isWholeLine: true,
      overviewRulerLane: vscode.OverviewRulerLane.Left,
      after: {
        margin: "0 0 0 2em",
        fontStyle: "italic",
        color: new vscode.ThemeColor("editorCodeLens.foreground"),
      },
      dark: { gutterIconPath: vscode.Uri.parse(gutterIconDataUri(level, colours.dark)), overviewRulerColor: colours.dark },
      light: {
        gutterIconPath: vscode.Uri.parse(gutterIconDataUri(level, colours.light)),
        overviewRulerColor: colours.light,
      },
    });
  });
}

function sameUri(a: vscode.Uri, b: string): boolean {
  try {
    return a.toString() === vscode.Uri.parse(b).toString();
  } catch {
    return false;
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("HeapLens");
  const status = vscode.window.createStatusBarItem("heaplens.board", vscode.StatusBarAlignment.Left, 50);
  status.name = "HeapLens board";
  status.command = "heaplens.selectBoard";
  status.show();
  // Shown only while a run goes: one click stops it.
  const stopItem = vscode.window.createStatusBarItem("heaplens.stop", vscode.StatusBarAlignment.Left, 49);
  stopItem.name = "HeapLens Stop";
  stopItem.command = "heaplens.stop";
  stopItem.backgroundColor = new vscode.ThemeColor("statusBarItem.warningBackground");
  const decorationTypes = createDecorationTypes();
  context.subscriptions.push(output, status, stopItem, ...decorationTypes);
  const mapMemory: MapMemory = {
    load: () => context.globalState.get<Partial<MapOptions>>(MAP_OPTIONS_KEY),
    save: (options) => void context.globalState.update(MAP_OPTIONS_KEY, options),
  };
  let jobFailed: (params: JobFinishedParams) => void = () => undefined;

  const applyGroups = (editor: vscode.TextEditor, groups: LineDecoration[][]): void => {
    decorationTypes.forEach((type, level) => {
      const options = (groups[level] ?? [])
        .filter((entry) => entry.line < editor.document.lineCount)
        .map((entry): vscode.DecorationOptions => {
          const range = editor.document.lineAt(entry.line).range;
          const hover = entry.hover === undefined ? undefined : new vscode.MarkdownString(entry.hover);
          return { range, hoverMessage: hover, renderOptions: { after: { contentText: entry.text } } };
        });
      editor.setDecorations(type, options);
    });
  };

  const router = new Router({
    showStatus(view) {
      status.text = view.text;
      status.tooltip = view.tooltip;
      status.backgroundColor = view.warning ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
    },
    setDecorations(uri, groups) {
      for (const editor of vscode.window.visibleTextEditors) {
        if (sameUri(editor.document.uri, uri)) applyGroups(editor, groups);
      }
    },
    appendOutput(text) {
      output.append(text);
    },
    revealOutput() {
      if (vscode.workspace.getConfiguration("heaplens").get<boolean>("revealOutputOnError") !== false) output.show(true);
    },
    showSnapshot(snapshot) {
      HeapMapPanel.open?.post({ type: "snapshot", snapshot });
    },
    showTimeline(timeline) {
      HeapMapPanel.open?.post({ type: "timeline", timeline });
    },
    runningChanged(running: readonly RunningJob[]) {
      void vscode.commands.executeCommand("setContext", "heaplens.running", running.length > 0);
      const last = running.at(-1);
      if (last === undefined) {
        stopItem.hide();
        return;
      }
      stopItem.text = `$(debug-stop) Stop ${last.uri === null ? "the run" : fileName(last.uri)}`;
      stopItem.tooltip = "HeapLens: Stop — interrupt the running script (Ctrl-C on the board)";
      stopItem.show();
    },
    jobFailed(params) {
      jobFailed(params);
    },
    jobFinished(params) {
      // What a run copied to the board is in the output channel; the status bar says it briefly.
      const copied = params.run?.copied ?? [];
      if (copied.length > 0) {
        vscode.window.setStatusBarMessage(`HeapLens: copied ${copiedText(copied)} to the board`, 5000);
      }
      if (params.kind === "capture" || params.kind === "run") {
        // The heap map's list follows the server's (names such as "at failure" are set at the end).
        const panel = HeapMapPanel.open;
        if (panel !== undefined) void bridgeServer.listSnapshots().then((list) => panel.post({ type: "snapshots", list }));
      }
    },
    schedule(ms, action) {
      setTimeout(action, ms);
    },
  });

  const showHeapMap = (): HeapMapPanel =>
    HeapMapPanel.show(context.extensionUri, bridgeServer, () => router.latestSnapshot, mapMemory);

  context.subscriptions.push(
    vscode.workspace.onDidChangeTextDocument((event) => {
      if (event.contentChanges.length === 0) return;
      router.onDocumentEdited(
        event.document.uri.toString(),
        event.contentChanges.map((change) => ({
          startLine: change.range.start.line,
          endLine: change.range.end.line,
          insertedLineBreaks: countLineBreaks(change.text),
        })),
      );
    }),
    vscode.window.onDidChangeVisibleTextEditors((editors) => {
      for (const editor of editors) {
        const groups = router.decorationsFor(editor.document.uri.toString());
        if (groups !== undefined) applyGroups(editor, groups);
      }
    }),
    vscode.window.registerWebviewPanelSerializer(HEAP_MAP_VIEW_TYPE, {
      deserializeWebviewPanel(panel) {
        HeapMapPanel.adopt(panel, context.extensionUri, bridgeServer, () => router.latestSnapshot, mapMemory);
        return Promise.resolve();
      },
    }),
  );

  const get = settingGetter();
  const serverPath = resolveServerPath({
    env: process.env,
    get,
    extensionPath: context.extensionPath,
    platform: process.platform,
    exists: existsSync,
  });
  output.appendLine(`HeapLens: starting ${serverPath.path} lsp (from ${serverPath.source})`);
  // Kept by reference: the client reads it on every (re)start, so a new simulator path
  // reaches the server as HEAPLENS_MICROPYTHON by updating `options.env` and restarting.
  let serverEnv = serverEnvironment(get, process.env);
  const serverOptions: Executable = { command: serverPath.path, args: ["lsp"], options: { env: serverEnv } };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "python" },
      { scheme: "file", language: "mpheap" },
      { scheme: "untitled", language: "mpheap" },
    ],
    // A function, so that a restart sends the settings of that moment.
    initializationOptions: () =>
      serverSettings(vscode.workspace.getConfiguration("heaplens"), vscode.workspace.isTrusted, unsandboxedAllowed()),
    outputChannelName: "HeapLens Language Server",
    middleware: {
      // The server's inlay hints carry the same "+96.8 KiB ×13" text as heaplens/decorations
      // (meant for editors without decorations); VS Code would show both side by side, and
      // the decoration is the one that is theme-coloured and cleared when the line is edited.
      provideInlayHints: () => [],
    },
  };
  client = new LanguageClient("heaplens", "HeapLens Language Server", serverOptions, clientOptions);
  // The extension registers the heaplens.* commands itself (with UI around them) and sends
  // them with workspace/executeCommand; the client must not register the server's list too,
  // or VS Code rejects the duplicate command ids.
  const executeCommandFeature = client.getFeature(ExecuteCommandRequest.method);
  executeCommandFeature.initialize = () => undefined;
  executeCommandFeature.register = () => undefined;

  let restarts = Promise.resolve();
  /**
   * Restarts the server when `heaplens.simulator.path` no longer matches the environment it
   * was started with (the server reads HEAPLENS_MICROPYTHON from its environment only).
   * Serialized: a settings editor can fire several changes in a row.
   */
  const applySimulatorPath = (): Promise<void> => {
    restarts = restarts.then(async () => {
      const env = serverEnvironment(settingGetter(), process.env);
      if (env.HEAPLENS_MICROPYTHON === serverEnv.HEAPLENS_MICROPYTHON) return;
      serverEnv = env;
      serverOptions.options = { ...serverOptions.options, env };
      if (client === undefined || client.state === State.Stopped) return;
      output.appendLine(`HeapLens: restarting the server with HEAPLENS_MICROPYTHON=${env.HEAPLENS_MICROPYTHON ?? "(unset)"}`);
      try {
        await client.restart();
      } catch (error) {
        output.appendLine(`HeapLens: the server did not restart: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
    return restarts;
  };
  const simulator = simulatorInstaller(context, output, applySimulatorPath);
  registerCommands(context, showHeapMap, simulator.install, output);
  jobFailed = (params) => {
    const error = params.error;
    if (error === null) return;
    if (error.code === "simulatorMissing") {
      simulator.offer({ state: "disconnected", reason: "simulatorMissing" });
      return;
    }
    const what = { run: "the run", plainRun: "the run", capture: "the capture", softReset: "the soft reset", selectBoard: "opening the board", repl: "the REPL" }[params.kind];
    const boardTrouble = [
      "portBusy",
      "permissionDenied",
      "portNotFound",
      "openFailed",
      "disconnected",
      "timeout",
      "notConnected",
      "simulatorUnsupported",
    ].includes(error.code);
    void (async () => {
      const action = boardTrouble ? "Select Board…" : "Show Output";
      const choice = await vscode.window.showErrorMessage(`HeapLens: ${what} failed: ${error.message}`, action);
      if (choice === "Select Board…") await vscode.commands.executeCommand("heaplens.selectBoard");
      else if (choice === "Show Output") output.show(true);
    })();
  };

  client.onNotification(Method.boardStatus, (params: unknown) => {
    router.onBoardStatus(params);
    const sandbox = typeof params === "object" && params !== null ? (params as { sandbox?: unknown }).sandbox : undefined;
    if (sandbox === "notSandboxed") void askToRunUnsandboxed();
    simulator.offer(params);
  });
  client.onNotification(Method.decorations, (params: unknown) => router.onDecorations(params));
  client.onNotification(Method.output, (params: unknown) => router.onOutput(params));
  client.onNotification(Method.snapshot, (params: unknown) => router.onSnapshot(params));
  client.onNotification(Method.timeline, (params: unknown) => router.onTimeline(params));
  client.onNotification(Method.jobStarted, (params: unknown) => router.onJobStarted(params));
  client.onNotification(Method.jobFinished, (params: unknown) => router.onJobFinished(params));
  client.onNotification(Method.replOutput, (params: unknown) => ReplTerminal.onOutput(params));
  client.onNotification(Method.replState, (params: unknown) => ReplTerminal.onState(params));

  const sendSettings = (): void => {
    if (client === undefined || !client.isRunning()) return;
    void client.sendNotification(DidChangeConfigurationNotification.type, {
      settings: serverSettings(vscode.workspace.getConfiguration("heaplens"), vscode.workspace.isTrusted, unsandboxedAllowed()),
    });
  };
  /**
   * Where the kernel has no Landlock the simulated Pico runs scripts with the user's rights:
   * ask once (remembered), before the first run; the server refuses runs until allowed.
   */
  let asking = false;
  const askToRunUnsandboxed = async (): Promise<void> => {
    if (unsandboxedAllowed() || asking) return;
    asking = true;
    const choice = await vscode.window.showWarningMessage(
      "The simulated Pico is not sandboxed on this machine (the kernel has no Landlock): a script run on it could read and write your files and run programs. Run scripts on it anyway?",
      { modal: true },
      "Run Anyway",
    );
    asking = false;
    if (choice !== "Run Anyway") return;
    await context.globalState.update(UNSANDBOXED_ALLOWED_KEY, true);
    sendSettings();
  };
  const unsandboxedAllowed = (): boolean => context.globalState.get<boolean>(UNSANDBOXED_ALLOWED_KEY) === true;

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("heaplens.simulator.path")) void applySimulatorPath();
      else if (event.affectsConfiguration("heaplens")) sendSettings();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(sendSettings),
  );

  try {
    await client.start();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    router.onBoardStatus({
      state: "disconnected",
      port: null,
      firmware: null,
      freeBytes: null,
      maxFreeBytes: null,
      reason: "internal",
      message: `The language server did not start: ${message}`,
    });
    void vscode.window.showErrorMessage(
      `HeapLens: could not start the language server (${serverPath.path}): ${message}. ` +
        "Set heaplens.server.path to the heaplens binary.",
    );
  }
}

/** Opens the Settings editor at `heaplens.simulator.path`. */
function openSimulatorSetting(): Thenable<unknown> {
  return vscode.commands.executeCommand("workbench.action.openSettings", "heaplens.simulator.path");
}

/**
 * The simulated Pico's install offer and command. `offer` gets every board status and asks
 * once when the server says the interpreter is missing; `install` runs `installSimulator`
 * under a cancellable progress notification, then points the setting at the new interpreter.
 */
function simulatorInstaller(
  context: vscode.ExtensionContext,
  output: vscode.OutputChannel,
  applySimulatorPath: () => Promise<void>,
): { offer: (status: unknown) => void; install: () => Promise<void> } {
  const gate = new SimulatorOfferGate();
  const unsupportedGate = new SimulatorOfferGate(isSimulatorUnsupported);
  let installing = false;

  const install = async (): Promise<void> => {
    if (installing) {
      void vscode.window.showInformationMessage("HeapLens: the simulated Pico is already being installed.");
      return;
    }
    installing = true;
    try {
      output.show(true);
      output.appendLine("HeapLens: installing the simulated Pico (MicroPython unix port)");
      const outcome = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "HeapLens: installing the simulated Pico", cancellable: true },
        async (progress, token) => {
          const abort = new AbortController();
          const cancelled = token.onCancellationRequested(() => abort.abort());
          try {
            return await installSimulator({
              storage: context.globalStorageUri.fsPath,
              platform: process.platform,
              arch: process.arch,
              runner: spawnRunner,
              files: { mkdir: async (path) => void (await mkdir(path, { recursive: true })), exists: existsSync },
              signal: abort.signal,
              log: (text) => output.append(text),
              step: (message) => progress.report({ message }),
            });
          } finally {
            cancelled.dispose();
          }
        },
      );
      if (!outcome.ok) {
        const message = failureMessage(outcome.failure);
        if (message === undefined) {
          output.appendLine("HeapLens: simulated Pico install cancelled");
          return;
        }
        output.appendLine(message);
        // Off Linux no interpreter path helps: the way forward is a real board.
        const action = outcome.failure.kind === "unsupported" && outcome.failure.platform !== "linux" ? "Select Board…" : "Set Path…";
        const choice = await vscode.window.showErrorMessage(message, action);
        if (choice === "Set Path…") await openSimulatorSetting();
        else if (choice === "Select Board…") await vscode.commands.executeCommand("heaplens.selectBoard");
        return;
      }
      const configuration = vscode.workspace.getConfiguration("heaplens");
      await configuration.update("simulator.path", outcome.micropython, vscode.ConfigurationTarget.Global);
      await applySimulatorPath();
      // If the server still cannot start it, the next "missing" status may ask again.
      gate.rearm();
      const effective = vscode.workspace.getConfiguration("heaplens").get<string>("simulator.path");
      if (effective !== outcome.micropython) {
        void vscode.window.showWarningMessage(
          `HeapLens: installed ${outcome.micropython}, but a workspace setting heaplens.simulator.path (${effective ?? ""}) overrides it.`,
        );
      } else {
        void vscode.window.showInformationMessage(`HeapLens: the simulated Pico is installed (${outcome.micropython}).`);
      }
    } finally {
      installing = false;
    }
  };

  const offer = (status: unknown): void => {
    // Off Linux (the darwin and win32 packages) the server has no simulated Pico: with no
    // board attached, say once that one is needed rather than offering an install.
    if (unsupportedGate.consider(status)) {
      const message = (status as { message?: unknown }).message;
      void (async () => {
        const choice = await vscode.window.showWarningMessage(
          `HeapLens: ${typeof message === "string" ? message : "the simulated Pico needs Linux: attach a MicroPython board."}`,
          "Select Board…",
        );
        if (choice === "Select Board…") await vscode.commands.executeCommand("heaplens.selectBoard");
      })();
      return;
    }
    if (installing || !gate.consider(status)) return;
    void (async () => {
      const choice = await vscode.window.showWarningMessage(
        "HeapLens: the simulated Pico needs the MicroPython unix port, which is not installed.",
        "Install Simulated Pico",
        "Set Path…",
      );
      if (choice === "Install Simulated Pico") await vscode.commands.executeCommand("heaplens.installSimulator");
      else if (choice === "Set Path…") await openSimulatorSetting();
    })();
  };

  return { offer, install };
}

function registerCommands(
  context: vscode.ExtensionContext,
  showHeapMap: () => HeapMapPanel,
  installSimulatorCommand: () => Promise<void>,
  output: vscode.OutputChannel,
): void {
  const run = (name: string, action: (...args: unknown[]) => Promise<unknown>) =>
    vscode.commands.registerCommand(name, async (...args: unknown[]) => {
      try {
        await action(...args);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        void vscode.window.showErrorMessage(`HeapLens: ${message}`);
      }
    });

  context.subscriptions.push(
    run("heaplens.captureHeap", async () => {
      showHeapMap();
      await serverCommand(ServerCommand.captureHeap, { gc: false });
    }),
    run("heaplens.runFile", async (target?: unknown) => {
      // Run File, the lens and the keybinding all come here: nothing runs from a workspace
      // that is not trusted (the server refuses too, and never runs on save there).
      if (!vscode.workspace.isTrusted) {
        const choice = await vscode.window.showWarningMessage(
          "HeapLens runs nothing from an untrusted workspace.",
          "Manage Workspace Trust",
        );
        if (choice !== undefined) await vscode.commands.executeCommand("workbench.trust.manage");
        return;
      }
      const uri = target instanceof vscode.Uri ? target : vscode.window.activeTextEditor?.document.uri;
      if (uri === undefined) throw new Error("open a Python file to run");
      const document = vscode.workspace.textDocuments.find((doc) => doc.uri.toString() === uri.toString());
      if (document?.isDirty) await document.save();
      await serverCommand(ServerCommand.runFile, uri.toString());
    }),
    run("heaplens.runPlain", async (target?: unknown) => {
      const uri = target instanceof vscode.Uri ? target : vscode.window.activeTextEditor?.document.uri;
      if (uri === undefined) throw new Error("open a Python file to run");
      const document = vscode.workspace.textDocuments.find((doc) => doc.uri.toString() === uri.toString());
      if (document?.isDirty) await document.save();
      await serverCommand(ServerCommand.runPlain, uri.toString());
    }),
    run("heaplens.stop", () => serverCommand(ServerCommand.stop)),
    run("heaplens.softReset", () => serverCommand(ServerCommand.softReset)),
    run("heaplens.openRepl", () => {
      ReplTerminal.show();
      return Promise.resolve();
    }),
    run("heaplens.clearSnapshots", async () => {
      await bridgeServer.clearSnapshots();
      HeapMapPanel.open?.post({ type: "snapshots", list: await bridgeServer.listSnapshots() });
    }),
    run("heaplens.selectBoard", async () => {
      const { boards } = await serverCommand<ListBoardsResult>(ServerCommand.listBoards);
      const picked = await vscode.window.showQuickPick(
        boards.map((board) => ({ label: board.label, description: board.description, board: board.board })),
        { title: "HeapLens: Select Board", placeHolder: "Board to run scripts on" },
      );
      if (picked !== undefined) await serverCommand<JobStarted>(ServerCommand.selectBoard, picked.board);
    }),
    run("heaplens.compareSnapshots", async () => {
      const list = await bridgeServer.listSnapshots();
      if (list.length < 2) throw new Error("compare needs at least two snapshots: run a file or capture twice");
      const items = list.map((summary: SnapshotSummary) => ({
        label: summary.runId === null ? summary.name : `run ${summary.runId} · ${summary.name}`,
        description: `${new Date(summary.time).toLocaleTimeString()}${summary.file === null ? "" : ` · ${fileName(summary.file)}`}`,
        id: summary.id,
      }));
      const before = await vscode.window.showQuickPick(items, { title: "Compare snapshots: before" });
      if (before === undefined) return;
      const after = await vscode.window.showQuickPick(
        items.filter((item) => item.id !== before.id),
        { title: "Compare snapshots: after" },
      );
      if (after === undefined) return;
      const diff = await bridgeServer.diff(before.id, after.id);
      showHeapMap().post({ type: "diff", diff });
    }),
    run("heaplens.installSimulator", installSimulatorCommand),
    run("heaplens.showOutput", () => {
      output.show(true);
      return Promise.resolve();
    }),
    run("heaplens.showHeapMap", () => {
      showHeapMap();
      return Promise.resolve();
    }),
    // From the explorer or editor title: the document (every dump of it, a timeline when it
    // holds several). From the server's code lenses: `[uri, index?]`, one dump or all.
    run("heaplens.openAsHeapMap", async (target?: unknown, index?: unknown) => {
      const uri =
        target instanceof vscode.Uri
          ? target.toString()
          : typeof target === "string"
            ? target
            : vscode.window.activeTextEditor?.document.uri.toString();
      if (uri === undefined) throw new Error("open a .mpheap dump first");
      // The server parses the dump; the client only shows the snapshots it stores.
      const args: unknown[] = typeof index === "number" ? [uri, index] : [uri];
      const snapshot = await serverCommand<Snapshot | null>(ServerCommand.openDump, ...args);
      // A dump saved as .txt or .log (`heaplens capture --raw --save capture.txt`) read as
      // one: from now on the editor treats it as a dump (hovers, outline, lenses).
      const document = vscode.workspace.textDocuments.find((doc) => doc.uri.toString() === uri);
      if (document !== undefined && document.languageId !== "mpheap") {
        await vscode.languages.setTextDocumentLanguage(document, "mpheap");
      }
      const panel = showHeapMap();
      panel.post({ type: "snapshots", list: await bridgeServer.listSnapshots() });
      if (snapshot !== null && snapshot !== undefined) panel.post({ type: "snapshot", snapshot });
    }),
  );
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}

/** `helper.py`, `helper.py and main.py`, or `3 files (helper.py, …)`. */
function copiedText(files: readonly string[]): string {
  if (files.length <= 2) return files.join(" and ");
  return `${files.length} files (${files.slice(0, 2).join(", ")}, …)`;
}
