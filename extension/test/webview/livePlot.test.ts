/**
 * The heap map's live plot in headless Chromium: `timeline` messages (as the extension
 * forwards `heaplens/timeline`) arriving in batches while a run goes on. Asserts the drawn
 * pixels (heap in use, free, the peak marker, collection ticks), the caption, that a new run
 * starts a new plot, and that an hour of samples stays bounded with its peak.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { TimelineSample } from "../../src/protocol";
import { PLOT_CAPACITY, PLOT_COLOURS } from "../../src/webview/liveplot";
import { launch, openMap, screenshot, send } from "./harness";

let browser: Browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

const HEAP = 232_960;

/** A sawtooth: garbage piles up for `period` samples, then a collection drops it; the floor
 * rises by `leak` bytes per sample. One spike at `spikeAt`. */
function samples(from: number, count: number, options: { period: number; leak: number; spikeAt?: number }): TimelineSample[] {
  const out: TimelineSample[] = [];
  for (let index = from; index < from + count; index++) {
    let used = 50_000 + index * options.leak + (index % options.period) * 2_000;
    if (index === options.spikeAt) used = 200_000;
    out.push({ tMs: index * 100, used, free: HEAP - used });
  }
  return out;
}

interface Live {
  runId: number | null;
  draws: number;
  kept: number;
  count: number;
  peak: { x: number; y: number; used: number; tMs: number } | null;
  drops: number;
  columns: number;
}

async function live(page: Page): Promise<Live> {
  return page.evaluate(() => {
    const state = (window as unknown as {
      heapLensLive: {
        runId: number | null;
        draws: number;
        store: { samples: unknown[]; count: number };
        result: { peak: Live["peak"]; drops: number; columns: number } | null;
      };
    }).heapLensLive;
    return {
      runId: state.runId,
      draws: state.draws,
      kept: state.store.samples.length,
      count: state.store.count,
      peak: state.result?.peak ?? null,
      drops: state.result?.drops ?? 0,
      columns: state.result?.columns ?? 0,
    };
  });
}

/** Pixels of the live plot counted by exact colour. */
async function plotColours(page: Page): Promise<Map<string, number>> {
  const counts = await page.evaluate(() => {
    const canvas = document.getElementById("live-plot") as HTMLCanvasElement;
    const data = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray(0);
    const out: Record<string, number> = {};
    for (let index = 0; index < data.length; index += 4) {
      const key = `${data[index]},${data[index + 1]},${data[index + 2]}`;
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  });
  return new Map(Object.entries(counts));
}

const key = (colour: readonly number[]) => colour.join(",");

async function pixelAt(page: Page, x: number, y: number): Promise<string> {
  return page.evaluate(
    ([px, py]) => {
      const canvas = document.getElementById("live-plot") as HTMLCanvasElement;
      const data = canvas.getContext("2d")?.getImageData(px, py, 1, 1).data;
      return data === undefined ? "" : `${data[0]},${data[1]},${data[2]}`;
    },
    [x, y],
  );
}

test("the live plot grows with each batch: used, free, the peak and collections drawn", async () => {
  const { page, problems } = await openMap(browser);
  assert.equal(await page.isHidden("#live-plot"), true, "no plot before a timeline");
  const all = samples(0, 60, { period: 10, leak: 100, spikeAt: 33 });
  // Three batches, as the server sends them while the run goes on.
  for (const [index, batch] of [all.slice(0, 20), all.slice(20, 40), all.slice(40)].entries()) {
    await send(page, { type: "timeline", timeline: { runId: 7, uri: "file:///w/main.py", intervalMs: 100, samples: batch } });
    const state = await live(page);
    assert.equal(state.count, 20 * (index + 1));
  }
  const state = await live(page);
  assert.equal(state.runId, 7);
  assert.equal(state.kept, 60);
  assert.equal(state.draws, 3, "one redraw per batch");
  // A collection every 10 samples: 5 drops after the first period (the spike's fall too).
  const expectedDrops = all.filter((sample, index) => index > 0 && (all[index - 1]).used - sample.used > 64).length;
  assert.equal(state.drops, expectedDrops);
  assert.ok(state.drops >= 5);
  assert.equal(state.peak?.used, 200_000);
  assert.equal(state.peak?.tMs, 3300);
  const colours = await plotColours(page);
  for (const name of ["used", "free", "peak", "drop"] as const) {
    assert.ok((colours.get(key(PLOT_COLOURS[name])) ?? 0) > 0, `${name} is drawn: ${[...colours.keys()].join(" ")}`);
  }
  // The peak marker is where the plot says it is.
  assert.equal(await pixelAt(page, state.peak?.x ?? -1, state.peak?.y ?? -1), key(PLOT_COLOURS.peak));
  const caption = await page.textContent("#live-caption");
  assert.match(caption ?? "", /^run 7 · main\.py · 5\.9 s, 60 samples every 100 ms · now .* used, .* free · peak 195\.3 KiB at 3\.3 s · \d+ collections \(drops\)$/);
  await screenshot(page, "live-plot");
  // A new run starts a new plot.
  await send(page, { type: "timeline", timeline: { runId: 8, uri: "file:///w/main.py", intervalMs: 50, samples: samples(0, 5, { period: 100, leak: 0 }) } });
  const next = await live(page);
  assert.equal(next.runId, 8);
  assert.equal(next.kept, 5);
  assert.equal(next.peak?.tMs, 400);
  // The test's own pixel readbacks make Chrome suggest willReadFrequently: not the page's.
  assert.deepEqual(
    problems.filter((problem) => !problem.startsWith("Canvas2D: Multiple readback operations")),
    [],
  );
});

test("an hour of samples keeps a bounded plot, its first sample and its peak", async () => {
  const { page, problems } = await openMap(browser);
  const total = 36_000;
  for (let from = 0; from < total; from += 2_000) {
    await send(page, {
      type: "timeline",
      timeline: { runId: 1, uri: "file:///w/main.py", intervalMs: 100, samples: samples(from, 2_000, { period: 50, leak: 1, spikeAt: 12_345 }) },
    });
  }
  const state = await live(page);
  assert.equal(state.count, total);
  assert.ok(state.kept <= PLOT_CAPACITY && state.kept >= PLOT_CAPACITY / 4 && state.kept < total, `${state.kept}`);
  assert.equal(state.peak?.tMs, 1_234_500);
  const first = await page.evaluate(
    () => (window as unknown as { heapLensLive: { store: { samples: { tMs: number }[] } } }).heapLensLive.store.samples[0]?.tMs,
  );
  assert.equal(first, 0);
  assert.deepEqual(problems, []);
});
