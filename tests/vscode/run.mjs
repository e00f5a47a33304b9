// Real VS Code end-to-end test: code-server 4.100.3 (VS Code 1.100.3) from npm, driven by
// playwright-core and Debian's chromium, with the packaged .vsix installed, its bundled
// language server and the simulated Pico (the repository's .venv/bin/micropython, passed
// through the heaplens.simulator.path setting). Steps (each leaves a screenshot in
// artifacts/vscode/):
//   1. the workbench loads, parrot.py opens from the explorer, the extension activates
//      (its status bar item appears) and the status bar shows the simulated board;
//   2. saving parrot.py runs it: an error diagnostic on line 10 says
//      "allocation of 98305 bytes (3073 blocks) exceeds max free block of …", and the status
//      bar shows the free heap after the run;
//   3. hovering line 10 shows its per-line deltas (the server's hover table);
//   4. "HeapLens: Show Heap Map" from the command palette shows the run's last snapshot;
//   5. "HeapLens: Capture Heap" from the command palette draws the captured snapshot: every
//      block is painted (pixels = blocks × cell²) and the free colour covers exactly the free
//      blocks of the header, at two zoom levels.
// Usage (from the repository root, after `bash scripts/setup-code-server.sh`,
// `cargo build --bins` and `(cd extension && npm run package)`):
//   node tests/vscode/run.mjs [--vsix extension/heaplens-linux-x64.vsix] [--fake-server]
//                             [--update-docs]
// `--fake-server` runs against extension/test/fakeServer (a scripted stand-in; build it with
// `cd extension && node esbuild.mjs --tests`): it checks the client, not the real server, so
// only the steps its canned data supports are meaningful.
// `--update-docs` copies the MemoryError and heap map screenshots to docs/.
// Prints one `ok`/`FAIL` line per step (a failing step names its screenshot) and a closing
// `N passed, N failed` line; exits 1 on any failure. Waits on DOM conditions, never on fixed
// sleeps; only the command palette is retried (typing into it races with focus changes).
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
// playwright-core comes from the extension's locked dev dependencies (no second install).
const { chromium } = createRequire(join(root, "extension", "package.json"))("playwright-core");

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const index = args.indexOf(name);
  return index >= 0 && args[index + 1] !== undefined ? args[index + 1] : fallback;
};
const vsix = resolve(root, option("--vsix", join("extension", "heaplens-linux-x64.vsix")));
const fakeServer = args.includes("--fake-server");
const updateDocs = args.includes("--update-docs");
const entry = join(root, ".tools", "code-server", "node_modules", "code-server", "out", "node", "entry.js");
const micropython = join(root, ".venv", "bin", "micropython");
const artifacts = join(root, "artifacts", "vscode");
const scratch = join(artifacts, "scratch");
/** The whole run must finish within this (a hung workbench must not hang CI). */
const OVERALL_TIMEOUT_MS = 5 * 60_000;
const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];
/** The free block colour of the heap map (extension/src/webview/render.ts KIND_COLOURS["."]). */
const FREE_RGB = [52, 58, 68];

