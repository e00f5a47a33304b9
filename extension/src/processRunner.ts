/**
 * The real `ProcessRunner`: `child_process.spawn` without a shell, output streamed as text,
 * the child killed when the signal aborts. The only place the simulator install touches
 * processes; the flow itself lives in `simInstall.ts`.
 */
import { spawn } from "node:child_process";
import type { ProcessResult, ProcessRunner } from "./simInstall";

export const spawnRunner: ProcessRunner = {
  run(command, args, options) {
    return new Promise<ProcessResult>((resolve) => {
      if (options.signal.aborted) {
        resolve({ kind: "cancelled" });
        return;
      }
      // Settled once: `error` and `close` can both fire for one child.
      let settled = false;
      const settle = (result: ProcessResult): void => {
        if (settled) return;
        settled = true;
        options.signal.removeEventListener("abort", onAbort);
        resolve(result);
      };
      const child = spawn(command, [...args], {
        cwd: options.cwd,
        stdio: ["ignore", "pipe", "pipe"],
        windowsHide: true,
        // pip must not wait for a prompt nobody can answer.
        env: { ...process.env, PIP_NO_INPUT: "1", PYTHONUNBUFFERED: "1" },
      });
      const onAbort = (): void => {
        child.kill();
        settle({ kind: "cancelled" });
      };
      options.signal.addEventListener("abort", onAbort, { once: true });
      child.stdout.setEncoding("utf8");
      child.stderr.setEncoding("utf8");
      child.stdout.on("data", (text: string) => options.onOutput(text));
      child.stderr.on("data", (text: string) => options.onOutput(text));
      child.on("error", (error: NodeJS.ErrnoException) => {
        settle(error.code === "ENOENT" ? { kind: "notFound" } : { kind: "failed", message: error.message });
      });
      child.on("close", (code, signal) => {
        if (code !== null) settle({ kind: "exited", code });
        else settle({ kind: "failed", message: `killed by ${signal ?? "a signal"}` });
      });
    });
  },
};
