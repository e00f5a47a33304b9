// Real VS Code end-to-end test: code-server 4.100.3 (VS Code 1.100.3) from npm, driven by
// playwright-core and Debian's chromium, with the packaged .vsix installed and the simulated
// board. Steps (each leaves a screenshot in artifacts/vscode/):
//   1. the workbench loads with parrot.py open and the extension activates (status bar item);
//   2. the status bar shows the simulated board ("Simulated Pico");
//   3. saving parrot.py runs it: a MemoryError diagnostic appears on line 10 with the numbers;
//   4. hovering line 10 shows its deltas;
//   5. "HeapLens: Capture Heap" from the command palette opens the heap map and its canvas
//      draws the snapshot's blocks.
// Usage (from the repository root, after `bash scripts/setup-code-server.sh`, `cargo build`
// and `cd extension && npm run package`):
//   node tests/vscode/run.mjs [--vsix extension/heaplens-linux-x64.vsix] [--only activation]
// `--only activation` stops after steps 1–2 (what works before the server speaks LSP).
// `--fake-server` runs against extension/test/fakeServer (a scripted stand-in that speaks
// the custom messages with canned data; build it with `cd extension && node esbuild.mjs
// --tests`): it checks the client end to end, not the real server.
// Prints one `ok`/`FAIL` line per step and a closing `N passed, N failed` line; exits 1 on
// any failure.
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
const only = option("--only", "all");
const fakeServer = args.includes("--fake-server");
const entry = join(root, ".tools", "code-server", "node_modules", "code-server", "out", "node", "entry.js");
const artifacts = join(root, "artifacts", "vscode");
const scratch = join(artifacts, "scratch");
const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

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

