/**
 * Loads the real built webview bundle (dist/webview.js + dist/webview.css) in headless
 * Debian Chromium, in the same HTML VS Code gets (same CSP), with a stubbed
 * `acquireVsCodeApi` that records what the page posts. Used by the webview tests and the
 * benchmark.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import type { ToWebview } from "../../src/webview/messages";
import { makeNonce, webviewHtml } from "../../src/webviewHtml";
import { extensionRoot } from "../fixtures/dumps";

/** Flags that work on these machines (facts §5). */
export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

export const CHROMIUM_PATH = process.env.HEAPLENS_CHROMIUM ?? "/usr/bin/chromium";

/** Where screenshots go: `artifacts/webview/` at the repository root (gitignored). */
export const ARTIFACTS = join(extensionRoot(), "..", "artifacts", "webview");

/** Writes the test page next to the bundle and returns its file URL. */
export function writeTestPage(): string {
  const root = extensionRoot();
  const folder = join(root, "out", "webview-page");
  mkdirSync(folder, { recursive: true });
  const nonce = makeNonce();
  writeFileSync(
    join(folder, "stub.js"),
    `window.__posted = [];
window.__state = undefined;
window.acquireVsCodeApi = function () {
  return {
    postMessage: function (message) { window.__posted.push(message); },
    getState: function () { return window.__state; },
    setState: function (state) { window.__state = state; },
  };
};
`,
  );
  const bundle = pathToFileURL(join(root, "dist", "webview.js")).toString();
  const html = webviewHtml({
    cspSource: "file:",
    nonce,
    scriptUri: bundle,
    styleUri: pathToFileURL(join(root, "dist", "webview.css")).toString(),
  }).replace(
    `<script nonce="${nonce}" src="${bundle}">`,
    `<script nonce="${nonce}" src="${pathToFileURL(join(folder, "stub.js")).toString()}"></script>\n<script nonce="${nonce}" src="${bundle}">`,
  );
  const page = join(folder, "index.html");
  writeFileSync(page, html);
  return pathToFileURL(page).toString();
}

export async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS });
}

/** An open heap map page plus the problems the browser reported (console errors, CSP). */
export interface MapPage {
  page: Page;
  problems: string[];
}

export async function openMap(browser: Browser, viewport = { width: 1200, height: 900 }): Promise<MapPage> {
  const page = await browser.newPage({ viewport });
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(error.message));
  await page.goto(writeTestPage());
  await page.waitForFunction(() => (window as unknown as { __posted: unknown[] }).__posted.length > 0);
  return { page, problems };
}

/** Number of draws so far. */
async function draws(page: Page): Promise<number> {
  return page.evaluate(() => Number(document.body.dataset.draws ?? "0"));
}

/** Sends messages as VS Code would (window message events) and waits for the redraws. */
export async function send(page: Page, ...messages: ToWebview[]): Promise<void> {
  for (const message of messages) {
    const before = await draws(page);
    await page.evaluate((data) => window.postMessage(data, "*"), message);
    await page.waitForFunction((count) => Number(document.body.dataset.draws ?? "0") > count, before);
  }
}

/**
 * The canvas size and its pixels counted by `r,g,b,a` colour, read back with getImageData
 * (counted in the page: shipping millions of bytes to Node would dominate the test).
 */
export async function canvasPixels(page: Page): Promise<{ width: number; height: number; colours: Map<string, number> }> {
  const result = await page.evaluate(() => {
    const canvas = document.getElementById("map") as HTMLCanvasElement;
    const data = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray(0);
    const words = new Uint32Array(data.buffer, data.byteOffset, data.length / 4);
    const counts = new Map<number, number>();
    for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
    const colours: [string, number][] = [];
    for (const [word, count] of counts) {
      colours.push([`${word & 255},${(word >>> 8) & 255},${(word >>> 16) & 255},${word >>> 24}`, count]);
    }
    return { width: canvas.width, height: canvas.height, colours };
  });
  return { width: result.width, height: result.height, colours: new Map(result.colours) };
}

/** Messages the page posted to the (stubbed) extension. */
export async function posted(page: Page): Promise<unknown[]> {
  return page.evaluate(() => (window as unknown as { __posted: unknown[] }).__posted);
}

/** Timing of the last draw, from the page. */
export interface DrawTiming {
  /** render() plus putImageData, ms. */
  drawMs: number;
  /** render() alone, ms. */
  renderMs: number;
  /** The whole message handler: decoding, header, legend, timeline and draw, ms. */
  handleMs: number;
  blocks: number;
}

export async function lastDraw(page: Page): Promise<DrawTiming> {
  return page.evaluate(() => ({ ...(window as unknown as { heapLensDebug: DrawTiming }).heapLensDebug }));
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
