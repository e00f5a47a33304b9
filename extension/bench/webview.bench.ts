/**
 * Heap map draw time in headless Chromium: 524,288 blocks (the largest heap we plan for:
 * 8 MiB of 16-byte blocks) in kinds mode and as a diff, at zoom 1 and zoom 2.
 * Prints one line per case with min / median / max over the runs. Run with
 * `npm run bench:webview` from extension/. Not a test: nothing here asserts on time.
 */
import type { Page } from "playwright-core";
import type { ToWebview } from "../src/webview/messages";
import { syntheticDiff, syntheticSnapshot } from "../test/fixtures/dumps";
import { lastDraw, launch, openMap, send, type DrawTiming } from "../test/webview/harness";

const BLOCKS = 524288;
const RUNS = Number(process.env.HEAPLENS_BENCH_RUNS ?? "15");

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  return `min ${sorted[0]?.toFixed(1)} · median ${median.toFixed(1)} · max ${sorted.at(-1)?.toFixed(1)} ms`;
}

async function measure(page: Page, name: string, load: ToWebview[], redraw: (run: number) => ToWebview): Promise<void> {
  await send(page, ...load);
  const timings: DrawTiming[] = [];
  for (let run = 0; run < RUNS; run++) {
    await send(page, redraw(run));
    timings.push(await lastDraw(page));
  }
  console.log(`${name}`);
  console.log(`  draw (render + putImageData): ${summary(timings.map((timing) => timing.drawMs))}`);
  console.log(`  render alone:                 ${summary(timings.map((timing) => timing.renderMs))}`);
  console.log(`  whole message handler:        ${summary(timings.map((timing) => timing.handleMs))}`);
}

/** The live plot: 10,000 samples (a 17-minute run at 100 ms) redrawn, as each new batch of a
 * run redraws the whole plot. */
async function measureLivePlot(page: Page): Promise<void> {
  const samples = [];
  for (let index = 0; index < 10_000; index++) {
    const used = 50_000 + index * 3 + (index % 40) * 1_500;
    samples.push({ tMs: index * 100, used, free: 232_960 - used });
  }
  await send(page, { type: "timeline", timeline: { runId: 1, uri: "file:///w/main.py", intervalMs: 100, samples } });
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    await send(page, { type: "timeline", timeline: { runId: 1, uri: "file:///w/main.py", intervalMs: 100, samples: [] } });
    times.push(await page.evaluate(() => (window as unknown as { heapLensLive: { drawMs: number } }).heapLensLive.drawMs));
  }
  const kept = await page.evaluate(() => (window as unknown as { heapLensLive: { store: { samples: unknown[] } } }).heapLensLive.store.samples.length);
  console.log(`live plot, ${kept} samples kept of 10,000, redraw (bin + draw + caption)`);
  console.log(`  redraw: ${summary(times)}`);
}

async function main(): Promise<void> {
  const browser = await launch();
  try {
    const { page } = await openMap(browser, { width: 1280, height: 900 });
    const snapshot = syntheticSnapshot(BLOCKS);
    const diff = syntheticDiff(BLOCKS);
    console.log(`heap map benchmark: ${BLOCKS} blocks, ${RUNS} runs per case, Chromium ${browser.version()}`);
    await measureLivePlot(page);
    await measure(
      page,
      "kinds, zoom 1, 1024 columns (redraw on option change)",
      [{ type: "options", mode: "kinds", zoom: 1, columns: 1024 }, { type: "snapshot", snapshot }],
      (run) => ({ type: "options", showFree: run % 2 === 0 }),
    );
    await measure(
      page,
      "kinds, new snapshot message each run (base64 decode included in the handler)",
      [],
      (run) => ({ type: "snapshot", snapshot: { ...snapshot, id: `s${run}` } }),
    );
    await measure(
      page,
      "kinds, zoom 2, 1024 columns",
      [{ type: "options", mode: "kinds", zoom: 2, columns: 1024 }],
      (run) => ({ type: "options", showFree: run % 2 === 0 }),
    );
    await measure(
      page,
      "diff, zoom 1, 1024 columns",
      [{ type: "options", zoom: 1, columns: 1024 }, { type: "diff", diff }],
      (run) => ({ type: "options", showFree: run % 2 === 0 }),
    );
    await measure(
      page,
      "rainbow, zoom 1, 1024 columns",
      [{ type: "options", mode: "rainbow" }, { type: "snapshot", snapshot }],
      (run) => ({ type: "options", showFree: run % 2 === 0 }),
    );
  } finally {
    await browser.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
