// Real VS Code end-to-end test: code-server 4.100.3 (VS Code 1.100.3) from npm, driven by
// playwright-core and Debian's chromium, with the packaged .vsix installed, its bundled
// language server and the simulated Pico (the repository's .venv/bin/micropython, passed
// through the heaplens.simulator.path setting). Each scenario leaves a screenshot in
// artifacts/vscode/; they run in order in one workbench (later ones use what earlier ones
// produced: a run's snapshots, the open heap map), except `first-run`, which starts its own
// workbench without a simulator:
//   activate      parrot.py opens, the extension activates, the status bar shows the board
//                 (its tooltip names the firmware without a stray "version")
//   select-board  Select Board (palette and status bar) lists typed boards and picks the
//                 simulated Pico, with no error toast
//   diagnostic    saving parrot.py: the MemoryError diagnostic on line 10 in KiB with exact
//                 bytes, "at failure"; the status bar and the code lens name "after gc" and agree;
//                 heat marks only where the hint threshold says
//   hover         line 10's hover: its figures, what the line tried to allocate, and each
//                 diagnostic once
//   output        the HeapLens output channel, revealed by the exception: run header, output,
//                 traceback, how the run ended
//   heap-map      Show Heap Map: the after-gc snapshot fills the panel; a block links to its
//                 line (click → the editor's cursor on it); the zoom is remembered on reopening
//   capture       Capture Heap: every block painted, the free colour on exactly the free blocks
//   open-dump     a `heaplens capture --raw --save` file opens as a heap dump (header hover) and,
//                 with the heap map closed, Open as Heap Map shows that dump
//   stop          a runaway script: Stop in the editor title (and the status bar) ends it; no
//                 sampling advice; the output says it was stopped
//   soft-reset    Soft Reset shows in the status bar
//   plain-run     Run File (no heap capture): output and traceback, no snapshots
//   repl          Open REPL: a terminal on the board; released while a save runs, back after
//   first-run     no simulator installed: the toast offers Install Simulated Pico and Set
//                 Path…; a failed run marks no line of the document; Set Path… opens the
//                 setting; Install Simulated Pico (pip from PyPI into the extension's
//                 storage) brings the simulated board up
// Usage (from the repository root, after `bash scripts/setup-code-server.sh`,
// `cargo build --bins` and `(cd extension && npm run package)`):
//   node tests/vscode/run.mjs [--vsix extension/heaplens-linux-x64.vsix] [--only a,b,…]
//                             [--update-docs]
// `--only` runs the named scenarios (and `activate`, which every other one needs; `first-run`
// alone needs nothing). `--update-docs` copies the screenshots the README shows to docs/.
// Prints one `ok`/`FAIL` line per check (a failing check names its screenshot) and a closing
// `N passed, N failed` line; exits 1 on any failure. Waits on DOM conditions, never on fixed
// sleeps (the one pause in `stop` makes the run long enough to have earned sampling advice);
// only the command palette is retried (typing into it races with focus changes).
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
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
const updateDocs = args.includes("--update-docs");
const SCENARIOS = [
  "activate",
  "select-board",
  "diagnostic",
  "hover",
  "output",
  "heap-map",
  "capture",
  "open-dump",
  "stop",
  "soft-reset",
  "plain-run",
  "repl",
  "first-run",
];
const only = option("--only", "");
const chosen = only === "" ? new Set(SCENARIOS) : new Set(only.split(",").map((name) => name.trim()));
for (const name of chosen) {
  if (!SCENARIOS.includes(name)) throw new Error(`unknown scenario ${name}; known: ${SCENARIOS.join(", ")}`);
}
const entry = join(root, ".tools", "code-server", "node_modules", "code-server", "out", "node", "entry.js");
const micropython = join(root, ".venv", "bin", "micropython");
const artifacts = join(root, "artifacts", "vscode");
/** The whole run must finish within this (a hung workbench must not hang CI). */
const OVERALL_TIMEOUT_MS = 10 * 60_000;
const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];
/** The free block colours of the heap map per theme kind (render.ts FREE_COLOURS). */
const FREE_RGB = { dark: [52, 58, 68], light: [222, 226, 232] };
/** The exact bytes of a figure as HeapLens writes them: `98,305`. */
const grouped = (n) => n.toLocaleString("en-US");

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
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${typeof last === "string" ? `: ${last}` : ""}`);
    }
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

/**
 * A fresh user-data, extensions and workspace folder for one workbench, under `base` (the
 * first-run workbench lives outside the repository, so that its bundled server cannot find
 * the repository's .venv above itself).
 */
function prepareScratch(name, port, settings, base) {
  const scratch = join(base, `scratch-${name}`);
  rmSync(scratch, { recursive: true, force: true });
  const dirs = {
    scratch,
    userData: join(scratch, "user-data"),
    extensions: join(scratch, "extensions"),
    workspace: join(scratch, "workspace"),
  };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  for (const script of ["parrot.py", "runaway.py", "known_sizes.py"]) {
    copyFileSync(join(root, "tests", "fixtures", "scenarios", script), join(dirs.workspace, script));
  }
  mkdirSync(join(dirs.userData, "User"), { recursive: true });
  writeFileSync(
    join(dirs.userData, "User", "settings.json"),
    JSON.stringify(
      {
        "heaplens.board": "simulated",
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
        // The DOM renderer keeps the terminal's text readable by the test.
        "terminal.integrated.gpuAcceleration": "off",
        ...settings,
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

/** The heaplens binary the installed extension bundles. */
function bundledServer(dirs) {
  const folder = readdirSync(dirs.extensions).find((name) => name.startsWith("heaplens."));
  if (folder === undefined) throw new Error(`no installed heaplens extension in ${dirs.extensions}`);
  return join(dirs.extensions, folder, "server", "heaplens");
}

/**
 * Starts one workbench: installs the .vsix, starts code-server on `workspace`, opens a page.
 * Returns the page and helpers; `cleanup` stops it all.
 */
async function startWorkbench(browser, name, settings, cleanup, { prepare = () => undefined, base = artifacts } = {}) {
  const port = await freePort();
  const dirs = prepareScratch(name, port, settings, base);
  const install = spawnSync(process.execPath, [...codeServerArgs(dirs), "--install-extension", vsix], {
    encoding: "utf8",
    timeout: 120_000,
  });
  const installed = install.status === 0 && /successfully installed/.test(install.stdout + install.stderr);
  if (!installed) throw new Error(`installing the .vsix failed: ${(install.stdout + install.stderr).trim()}`);
  prepare(dirs);
  const log = [];
  // The extension finds its bundled server and the simulator through its settings only.
  const env = { ...process.env };
  delete env.HEAPLENS_SERVER_PATH;
  delete env.HEAPLENS_MICROPYTHON;
  const server = spawn(process.execPath, [...codeServerArgs(dirs), dirs.workspace], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  server.stdout.on("data", (chunk) => log.push(String(chunk)));
  server.stderr.on("data", (chunk) => log.push(String(chunk)));
  cleanup.push(async () => {
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {
      // already gone
    }
    writeFileSync(join(artifacts, `code-server-${name}.log`), log.join(""));
  });
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000);
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.workspace)}`);
  await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
  return { page, dirs };
}

