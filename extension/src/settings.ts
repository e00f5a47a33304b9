/**
 * Pure mapping from the extension's configuration to what the server receives, and the
 * server path resolution order. Knows nothing about VS Code: callers pass a getter.
 */
import type { HeapLensSettings } from "./protocol";

/** Reads one `heaplens.*` setting (key without the `heaplens.` prefix); undefined if unset. */
export type SettingGetter = (key: string) => unknown;

/** Every configuration key the extension contributes, without the `heaplens.` prefix. */
export const SETTING_KEYS = [
  "board",
  "simulatedHeapBytes",
  "runOnSave",
  "softResetBeforeRun",
  "traceAllocations",
  "sampleExecutions",
  "thresholds.lineBytes",
  "thresholds.fragmentationPercent",
  "server.path",
  "simulator.path",
] as const;

function stringSetting(get: SettingGetter, key: string, fallback: string): string {
  const value = get(key);
  return typeof value === "string" && value.trim() !== "" ? value.trim() : fallback;
}

function numberSetting(get: SettingGetter, key: string, fallback: number): number {
  const value = get(key);
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

function booleanSetting(get: SettingGetter, key: string, fallback: boolean): boolean {
  const value = get(key);
  return typeof value === "boolean" ? value : fallback;
}

/** `"auto"`, or a whole number of probed executions (0 = every execution). */
function sampleSetting(value: unknown): number | "auto" {
  return typeof value === "number" && Number.isFinite(value) ? Math.max(0, Math.floor(value)) : "auto";
}

/**
 * Builds the settings object sent to the server. In an untrusted workspace `runOnSave` is
 * forced off whatever the user set, because running a file executes workspace code.
 */
export function serverSettings(get: SettingGetter, workspaceTrusted: boolean): HeapLensSettings {
  return {
    board: stringSetting(get, "board", "auto"),
    simulatedHeapBytes: numberSetting(get, "simulatedHeapBytes", 194300),
    runOnSave: workspaceTrusted && booleanSetting(get, "runOnSave", true),
    softResetBeforeRun: booleanSetting(get, "softResetBeforeRun", true),
    traceAllocations: booleanSetting(get, "traceAllocations", true),
    sampleExecutions: sampleSetting(get("sampleExecutions")),
    thresholds: {
      lineBytes: numberSetting(get, "thresholds.lineBytes", 1024),
      fragmentationPercent: numberSetting(get, "thresholds.fragmentationPercent", 50),
    },
    workspaceTrusted,
  };
}

/** Environment variables for the server process (the simulator path, when set). */
export function serverEnvironment(
  get: SettingGetter,
  baseEnv: Record<string, string | undefined>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(baseEnv)) {
    if (value !== undefined) env[key] = value;
  }
  const simulator = stringSetting(get, "simulator.path", "");
  if (simulator !== "") env.HEAPLENS_MICROPYTHON = simulator;
  return env;
}

/** Where the server binary was found, for the log. */
export interface ServerPathChoice {
  path: string;
  source: "env" | "setting" | "bundled" | "path";
}

/**
 * Resolves the server binary: env HEAPLENS_SERVER_PATH (tests) → the `heaplens.server.path`
 * setting → the binary bundled in the extension (`server/heaplens`) → `heaplens` on PATH.
 * `exists` is injected so this stays testable.
 */
export function resolveServerPath(options: {
  env: Record<string, string | undefined>;
  get: SettingGetter;
  extensionPath: string;
  platform: string;
  exists: (path: string) => boolean;
}): ServerPathChoice {
  const fromEnv = options.env.HEAPLENS_SERVER_PATH;
  if (fromEnv !== undefined && fromEnv.trim() !== "") return { path: fromEnv, source: "env" };
  const fromSetting = stringSetting(options.get, "server.path", "");
  if (fromSetting !== "") return { path: fromSetting, source: "setting" };
  const binary = options.platform === "win32" ? "heaplens.exe" : "heaplens";
  const separator = options.platform === "win32" ? "\\" : "/";
  const bundled = [options.extensionPath, "server", binary].join(separator);
  if (options.exists(bundled)) return { path: bundled, source: "bundled" };
  return { path: binary, source: "path" };
}

/** True when a configuration change touches any HeapLens setting. */
export function affectsHeapLens(affects: (section: string) => boolean): boolean {
  return affects("heaplens");
}