const results = [];
function report(name, ok, detail = "") {
  results.push({ name, ok });
  console.log(`${ok ? "ok" : "FAIL"} - ${name}${detail ? ` (${detail})` : ""}`);
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** Polls `probe` until it returns something other than null/undefined. */
async function until(probe, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  for (;;) {
    try {
      last = await probe();
      if (last !== null && last !== undefined) return last;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

async function waitForHttp(url, timeoutMs) {
  await until(
    async () => {
      try {
        return (await fetch(url)).status < 500 ? true : null;
      } catch {
        return null; // not listening yet
      }
    },
    timeoutMs,
    `code-server on ${url}`,
  );
}

function prepareScratch(port) {
  rmSync(scratch, { recursive: true, force: true });
  const dirs = {
    userData: join(scratch, "user-data"),
    extensions: join(scratch, "extensions"),
    workspace: join(scratch, "workspace"),
  };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  copyFileSync(join(root, "tests", "fixtures", "scenarios", "parrot.py"), join(dirs.workspace, "parrot.py"));
  mkdirSync(join(dirs.userData, "User"), { recursive: true });
  writeFileSync(
    join(dirs.userData, "User", "settings.json"),
    JSON.stringify(
      {
        "heaplens.board": "simulated",
        // The bundled server lives in the extensions dir, far from the repository's .venv.
        "heaplens.simulator.path": micropython,
        "security.workspace.trust.enabled": false,
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": false,
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "extensions.autoCheckUpdates": false,
        "extensions.autoUpdate": false,
        "extensions.ignoreRecommendations": true,
        "editor.hover.delay": 100,
        "editor.minimap.enabled": false,
        "git.openRepositoryInParentFolders": "never",
      },
      null,
      2,
    ),
  );
  const config = join(scratch, "config.yaml");
  writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  return { ...dirs, config };
}

function codeServerArgs(dirs) {
  return [
    entry,
    "--config",
    dirs.config,
    "--disable-telemetry",
    "--disable-update-check",
    "--disable-workspace-trust",
    "--extensions-dir",
    dirs.extensions,
    "--user-data-dir",
    dirs.userData,
  ];
}

/** A status bar item whose text matches `pattern`. */
async function waitForStatus(page, pattern, timeoutMs) {
  let seen = [];
  try {
    return await until(
      async () => {
        seen = await page.locator(".statusbar-item").allInnerTexts();
        return seen.find((text) => pattern.test(text)) ?? null;
      },
      timeoutMs,
      `a status bar item matching ${pattern}`,
    );
  } catch (error) {
    throw new Error(`${error.message}; saw: ${seen.join(" | ")}`);
  }
}

/** Screen line `lineNumber` (1-based) of the active editor (the DOM order is not the screen order). */
async function editorLine(page, lineNumber) {
  const lines = page.locator(".editor-instance .view-lines .view-line");
  const count = await lines.count();
  const placed = [];
  for (let index = 0; index < count; index++) {
    const box = await lines.nth(index).boundingBox();
    if (box !== null) placed.push({ index, top: box.y });
  }
  placed.sort((a, b) => a.top - b.top);
  const found = placed[lineNumber - 1];
  if (found === undefined) throw new Error(`line ${lineNumber} is not on screen (${placed.length} lines shown)`);
  return lines.nth(found.index);
}

/**
 * Runs a command from the command palette. Retried: typing races with focus moving into a
 * webview or an editor, which is known-flaky in the workbench.
 */
async function runCommand(page, label, attempts = 3) {
  let lastError = null;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      await page.keyboard.press("Escape");
      await page.keyboard.press("F1");
      const input = page.locator(".quick-input-widget .quick-input-box input");
      await input.waitFor({ state: "visible", timeout: 5_000 });
      await input.fill(`>${label}`);
      const row = page.locator(".quick-input-widget .quick-input-list .monaco-list-row", { hasText: label }).first();
      await row.waitFor({ state: "visible", timeout: 5_000 });
      await row.click();
      await page.locator(".quick-input-widget").waitFor({ state: "hidden", timeout: 5_000 });
      return;
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`command palette: could not run "${label}" in ${attempts} attempts: ${lastError?.message}`);
}

/** Evaluates `fn` in every frame (webviews are nested iframes); first non-null result. */
async function inSomeFrame(page, fn, arg) {
  for (const frame of page.frames()) {
    const result = await frame.evaluate(fn, arg).catch(() => null);
    if (result !== null && result !== undefined) return { frame, result };
  }
  return null;
}

/** The heap map page's title, once the page shows a title containing `needle`. */
function heapMapTitle(needle) {
  const title = document.getElementById("title")?.textContent ?? "";
  return document.getElementById("map") !== null && title.includes(needle) ? title : null;
}

/** Counts the heap map canvas' painted pixels and free-coloured pixels (runs in the page). */
function measureHeapMap(freeRgb) {
  const canvas = document.getElementById("map");
  const debug = window.heapLensDebug;
  const title = document.getElementById("title")?.textContent ?? "";
  if (!canvas || !debug || debug.blocks === 0 || !title.includes("capture")) return null;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  let free = 0;
  for (let index = 0; index < data.length; index += 4) {
    if (data[index + 3] === 0) continue;
    painted++;
    if (data[index] === freeRgb[0] && data[index + 1] === freeRgb[1] && data[index + 2] === freeRgb[2]) free++;
  }
  const memory = document.querySelector('[data-stat="memory"]')?.textContent ?? "";
  const figures = /(\d+) \/ (\d+) B used · (\d+) B free/.exec(memory);
  return {
    blocks: debug.blocks,
    draws: debug.draws,
    painted,
    free,
    zoom: Number(document.getElementById("zoom")?.value ?? 1),
    gcTotal: figures ? Number(figures[2]) : null,
    freeBytes: figures ? Number(figures[3]) : null,
  };
}

/** Checks a measurement; returns a detail string or throws. */
function checkHeapMap(drawn) {
  const cell = drawn.zoom >= 4 ? drawn.zoom - 1 : drawn.zoom; // render.ts cellSize
  if (drawn.gcTotal === null) throw new Error("the stats header shows no memory figures");
  const blockBytes = drawn.gcTotal / drawn.blocks;
  const freeBlocks = drawn.freeBytes / blockBytes;
  const detail =
    `${drawn.blocks} blocks of ${blockBytes} B, ${drawn.painted} painted pixels, ` +
    `${drawn.free} free-coloured = ${freeBlocks} free blocks at zoom ${drawn.zoom} (cell ${cell}px)`;
  if (!Number.isInteger(blockBytes)) throw new Error(`block size is not whole: ${detail}`);
  if (drawn.painted !== drawn.blocks * cell * cell) throw new Error(`not every block is painted: ${detail}`);
  if (drawn.free !== freeBlocks * cell * cell) throw new Error(`free pixels do not match the free blocks: ${detail}`);
  if (drawn.free === drawn.painted) throw new Error(`no allocated block is drawn: ${detail}`);
  return detail;
}

async function main(cleanup) {
  if (!existsSync(entry)) throw new Error("code-server is not installed: run bash scripts/setup-code-server.sh");
  if (!existsSync(vsix)) throw new Error(`no .vsix at ${vsix}: run (cd extension && npm run package)`);
  if (!fakeServer && !existsSync(micropython)) throw new Error(`no simulated interpreter at ${micropython}: run scripts/setup.sh`);
  mkdirSync(artifacts, { recursive: true });
  const port = await freePort();
  const dirs = prepareScratch(port);

  const install = spawnSync(process.execPath, [...codeServerArgs(dirs), "--install-extension", vsix], {
    encoding: "utf8",
    timeout: 120_000,
  });
  const installed = install.status === 0 && /successfully installed/.test(install.stdout + install.stderr);
  report("install the .vsix into code-server", installed, (install.stdout + install.stderr).trim().split("\n").at(-1));
  if (!installed) return;

  let serverPath = process.env.HEAPLENS_SERVER_PATH ?? "";
  if (fakeServer) {
    const script = join(root, "extension", "out", "test", "fakeServer", "fakeServer.js");
    if (!existsSync(script)) throw new Error(`no ${script}: run (cd extension && node esbuild.mjs --tests)`);
    serverPath = join(scratch, "fake-heaplens");
    writeFileSync(serverPath, `#!/bin/sh\nexec "${process.execPath}" "${script}" "$@"\n`, { mode: 0o755 });
  }
  const log = [];
  const server = spawn(process.execPath, [...codeServerArgs(dirs), dirs.workspace], {
    env: { ...process.env, HEAPLENS_SERVER_PATH: serverPath },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  server.stdout.on("data", (chunk) => log.push(String(chunk)));
  server.stderr.on("data", (chunk) => log.push(String(chunk)));
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_FLAGS });
  cleanup.push(async () => {
    await browser.close().catch(() => undefined);
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {
      // already gone
    }
    writeFileSync(join(artifacts, "code-server.log"), log.join(""));
  });

  await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000);
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const shot = async (name) => {
    const path = join(artifacts, `${name}.png`);
    await page.screenshot({ path }).catch(() => undefined);
    return path;
  };
  /** Runs one step: screenshot after it, and a loud FAIL naming the screenshot on error. */
  const step = async (name, screenshot, body) => {
    try {
      const detail = await body();
      report(name, true, detail);
      await shot(screenshot);
      return true;
    } catch (error) {
      const path = await shot(`FAIL-${screenshot}`);
      report(name, false, `${error instanceof Error ? error.message : String(error)} — screenshot: ${path}`);
      return false;
    }
  };

  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.workspace)}`);
  await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });

  // 1. Open parrot.py from the explorer (Ctrl+P is flaky); the python language activates the
  // extension, whose status bar item then shows the board the server reports.
  const activated = await step("parrot.py opens and the extension activates (status bar item)", "1-activated", async () => {
    const row = page.locator(".explorer-folders-view .monaco-list-row", { hasText: "parrot.py" });
    await row.waitFor({ timeout: 30_000 });
    await row.click();
    await page.locator(".editor-instance .view-lines .view-line", { hasText: "foo + foo" }).waitFor({ timeout: 30_000 });
    return (await waitForStatus(page, /HeapLens|Pico|disconnected/, 30_000)).trim();
  });
  if (!activated) return;
  await step("the status bar shows the simulated board", "1-board", async () =>
    (await waitForStatus(page, /Simulated Pico/, 30_000)).trim(),
  );

  // 2. Save → run on save → MemoryError diagnostic on line 10 with the numbers.
  const diagnosed = await step(
    "saving runs parrot.py: MemoryError diagnostic on line 10 with the numbers",
    "2-diagnostic",
    async () => {
      await (await editorLine(page, 11)).click();
      await page.keyboard.press("End");
      await page.keyboard.type(" ");
      await page.keyboard.press("Backspace");
      await page.keyboard.press("Control+S");
      await page.locator(".editor-instance .squiggly-error").first().waitFor({ timeout: 90_000 });
      await page.keyboard.press("Control+Shift+M");
      const row = page
        .locator(".markers-panel .monaco-list-row", { hasText: "allocation of 98305 bytes (3073 blocks) exceeds max free block of" })
        .first();
      await row.waitFor({ timeout: 15_000 });
      const text = (await row.innerText()).replace(/\s+/g, " ");
      if (!/\[Ln 10, Col \d+\]/.test(text)) throw new Error(`the diagnostic is not on line 10: ${text}`);
      if ((await row.locator(".codicon-error").count()) === 0) throw new Error(`the diagnostic is not an error: ${text}`);
      if (!/max free block of \d+ bytes \(\d+ blocks\)/.test(text)) throw new Error(`no free-block figures: ${text}`);
      return text.slice(0, 160);
    },
  );
  await step("the status bar shows the free heap after the run", "2-status", async () =>
    (await waitForStatus(page, /Simulated Pico · [\d.]+ KiB free · [\d.]+ KiB max block/, 15_000)).trim(),
  );

  // 3. Hovering line 10 shows its deltas (the server's hover table), under the diagnostics.
  if (diagnosed) {
    await step("hovering line 10 shows its deltas", "3-hover", async () => {
      const line = await editorLine(page, 10);
      const box = await line.boundingBox();
      return until(
        async () => {
          // Moving away and back re-triggers the hover if the first one was cancelled.
          await page.mouse.move(box.x + box.width + 200, box.y - 100);
          await page.mouse.move(box.x + 60, box.y + box.height / 2);
          const hover = page.locator(".monaco-hover:not(.hidden)", { hasText: "HeapLens" }).first();
          await hover.waitFor({ timeout: 3_000 });
          const text = (await hover.innerText()).replace(/\s+/g, " ");
          const match = /HeapLens · line 10 · run \d+.*hits \d+.*allocated [\d.]+ [KM]?B \((\d+) bytes\)/.exec(text);
          if (match === null) throw new Error(`hover without deltas: ${text.slice(0, 300)}`);
          return match[0];
        },
        20_000,
        "the HeapLens hover on line 10",
      );
    });
    if (updateDocs) copyFileSync(join(artifacts, "3-hover.png"), join(root, "docs", "memory-error.png"));
    await page.keyboard.press("Escape");
    await page.mouse.move(5, 400);
  }

  // 4. Show Heap Map → the webview (strict CSP, bundled script) shows the run's last snapshot.
  await step("Show Heap Map opens the webview with the run's last snapshot", "4-heap-map-run", async () => {
    await runCommand(page, "HeapLens: Show Heap Map");
    const found = await until(() => inSomeFrame(page, heapMapTitle, diagnosed ? "after-gc" : ""), 30_000, "the heap map page");
    return found.result;
  });

  // 5. Capture Heap → the canvas draws the captured snapshot's blocks.
  await step("Capture Heap draws every block of the captured snapshot", "5-heap-map-capture", async () => {
    await runCommand(page, "HeapLens: Capture Heap");
    const found = await until(() => inSomeFrame(page, measureHeapMap, FREE_RGB), 60_000, "a captured snapshot on the canvas");
    return checkHeapMap(found.result);
  });

  // 6. The same map at a larger zoom (the README screenshot), with the bottom panel closed.
  await step("the heap map redraws at zoom 6", "6-heap-map", async () => {
    const found = await until(() => inSomeFrame(page, measureHeapMap, FREE_RGB), 10_000, "the heap map frame");
    const before = found.result.draws;
    await found.frame.locator("#zoom").selectOption("6");
    const redrawn = await until(
      async () => {
        const measured = await found.frame.evaluate(measureHeapMap, FREE_RGB);
        return measured !== null && measured.draws > before && measured.zoom === 6 ? measured : null;
      },
      10_000,
      "a redraw at zoom 6",
    );
    await runCommand(page, "View: Hide Panel").catch(() => undefined); // cosmetic only
    return checkHeapMap(redrawn);
  });
  if (updateDocs && existsSync(join(artifacts, "6-heap-map.png"))) {
    copyFileSync(join(artifacts, "6-heap-map.png"), join(root, "docs", "heap-map.png"));
  }
}

const cleanup = [];
let timer;
try {
  await Promise.race([
    main(cleanup),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the whole run took over ${OVERALL_TIMEOUT_MS / 1000} s`)), OVERALL_TIMEOUT_MS);
    }),
  ]);
} catch (error) {
  report("end-to-end run", false, error instanceof Error ? error.message : String(error));
} finally {
  clearTimeout(timer);
  for (const action of cleanup) await action();
}
const passed = results.filter((result) => result.ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
if (passed !== results.length) {
  console.log(`screenshots and code-server.log: ${artifacts}; VS Code logs: ${join(scratch, "user-data", "logs")}`);
}
process.exit(results.length > 0 && passed === results.length ? 0 : 1);