/** A check: screenshot after it, and a loud FAIL naming the screenshot on error. */
function stepper(page) {
  const shot = async (name) => {
    const path = join(artifacts, `${name}.png`);
    await page.screenshot({ path }).catch(() => undefined);
    return path;
  };
  return async (name, screenshot, body) => {
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
      await page.locator(".quick-input-widget .quick-input-box input[placeholder*='command']").waitFor({ state: "hidden", timeout: 5_000 }).catch(() => undefined);
      return;
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`command palette: could not run "${label}" in ${attempts} attempts: ${lastError?.message}`);
}

/** Opens a workspace file from the explorer and waits for a line of it. */
async function openFromExplorer(page, name, text) {
  const row = page.locator(".explorer-folders-view .monaco-list-row", { hasText: name }).first();
  await row.waitFor({ timeout: 30_000 });
  await row.click();
  await page.locator(".editor-instance .view-lines .view-line", { hasText: text }).first().waitFor({ timeout: 30_000 });
}

/** Saves the active editor after a no-op edit at the end of line `line`. */
async function touchAndSave(page, line) {
  await (await editorLine(page, line)).click();
  await page.keyboard.press("End");
  await page.keyboard.type(" ");
  await page.keyboard.press("Backspace");
  await page.keyboard.press("Control+S");
}

