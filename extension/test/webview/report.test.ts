/**
 * `heaplens run --html` end to end: the real binary runs tests/fixtures/scenarios/parrot.py on
 * the simulated Pico and writes its report; headless Chromium opens the file with every
 * network request recorded. Asserts the page drew its four heap maps (pixels of the kind and
 * diff palettes), filled the line table and the MemoryError diagnostic, and fetched nothing.
 * `UPDATE_SCREENSHOTS=1` also refreshes docs/report.png.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { extensionRoot } from "../fixtures/dumps";
import { ARTIFACTS, launch } from "./harness";
import { DIFF_COLOURS_LIGHT, KIND_COLOURS } from "../../src/webview/render";

const repo = join(extensionRoot(), "..");
const binary = process.env.HEAPLENS_BIN ?? join(repo, "target", "debug", "heaplens");

let browser: Browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

test("the HTML report of a run renders offline in Chromium", async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const report = join(ARTIFACTS, "parrot-report.html");
  const run = spawnSync(binary, ["run", join(repo, "tests", "fixtures", "scenarios", "parrot.py"), "--board", "sim", "--html", report], {
    encoding: "utf8",
  });
  // parrot.py ends in a MemoryError: exit 1, and the report still written.
  assert.equal(run.status, 1, run.stderr);
  const html = readFileSync(report, "utf8");
  assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=/, "nothing loaded from outside the file");

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: "light" });
  const problems: string[] = [];
  const requests: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("request", (request) => requests.push(request.url()));
  await page.goto(pathToFileURL(report).toString());
  await page.waitForFunction(() => document.body.dataset["ready"] === "true");
  assert.deepEqual(problems, []);
  assert.deepEqual(
    requests.filter((url) => !url.startsWith("file:") && !url.startsWith("data:")),
    [],
  );

  const maps = await page.evaluate(() =>
    [...document.querySelectorAll("figure.map")].map((figure) => {
      const canvas = figure.querySelector("canvas") as HTMLCanvasElement;
      const data = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray(0);
      const colours = new Set<string>();
      for (let i = 0; i < data.length; i += 4) colours.add(`${data[i]},${data[i + 1]},${data[i + 2]}`);
      return { title: figure.querySelector("figcaption")?.textContent ?? "", mode: canvas.dataset["mode"], width: canvas.width, colours: [...colours] };
    }),
  );
  assert.deepEqual(
    maps.map((m) => m.title),
    ["before", "at failure", "after gc", "before → after gc"],
  );
  const rgb = (c: readonly number[]) => `${c[0]},${c[1]},${c[2]}`;
  for (const map of maps.slice(0, 3)) {
    assert.equal(map.mode, "kinds");
    assert.ok(map.width >= 64, `${map.title}: ${map.width} px wide`);
    // Strings, bytearrays and functions are in every snapshot of a run (the Pico modules).
    for (const letter of ["S", "B"]) assert.ok(map.colours.includes(rgb(KIND_COLOURS[letter] ?? [])), `${map.title} has ${letter}`);
  }
  const diff = maps[3];
  assert.equal(diff?.mode, "diff");
  assert.ok(diff?.colours.includes(rgb(DIFF_COLOURS_LIGHT[2] ?? [])), "the diff shows allocated blocks");

  const text = await page.evaluate(() => document.body.innerText);
  assert.match(text, /peak heap use [\d.]+ KiB at parrot\.py:\d+/);
  assert.match(text, /error parrot\.py:10 \[memory-error/);
  const lineRows = await page.evaluate(() => [...document.querySelectorAll("table")].at(-1)?.querySelectorAll("tbody tr").length ?? 0);
  assert.ok(lineRows >= 3, `${lineRows} line rows`);

  const shot = join(ARTIFACTS, "report.png");
  await page.screenshot({ path: shot, fullPage: true });
  if (process.env.UPDATE_SCREENSHOTS === "1") copyFileSync(shot, join(repo, "docs", "report.png"));
  await page.close();
});