async function waitForHttp(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 250));
  }
  throw new Error(`code-server did not answer on ${url} within ${timeoutMs} ms`);
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
  const micropython = join(root, ".venv", "bin", "micropython");
  writeFileSync(
    join(dirs.userData, "User", "settings.json"),
    JSON.stringify(
      {
        "heaplens.board": "simulated",
        ...(existsSync(micropython) ? { "heaplens.simulator.path": micropython } : {}),
        "security.workspace.trust.enabled": false,
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": false,
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "extensions.autoCheckUpdates": false,
        "extensions.autoUpdate": false,
        "extensions.ignoreRecommendations": true,
        "editor.hover.delay": 100,
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

/** Status bar items' texts. */
async function statusTexts(page) {
  return page.locator(".statusbar-item").allInnerTexts();
}

async function waitForStatus(page, pattern, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let texts = [];
  while (Date.now() < deadline) {
    texts = await statusTexts(page);
    const hit = texts.find((text) => pattern.test(text));
    if (hit !== undefined) return hit;
    await page.waitForTimeout(250);
  }
  throw new Error(`no status bar item matching ${pattern}; saw: ${texts.join(" | ")}`);
}

/** Screen lines of the active editor, sorted top to bottom (the DOM order is not). */
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
  return found === undefined ? null : lines.nth(found.index);
}

async function main() {
  if (!existsSync(entry)) throw new Error("code-server is not installed: run bash scripts/setup-code-server.sh");
  if (!existsSync(vsix)) throw new Error(`no .vsix at ${vsix}: run (cd extension && npm run package)`);
  mkdirSync(artifacts, { recursive: true });
  const port = await freePort();
  const dirs = prepareScratch(port);

  const install = spawnSync(process.execPath, [...codeServerArgs(dirs), "--install-extension", vsix], {
    encoding: "utf8",
    timeout: 120_000,
  });
  report("install the .vsix into code-server", install.status === 0, (install.stdout + install.stderr).trim().split("\n").at(-1));
  if (install.status !== 0) return;

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
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.workspace)}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
    const shot = (name) => page.screenshot({ path: join(artifacts, `${name}.png`) });

    // 1. Open parrot.py from the explorer; the python language activates the extension.
    const row = page.locator(".explorer-folders-view .monaco-list-row", { hasText: "parrot.py" });
    await row.waitFor({ timeout: 30_000 });
    await row.click();
    await page.locator(".editor-instance .view-lines").waitFor({ timeout: 30_000 });
    try {
      const item = await waitForStatus(page, /HeapLens|Pico|disconnected/, 30_000);
      report("the extension activates on parrot.py (status bar item)", true, item.trim());
    } catch (error) {
      report("the extension activates on parrot.py (status bar item)", false, String(error.message));
    }
    await shot("1-activated");

    // 1b. "HeapLens: Show Heap Map" opens the webview in VS Code's own frames (strict CSP,
    // bundled script): its page builds the map UI even before any snapshot exists.
    await page.keyboard.press("F1");
    await page.keyboard.type("HeapLens: Show Heap Map");
    await page.waitForTimeout(500);
    await page.keyboard.press("Enter");
    try {
      const deadline = Date.now() + 30_000;
      let title = null;
      while (Date.now() < deadline && title === null) {
        for (const frame of page.frames()) {
          const text = await frame
            .evaluate(() => (document.getElementById("map") ? document.getElementById("title")?.textContent ?? "" : null))
            .catch(() => null);
          if (text !== null) title = text;
        }
        if (title === null) await page.waitForTimeout(500);
      }
      report("Show Heap Map opens the webview with its canvas", title !== null, title ?? "no heap map frame");
    } catch (error) {
      report("Show Heap Map opens the webview with its canvas", false, String(error.message));
    }
    await shot("1b-heap-map-panel");

    // 2. The status bar shows the simulated board (needs the server's heaplens/boardStatus).
    try {
      const item = await waitForStatus(page, /Simulated Pico/, 30_000);
      report("the status bar shows the simulated board", true, item.trim());
    } catch (error) {
      report("the status bar shows the simulated board", false, String(error.message));
    }
    await shot("2-board");
    if (only === "activation") return;

    // 3. Save → run on save → MemoryError diagnostic on line 10.
    const lastLine = await editorLine(page, 11);
    await (lastLine ?? page.locator(".editor-instance .view-lines")).click();
    await page.keyboard.press("End");
    await page.keyboard.type(" ");
    await page.keyboard.press("Backspace");
    await page.keyboard.press("Control+S");
    try {
      await page.locator(".editor-instance .squiggly-error").first().waitFor({ timeout: 60_000 });
      await page.keyboard.press("Control+Shift+M");
      const problems = page.locator(".markers-panel .monaco-list-row");
      await problems.first().waitFor({ timeout: 10_000 });
      const text = (await problems.allInnerTexts()).join("\n");
      const ok = /MemoryError|memory allocation failed/.test(text) && /Ln 10/.test(text) && /98305/.test(text);
      report("saving runs the file: MemoryError diagnostic on line 10 with the numbers", ok, text.replace(/\s+/g, " ").slice(0, 200));
    } catch (error) {
      report("saving runs the file: MemoryError diagnostic on line 10 with the numbers", false, String(error.message));
    }
    await shot("3-diagnostic");

    // 4. Hovering line 10 shows its deltas.
    try {
      const line10 = await editorLine(page, 10);
      if (line10 === null) throw new Error("line 10 is not on screen");
      const box = await line10.boundingBox();
      await page.mouse.move(box.x + 40, box.y + box.height / 2);
      const hover = page.locator(".monaco-hover:not(.hidden)").first();
      await hover.waitFor({ timeout: 10_000 });
      const text = await hover.innerText();
      report("hovering line 10 shows its deltas", /\d+\s*(B|bytes)/.test(text), text.replace(/\s+/g, " ").slice(0, 200));
    } catch (error) {
      report("hovering line 10 shows its deltas", false, String(error.message));
    }
    await shot("4-hover");
    await page.keyboard.press("Escape");

    // 5. Capture Heap from the command palette → heap map canvas draws the snapshot.
    await page.keyboard.press("F1");
    await page.keyboard.type("HeapLens: Capture Heap");
    await page.waitForTimeout(500);
    await page.keyboard.press("Enter");
    try {
      const deadline = Date.now() + 60_000;
      let drawn = null;
      while (Date.now() < deadline && drawn === null) {
        for (const frame of page.frames()) {
          const result = await frame
            .evaluate(() => {
              const canvas = document.getElementById("map");
              const debug = window.heapLensDebug;
              // Wait for the captured snapshot itself, not a run's snapshot shown before it.
              const title = document.getElementById("title")?.textContent ?? "";
              if (!canvas || !debug || debug.blocks === 0 || !title.includes("capture")) return null;
              const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
              let painted = 0;
              for (let index = 3; index < data.length; index += 4) if (data[index] !== 0) painted++;
              return { blocks: debug.blocks, painted, zoom: Number(document.getElementById("zoom")?.value ?? 1) };
            })
            .catch(() => null);
          if (result !== null) drawn = result;
        }
        if (drawn === null) await page.waitForTimeout(500);
      }
      if (drawn === null) throw new Error("no heap map canvas with a snapshot appeared");
      const cell = drawn.zoom >= 4 ? drawn.zoom - 1 : drawn.zoom;
      report(
        "Capture Heap opens the heap map and draws every block",
        drawn.painted === drawn.blocks * cell * cell,
        `${drawn.blocks} blocks, ${drawn.painted} painted pixels at zoom ${drawn.zoom}`,
      );
    } catch (error) {
      report("Capture Heap opens the heap map and draws every block", false, String(error.message));
    }
    await shot("5-heap-map");
  } finally {
    await browser.close();
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {
      // already gone
    }
    writeFileSync(join(artifacts, "code-server.log"), log.join(""));
  }
}

try {
  await main();
} catch (error) {
  report("end-to-end run", false, error instanceof Error ? error.message : String(error));
}
const passed = results.filter((result) => result.ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(results.length > 0 && passed === results.length ? 0 : 1);