/** Texts of the notification toasts on screen. */
async function toasts(page) {
  return page.locator(".notifications-toasts .notification-toast").allInnerTexts();
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

/** Counts the heap map canvas' painted and free-coloured pixels, and its fit (runs in the page). */
function measureHeapMap({ freeRgb: palette, needle }) {
  // The page follows the workbench's theme (code-server starts with a light one).
  const light = document.body.classList.contains("vscode-light") || document.body.classList.contains("vscode-high-contrast-light");
  const freeRgb = light ? palette.light : palette.dark;
  const canvas = document.getElementById("map");
  const box = document.getElementById("map-scroll");
  const debug = window.heapLensDebug;
  const title = document.getElementById("title")?.textContent ?? "";
  if (!canvas || !box || !debug || debug.blocks === 0 || !title.includes(needle)) return null;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  let free = 0;
  for (let index = 0; index < data.length; index += 4) {
    if (data[index + 3] === 0) continue;
    painted++;
    if (data[index] === freeRgb[0] && data[index + 1] === freeRgb[1] && data[index + 2] === freeRgb[2]) free++;
  }
  const stat = (name, attribute) => {
    const value = document.querySelector(`[data-stat="${name}"]`)?.getAttribute(attribute);
    return value === null || value === undefined ? null : Number(value);
  };
  return {
    title,
    theme: light ? "light" : "dark",
    blocks: debug.blocks,
    draws: debug.draws,
    zoom: debug.zoom,
    links: debug.links,
    painted,
    free,
    canvasWidth: canvas.width,
    canvasHeight: canvas.height,
    boxWidth: box.clientWidth,
    boxHeight: box.clientHeight,
    scrollWidth: box.scrollWidth,
    zoomChoice: document.getElementById("zoom")?.value ?? "",
    gcTotal: stat("used", "data-total"),
    used: stat("used", "data-bytes"),
    freeBytes: stat("free", "data-bytes"),
  };
}

/** Checks every block is painted and the free colour covers exactly the free blocks. */
function checkHeapMap(drawn) {
  const cell = drawn.zoom >= 4 ? drawn.zoom - 1 : drawn.zoom; // render.ts cellSize
  if (drawn.gcTotal === null || drawn.freeBytes === null) throw new Error("the figures carry no exact bytes");
  const blockBytes = drawn.gcTotal / drawn.blocks;
  const freeBlocks = drawn.freeBytes / blockBytes;
  const detail =
    `${drawn.blocks} blocks of ${blockBytes} B, ${drawn.painted} painted pixels, ` +
    `${drawn.free} free-coloured = ${freeBlocks} free blocks at zoom ${drawn.zoom} (cell ${cell}px, ${drawn.theme} theme)`;
  if (!Number.isInteger(blockBytes)) throw new Error(`block size is not whole: ${detail}`);
  if (drawn.painted !== drawn.blocks * cell * cell) throw new Error(`not every block is painted: ${detail}`);
  if (drawn.free !== freeBlocks * cell * cell) throw new Error(`free pixels do not match the free blocks: ${detail}`);
  if (drawn.free === drawn.painted) throw new Error(`no allocated block is drawn: ${detail}`);
  return detail;
}

/** Checks the map fills its box at fit zoom without a horizontal scrollbar. */
function checkFilled(drawn) {
  const detail = `canvas ${drawn.canvasWidth}×${drawn.canvasHeight} in ${drawn.boxWidth}×${drawn.boxHeight} at zoom ${drawn.zoom}`;
  if (drawn.zoomChoice !== "0") throw new Error(`zoom is not "fit" (${drawn.zoomChoice}): ${detail}`);
  if (drawn.canvasWidth > drawn.boxWidth || drawn.canvasHeight > drawn.boxHeight) throw new Error(`spills out: ${detail}`);
  if (drawn.scrollWidth > drawn.boxWidth) throw new Error(`horizontal scrollbar: ${detail}`);
  const filled = drawn.canvasWidth >= 0.9 * drawn.boxWidth || drawn.canvasHeight >= 0.75 * drawn.boxHeight;
  if (!filled || drawn.zoom < 3) throw new Error(`the map does not fill its panel: ${detail}`);
  return detail;
}

/** The text of the panel's visible editor lines (the Output view). */
async function outputText(page) {
  return (await page.locator(".part.panel .monaco-editor .view-lines").first().innerText()).replace(/\u00a0/g, " ");
}

/** The text of the terminal's rows. */
async function terminalText(page) {
  return page
    .locator(".part.panel .terminal-wrapper .xterm-rows")
    .first()
    .innerText()
    .then((text) => text.replace(/\u00a0/g, " "));
}

// ---- The scenarios ------------------------------------------------------------------------

async function mainSession(browser, cleanup) {
  const run = (name) => chosen.has(name);
  const { page, dirs } = await startWorkbench(
    browser,
    "main",
    { "heaplens.simulator.path": micropython },
    cleanup,
    { prepare: (prepared) => {
      // A raw dump as `heaplens capture --raw --save` writes it, named as people name files.
      const capture = spawnSync(bundledServer(prepared), ["capture", "--board", "sim", "--raw", "--save", join(prepared.workspace, "capture.txt")], {
        encoding: "utf8",
        timeout: 60_000,
        env: { ...process.env, HEAPLENS_MICROPYTHON: micropython },
      });
      if (capture.status !== 0) throw new Error(`heaplens capture --raw failed: ${capture.stderr}`);
    } },
  );
  const step = stepper(page);
  let runCount = 0;

  // activate: parrot.py opens from the explorer (Ctrl+P is flaky); the python language
  // activates the extension, whose status bar item then shows the board the server reports.
  const activated = await step("parrot.py opens and the extension activates (status bar item)", "1-activated", async () => {
    await openFromExplorer(page, "parrot.py", "foo + foo");
    return (await waitForStatus(page, /HeapLens|Pico|disconnected/, 30_000)).trim();
  });
  if (!activated) return;
  await step("the status bar shows the simulated board; its tooltip names the firmware", "1-board", async () => {
    const text = (await waitForStatus(page, /Simulated Pico/, 30_000)).trim();
    const item = page.locator(".statusbar-item", { hasText: "Simulated Pico" }).first();
    const tooltip = await until(
      async () => {
        await item.hover();
        const hover = page.locator(".workbench-hover, .monaco-hover", { hasText: "Firmware" }).first();
        return (await hover.isVisible()) ? hover.innerText() : null;
      },
      10_000,
      "the status bar tooltip",
    );
    const firmware = /Firmware: (.*)/.exec(tooltip)?.[1]?.trim() ?? "";
    if (!firmware.startsWith("micropython 1.")) throw new Error(`no firmware in the tooltip: ${tooltip}`);
    if (/version$/.test(firmware)) throw new Error(`a stray "version": ${firmware}`);
    await page.mouse.move(700, 400);
    return `${text} · ${firmware}`;
  });

  if (run("select-board")) {
    for (const [how, open] of [
      ["the command palette", () => runCommand(page, "HeapLens: Select Board")],
      ["the status bar", () => page.locator(".statusbar-item", { hasText: "Simulated Pico" }).first().click()],
    ]) {
      await step(`Select Board from ${how} picks the simulated Pico`, `select-board-${how.split(" ").at(-1)}`, async () => {
        await open();
        const row = page.locator(".quick-input-widget .quick-input-list .monaco-list-row", { hasText: "Simulated Pico" }).first();
        await row.waitFor({ state: "visible", timeout: 15_000 });
        const rows = await page.locator(".quick-input-widget .quick-input-list .monaco-list-row").allInnerTexts();
        await row.click();
        const errors = (await toasts(page)).filter((text) => /is not a function|HeapLens:.*failed/.test(text));
        if (errors.length > 0) throw new Error(`error toast: ${errors.join(" | ")}`);
        const status = (await waitForStatus(page, /Simulated Pico/, 30_000)).trim();
        return `${rows.map((r) => r.replace(/\s+/g, " ")).join(" / ")} → ${status}`;
      });
    }
  }

  // diagnostic: save → run on save → MemoryError diagnostic on line 10 with the numbers. The
  // exception reveals the output channel at once: its text is kept for the `output` check.
  let revealedOutput = null;
  const diagnosed =
    (run("diagnostic") || run("hover") || run("output") || run("heap-map")) &&
    (await step("saving parrot.py: MemoryError on line 10 in KiB with exact bytes, named 'at failure'", "2-diagnostic", async () => {
      await touchAndSave(page, 11);
      runCount++;
      await page.locator(".editor-instance .squiggly-error").first().waitFor({ timeout: 90_000 });
      revealedOutput = await until(
        async () => {
          const text = await outputText(page).catch(() => "");
          return text.includes("MemoryError: memory allocation failed, allocating 98305 bytes") && text.includes("ended with") ? text : null;
        },
        15_000,
        "the output channel revealed with the traceback",
      ).catch(() => null);
      await page.screenshot({ path: join(artifacts, "4-output.png") });
      if (updateDocs && revealedOutput !== null) copyFileSync(join(artifacts, "4-output.png"), join(root, "docs", "output.png"));
      await page.keyboard.press("Control+Shift+M");
      const row = page.locator(".markers-panel .monaco-list-row", { hasText: "allocation of 98,305 bytes exceeds the longest free run at failure" }).first();
      await row.waitFor({ timeout: 15_000 });
      const text = (await row.innerText()).replace(/\s+/g, " ");
      if (!/\[Ln 10, Col \d+\]/.test(text)) throw new Error(`the diagnostic is not on line 10: ${text}`);
      if ((await row.locator(".codicon-error").count()) === 0) throw new Error(`the diagnostic is not an error: ${text}`);
      if (!/at failure, [\d.]+ KiB \([\d,]+ bytes\); only [\d.]+ KiB \([\d,]+ bytes\) is free in all: the heap is full/.test(text)) {
        throw new Error(`figures not in KiB with exact bytes: ${text}`);
      }
      return text.slice(0, 170);
    }));
  if (diagnosed && run("diagnostic")) {
    await step("the status bar and the code lens show the after-gc figures, and agree", "2-status", async () => {
      const status = (await waitForStatus(page, /Simulated Pico · [\d.]+ KiB free · longest free run [\d.]+ KiB \(after gc\)/, 15_000)).trim();
      const lens = await until(
        () => page.locator(".contentWidgets .codelens-decoration, .codelens-decoration", { hasText: "last run" }).first().innerText(),
        15_000,
        "the code lens of the last run",
      );
      const fromStatus = /longest free run ([\d.]+ KiB)/.exec(status)?.[1];
      const fromLens = /after gc: longest free run ([\d.]+ KiB)/.exec(lens)?.[1];
      if (fromStatus === undefined || fromStatus !== fromLens) throw new Error(`status "${status}" vs lens "${lens}"`);
      return `${status} | ${lens.replace(/\s+/g, " ")}`;
    });
    await step("heat marks only on lines over the hint threshold (1 KiB: line 10)", "2-heat-marks", async () => {
      // Gutter marks are margin decorations; line 10 is the only line of parrot.py over 1 KiB.
      const marked = await until(
        async () => {
          const boxes = await page.locator(".editor-instance .cgmr").evaluateAll((nodes) =>
            nodes.map((node) => node.getBoundingClientRect().top),
          );
          return boxes.length > 0 ? boxes : null;
        },
        10_000,
        "a gutter mark",
      );
      const line10 = await (await editorLine(page, 10)).boundingBox();
      if (marked.length !== 1 || Math.abs(marked[0] - line10.y) > 4) {
        throw new Error(`marks at ${JSON.stringify(marked)}, line 10 at ${line10.y}`);
      }
      return `${marked.length} mark, on line 10`;
    });
  }

  // hover: line 10's figures, what it tried to allocate, each diagnostic once.
  if (diagnosed && run("hover")) {
    await step("hovering line 10: figures in KiB with exact bytes, the failed allocation, each diagnostic once", "3-hover", async () => {
      const line = await editorLine(page, 10);
      const box = await line.boundingBox();
      const text = await until(
        async () => {
          // Moving away and back re-triggers the hover if the first one was cancelled.
          await page.mouse.move(box.x + box.width + 200, box.y - 100);
          await page.mouse.move(box.x + 60, box.y + box.height / 2);
          const hover = page.locator(".monaco-hover:not(.hidden)", { hasText: "HeapLens" }).first();
          await hover.waitFor({ timeout: 3_000 });
          const text = (await hover.innerText()).replace(/\s+/g, " ");
          return text.includes("failed here") ? text : null;
        },
        20_000,
        "the HeapLens hover on line 10",
      );
      if (!/HeapLens · line 10 · run \d+/.test(text)) throw new Error(`no header: ${text.slice(0, 300)}`);
      if (!/hits 14\b/.test(text)) throw new Error(`no hits: ${text.slice(0, 300)}`);
      if (!/allocated [\d.]+ KiB \([\d,]+ bytes\)/.test(text)) throw new Error(`no exact bytes: ${text.slice(0, 300)}`);
      if (!/failed here tried to allocate 96\.0 KiB \(98,305 bytes\) and failed/.test(text)) throw new Error(`no failed allocation: ${text.slice(0, 400)}`);
      const repeats = text.split("exceeds the longest free run").length - 1;
      if (repeats !== 1) throw new Error(`the MemoryError diagnostic shows ${repeats} times: ${text.slice(0, 600)}`);
      return text.slice(0, 200);
    });
    if (updateDocs) copyFileSync(join(artifacts, "3-hover.png"), join(root, "docs", "memory-error.png"));
    await page.keyboard.press("Escape");
    await page.mouse.move(5, 400);
  }

  // output: the exception revealed the HeapLens output channel.
  if (diagnosed && run("output")) {
    await step("the exception revealed the output channel: the run's header, its traceback, how it ended", "4-output-checked", async () => {
      const text = revealedOutput;
      if (text === null) throw new Error("the output channel was not revealed with the traceback (see 4-output.png)");
      if (!/── run \d+ · parrot\.py · \d\d:\d\d:\d\d ──/.test(text)) throw new Error(`no run header: ${text}`);
      if (!/Traceback \(most recent call last\):/.test(text)) throw new Error(`no traceback: ${text}`);
      if (!/File "<stdin>", line 10, in <module>/.test(text)) throw new Error(`no line 10 frame: ${text}`);
      return text.split("\n").filter((l) => l.includes("──")).join(" / ");
    });
  }

  // heap-map: Show Heap Map → the after-gc snapshot, filling the panel; click-to-line.
  if (diagnosed && run("heap-map")) {
    await runCommand(page, "View: Close Panel").catch(() => undefined);
    const shown = await step("Show Heap Map: the run's after-gc snapshot fills the panel", "5-heap-map-run", async () => {
      await runCommand(page, "HeapLens: Show Heap Map");
      const found = await until(() => inSomeFrame(page, measureHeapMap, { freeRgb: FREE_RGB, needle: "after gc" }), 30_000, "the heap map page");
      return `${found.result.title} · ${checkFilled(found.result)}`;
    });
    if (shown) {
      await step("a block of the after-gc map links to its line: clicking puts the cursor there", "5-click-to-line", async () => {
        const found = await until(() => inSomeFrame(page, measureHeapMap, { freeRgb: FREE_RGB, needle: "after gc" }), 10_000, "the heap map");
        const link = found.result.links.find((entry) => entry.line === 9);
        if (link === undefined) throw new Error(`no block of the after-gc map links to line 10: ${JSON.stringify(found.result.links)}`);
        const canvas = found.frame.locator("#map");
        await canvas.hover({ position: { x: link.x + 1, y: link.y + 1 } });
        const tip = await found.frame.locator("#tooltip").innerText();
        if (!/allocated by line 10 — click to go there/.test(tip)) throw new Error(`tooltip: ${tip}`);
        await canvas.click({ position: { x: link.x + 1, y: link.y + 1 } });
        const cursor = (await waitForStatus(page, /Ln 10, Col 1/, 10_000)).trim();
        return `${tip.replace(/\s+/g, " ").slice(0, 120)} → ${cursor}`;
      });
      await step("the heap map remembers its zoom when reopened", "5-remembered", async () => {
        let found = await until(() => inSomeFrame(page, measureHeapMap, { freeRgb: FREE_RGB, needle: "" }), 10_000, "the heap map");
        await found.frame.locator("#zoom").selectOption("3");
        await runCommand(page, "View: Close All Editor Groups");
        await runCommand(page, "HeapLens: Show Heap Map");
        found = await until(
          async () => {
            const measured = await inSomeFrame(page, measureHeapMap, { freeRgb: FREE_RGB, needle: "" });
            return measured !== null && measured.result.zoomChoice === "3" ? measured : null;
          },
          20_000,
          "the reopened heap map at zoom 3",
        );
        const zoom = found.result.zoom;
        await found.frame.locator("#zoom").selectOption("0");
        await openFromExplorer(page, "parrot.py", "foo + foo");
        return `reopened at zoom ${zoom}, then back to fit`;
      });
    }
  }

  // capture: Capture Heap → the canvas draws the captured snapshot's blocks.
  if (run("capture")) {
    await step("Capture Heap draws every block of the captured snapshot, filling the panel", "6-heap-map-capture", async () => {
      // The README's picture: parrot.py with the heap map beside it, no bottom panel.
      await runCommand(page, "View: Close All Editor Groups");
      await openFromExplorer(page, "parrot.py", "foo + foo");
      await runCommand(page, "View: Close Panel").catch(() => undefined);
      await runCommand(page, "HeapLens: Capture Heap");
      const found = await until(() => inSomeFrame(page, measureHeapMap, { freeRgb: FREE_RGB, needle: "capture" }), 60_000, "a captured snapshot on the canvas");
      return `${checkHeapMap(found.result)} · ${checkFilled(found.result)}`;
    });
    if (updateDocs) copyFileSync(join(artifacts, "6-heap-map-capture.png"), join(root, "docs", "heap-map.png"));
  }

  // open-dump: the raw capture file (saved as .txt), with the heap map closed.
  if (run("open-dump")) {
    await step("with the heap map closed, Open as Heap Map shows a `capture --raw` .txt dump (not the last capture)", "7-open-dump", async () => {
      await runCommand(page, "View: Close All Editor Groups");
      await openFromExplorer(page, "capture.txt", "GC: total:");
      const used = Number(/GC: total: \d+, used: (\d+)/.exec(readFileSync(join(dirs.workspace, "capture.txt"), "utf8"))?.[1]);
      await runCommand(page, "HeapLens: Open as Heap Map");
      const found = await until(() => inSomeFrame(page, measureHeapMap, { freeRgb: FREE_RGB, needle: "capture.txt" }), 30_000, "the dump on the heap map");
      if (found.result.used !== used) throw new Error(`shows used ${found.result.used}, the dump says ${used}`);
      return `${found.result.title} · used ${grouped(used)} bytes as the file says`;
    });
    await step("the opened dump is a heap dump document: its header lines have hovers", "7-dump-hover", async () => {
      await openFromExplorer(page, "capture.txt", "GC: total:");
      const language = (await waitForStatus(page, /MicroPython heap dump/, 15_000)).trim();
      const gcLine = page.locator(".editor-instance .view-lines .view-line", { hasText: "GC: total:" }).first();
      const box = await gcLine.boundingBox();
      const text = await until(
        async () => {
          await page.mouse.move(box.x + 400, box.y - 80);
          await page.mouse.move(box.x + 30, box.y + box.height / 2);
          const hover = page.locator(".monaco-hover:not(.hidden)", { hasText: "GC heap" }).first();
          await hover.waitFor({ timeout: 3_000 });
          return (await hover.innerText()).replace(/\s+/g, " ");
        },
        20_000,
        "the header hover",
      );
      if (!/total 227\.5 KiB \(232,960 bytes\)/.test(text)) throw new Error(`hover: ${text}`);
      await page.keyboard.press("Escape");
      return `${language} · ${text.slice(0, 120)}`;
    });
  }

  // stop: a runaway script, stopped from the editor title.
  if (run("stop")) {
    await step("Stop in the editor title (and the status bar) ends a runaway run, with no sampling advice", "8-stop", async () => {
      await runCommand(page, "View: Close All Editor Groups");
      await openFromExplorer(page, "runaway.py", "while True");
      await page.locator(".editor-actions [aria-label*='Run File with Heap Capture']").first().click();
      runCount++;
      const stopButton = page.locator(".editor-actions [aria-label*='Stop']").first();
      await stopButton.waitFor({ state: "visible", timeout: 30_000 });
      const statusStop = (await waitForStatus(page, /Stop runaway\.py/, 10_000)).trim();
      await page.screenshot({ path: join(artifacts, "8-stop-running.png") });
      if (updateDocs) copyFileSync(join(artifacts, "8-stop-running.png"), join(root, "docs", "stop.png"));
      // Long enough that a run this slow, had it ended by itself, would earn sampling advice.
      await new Promise((done) => setTimeout(done, 6_000));
      await stopButton.click();
      await stopButton.waitFor({ state: "hidden", timeout: 30_000 });
      await page.locator(".editor-actions [aria-label*='Run File with Heap Capture']").first().waitFor({ timeout: 10_000 });
      await runCommand(page, "HeapLens: Show Output");
      const text = await until(
        async () => {
          const text = await outputText(page);
          return /run \d+ was stopped after/.test(text) ? text : null;
        },
        15_000,
        "the stopped run in the output",
      );
      const advice = (await toasts(page)).filter((toast) => /sampleExecutions|this run took/.test(toast));
      if (advice.length > 0) throw new Error(`sampling advice after Stop: ${advice.join(" | ")}`);
      return `${statusStop} → ${/run \d+ was stopped after [\d.]+ s/.exec(text)?.[0] ?? "stopped"}`;
    });
  }

  if (run("soft-reset")) {
    await step("Soft Reset shows in the status bar", "9-soft-reset", async () => {
      await runCommand(page, "HeapLens: Soft Reset");
      return (await waitForStatus(page, /soft reset: fresh heap/, 30_000)).trim();
    });
  }

  if (run("plain-run")) {
    await step("Run File (no heap capture): output and traceback, no new snapshots", "10-plain-run", async () => {
      await openFromExplorer(page, "parrot.py", "foo + foo");
      await runCommand(page, "HeapLens: Run File (no heap capture)");
      const text = await until(
        async () => {
          const text = await outputText(page).catch(() => "");
          return /── plain run \d+ · parrot\.py[\s\S]*MemoryError: memory allocation failed, allocating 98305 bytes[\s\S]*── plain run \d+ ended with/.test(text)
            ? text
            : null;
        },
        60_000,
        "the plain run in the output",
      );
      return text.split("\n").filter((l) => l.includes("plain run")).join(" / ");
    });
  }

  if (run("repl")) {
    await step("Open REPL: a terminal on the board's REPL", "11-repl", async () => {
      await runCommand(page, "HeapLens: Open REPL");
      await until(async () => ((await terminalText(page)).includes(">>>") ? true : null), 30_000, "the REPL prompt");
      await page.locator(".part.panel .terminal-wrapper").first().click();
      await page.keyboard.type("print(6 * 7)");
      await page.keyboard.press("Enter");
      const text = await until(
        async () => {
          const text = await terminalText(page);
          return /print\(6 \* 7\)\s*\n42\s*\n>>>/.test(text) ? text : null;
        },
        15_000,
        "42 in the REPL",
      );
      return text.trim().split("\n").slice(-3).join(" / ");
    });
    await step("the REPL is released while a save runs the file, and comes back", "11-repl-released", async () => {
      await openFromExplorer(page, "known_sizes.py", "bytearray(1000)");
      await touchAndSave(page, 9);
      runCount++;
      await until(
        async () => {
          const text = await terminalText(page);
          return text.includes("HeapLens is running known_sizes.py") && text.includes("the board is the REPL's again") ? text : null;
        },
        60_000,
        "the REPL released and attached again",
      );
      await page.locator(".part.panel .terminal-wrapper").first().click();
      await page.keyboard.type("print(len('abc') * 11)");
      await page.keyboard.press("Enter");
      const text = await until(
        async () => {
          const text = await terminalText(page);
          return /\n33\s*\n>>>/.test(text) ? text : null;
        },
        15_000,
        "33 in the REPL after the run",
      );
      return text.trim().split("\n").slice(-4).join(" / ");
    });
    if (updateDocs) copyFileSync(join(artifacts, "11-repl-released.png"), join(root, "docs", "repl.png"));
  }
  return runCount;
}

/** A workbench whose simulated Pico has no interpreter: the first-run toast and no squiggle. */
async function firstRunSession(browser, cleanup) {
  const { page } = await startWorkbench(browser, "first-run", {}, cleanup, { base: join(tmpdir(), "heaplens-vscode") });
  const step = stepper(page);
  await step("first run without a simulator: the toast offers Install Simulated Pico and Set Path…", "12-first-run", async () => {
    await openFromExplorer(page, "parrot.py", "foo + foo");
    const toast = page.locator(".notifications-toasts .notification-toast", { hasText: "simulated Pico" }).first();
    await toast.waitFor({ timeout: 60_000 });
    const buttons = await toast.locator(".monaco-button").allInnerTexts();
    if (!buttons.includes("Install Simulated Pico") || !buttons.includes("Set Path…")) throw new Error(`buttons: ${buttons.join(", ")}`);
    const text = (await toast.innerText()).replace(/\s+/g, " ");
    if (/scripts\/setup\.sh|HEAPLENS_MICROPYTHON/.test(text)) throw new Error(`repository commands or variables in the toast: ${text}`);
    return `${text.slice(0, 120)} [${buttons.join(" | ")}]`;
  });
  if (updateDocs) copyFileSync(join(artifacts, "12-first-run.png"), join(root, "docs", "first-run.png"));
  await step("a run that cannot start marks no line of the document", "12-no-squiggle", async () => {
    await touchAndSave(page, 11);
    // The failed run's end reaches the client (the Stop button goes away) before any mark would.
    await waitForStatus(page, /disconnected/, 30_000);
    await page.locator(".editor-actions [aria-label*='Run File with Heap Capture']").first().waitFor({ timeout: 30_000 });
    const squiggles = await page.locator(".editor-instance .squiggly-error, .editor-instance .squiggly-warning").count();
    if (squiggles !== 0) throw new Error(`${squiggles} squiggle(s) in parrot.py`);
    return "no squiggle";
  });
  await step("Set Path… opens the heaplens.simulator.path setting", "12-set-path", async () => {
    const toast = page.locator(".notifications-toasts .notification-toast", { hasText: "simulated Pico" }).first();
    await toast.locator(".monaco-button", { hasText: "Set Path…" }).click();
    const editor = page.locator(".settings-editor");
    await editor.waitFor({ timeout: 15_000 });
    const text = await until(
      async () => {
        const text = await editor.innerText();
        return text.includes("Simulator: Path") || text.includes("simulator.path") ? text : null;
      },
      15_000,
      "the simulator path setting",
    );
    return text.split("\n").find((line) => /Simulator: Path/.test(line)) ?? "settings editor open";
  });
  // The install is real: a venv in the extension's storage and pip from PyPI (a package
  // registry), then the setting points at it and the server restarts onto the simulator.
  await step("Install Simulated Pico installs the interpreter and the board comes up", "12-installed", async () => {
    await runCommand(page, "View: Close All Editor Groups");
    await runCommand(page, "HeapLens: Install Simulated Pico");
    const status = (await waitForStatus(page, /Simulated Pico/, 300_000)).trim();
    const done = await until(
      async () => (await toasts(page)).find((text) => /the simulated Pico is installed/.test(text)) ?? null,
      30_000,
      "the installed message",
    );
    return `${status} · ${done.replace(/\s+/g, " ").slice(0, 160)}`;
  });
}

async function main(cleanup) {
  if (!existsSync(entry)) throw new Error("code-server is not installed: run bash scripts/setup-code-server.sh");
  if (!existsSync(vsix)) throw new Error(`no .vsix at ${vsix}: run (cd extension && npm run package)`);
  if (!existsSync(micropython)) throw new Error(`no simulated interpreter at ${micropython}: run scripts/setup.sh`);
  mkdirSync(artifacts, { recursive: true });
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_FLAGS });
  cleanup.push(() => browser.close().catch(() => undefined));
  const needsMain = [...chosen].some((name) => name !== "first-run");
  if (needsMain) await mainSession(browser, cleanup);
  if (chosen.has("first-run")) await firstRunSession(browser, cleanup);
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
  for (const action of cleanup.reverse()) await action();
}
const passed = results.filter((result) => result.ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
if (passed !== results.length) console.log(`screenshots and code-server logs: ${artifacts}`);
process.exit(results.length > 0 && passed === results.length ? 0 : 1);
