/**
 * Pure mapping from the extension's configuration to what the server receives, and the
 * server path resolution order. Knows nothing about VS Code: callers pass a getter.
 */
import type { InitializationOptions, Settings } from "./protocol";

/** Reads one `heaplens.*` setting (key without the `heaplens.` prefix); undefined if unset. */
export type SettingGetter = (key: string) => unknown;

function stringSetting(get: SettingGetter, key: string, fallback: string): string {
  const value = get(key);
  return typeof value === "string" && value.trim() !== "" ? value.trim() : fallback;
}

/**
 * What the server receives as `initializationOptions` and in
 * `workspace/didChangeConfiguration`: the `heaplens` configuration section as VS Code holds it
 * (the server owns every setting's type, default and range, and reports bad values itself),
 * whether the workspace is trusted (the server runs no code from an untrusted one), that
 * this client shows failed board jobs itself, and whether the user allowed runs on a simulated
 * Pico that is not sandboxed on this machine.
 */
export function serverSettings(
  section: unknown,
  workspaceTrusted: boolean,
  unsandboxedSimulatorAllowed = false,
): InitializationOptions {
  // A configuration object is a proxy with methods: send its data only.
  const data = section === undefined ? null : (JSON.parse(JSON.stringify(section)) as Settings);
  // The extension shows failed board jobs itself, with actions (Install Simulated Pico, …).
  return { heaplens: data, workspaceTrusted, clientShowsJobErrors: true, unsandboxedSimulatorAllowed };
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
