/**
 * The real webview bundle in headless Chromium, fed fixture snapshots through its message
 * API. Asserts drawn pixels, header figures, tooltip text and what the page posts back;
 * stores a screenshot per mode under artifacts/webview/.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import type { Snapshot } from "../../src/protocol";
import type { SnapshotSummary } from "../../src/protocol";
import { FREE_COLOURS, blockOrigin, layoutFor } from "../../src/webview/render";
import {
  colourKey,
  diffOf,
  dump,
  expectedDiffColours,
  expectedKindColours,
  lettersOf,
  snapshotFromDump,
  syntheticSnapshot,
} from "../fixtures/dumps";
import { canvasPixels, lastDraw, launch, openMap, posted, screenshot, send } from "./harness";

const pico = snapshotFromDump(dump("pico-seed-192064.txt"), {
  id: "pico",
  blockBytes: 16,
  label: "after",
  runId: 3,
  file: "file:///w/parrot.py",
});
const fresh = snapshotFromDump(dump("unix-1.29pre-192k-fresh.txt"), { id: "fresh", blockBytes: 32, label: "before", runId: 1 });
const parrot = snapshotFromDump(dump("unix-1.29pre-192k-after-parrot.txt"), {
  id: "parrot",
  blockBytes: 32,
  label: "after",
  runId: 1,
  file: "file:///w/parrot.py",
});
const split = snapshotFromDump(dump("wasm-pyscript-1.27.0-heapsize192064-after-parrot-autogrown-split-heap.txt"), {
  id: "split",
  blockBytes: 16,
});

/** The list entry of a snapshot, as `heaplens/listSnapshots` gives it. */
function summaryOf(snapshot: Snapshot): SnapshotSummary {
  const { id, label, file, runId, time, name, stats } = snapshot;
  return { id, label, file, runId, time, name, used: stats.used, gcTotal: stats.gc_total };
}

let browser: Browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

/** Blank cells at the end of each area's last row, and the gap rows between areas. */
function blankPixels(snapshot: Snapshot, columns: number): number {
  const layout = layoutFor(
    snapshot.areas.map((area) => area.blocks),
    columns,
    1,
  );
  const blocks = snapshot.areas.reduce((sum, area) => sum + area.blocks, 0);
  return layout.width * layout.height - blocks;
}

test("kinds mode: one pixel per block, colour counts equal block counts per kind", async () => {
  const { page, problems } = await openMap(browser);
  await send(page, { type: "options", mode: "kinds", zoom: 1, columns: 64, showFree: true }, { type: "snapshot", snapshot: pico });
  const pixels = await canvasPixels(page);
  assert.equal(pixels.width, 64);
  const expected = expectedKindColours(lettersOf(pico));
  expected.set("0,0,0,0", blankPixels(pico, 64));
  assert.deepEqual(pixels.colours, expected);
  assert.equal((await lastDraw(page)).blocks, 12004);
  await send(page, { type: "options", zoom: 4, columns: 0 });
  await screenshot(page, "kinds");
  assert.deepEqual(problems, []);
  await page.close();
});

test("the figures are the server's, in KiB with the exact bytes on hover, in one vocabulary", async () => {
  const { page } = await openMap(browser);
  await send(page, { type: "snapshot", snapshot: pico });
  const stat = (name: string) => page.locator(`dd[data-stat="${name}"]`).textContent();
  const exact = (name: string) => page.locator(`dd[data-stat="${name}"]`).getAttribute("title");
  assert.equal(await stat("stack-used"), "532 B of 7.8 KiB");
  assert.equal(await stat("used"), "4.8 KiB of 187.6 KiB (2.5%)");
  assert.equal(await exact("used"), "4,896 of 192,064 bytes");
  assert.equal(await stat("free"), "182.8 KiB (97.5%)");
  assert.equal(await exact("free"), "187,168 bytes");
  assert.equal(await stat("one-blocks"), "52");
  assert.equal(await stat("two-blocks"), "13");
  assert.equal(await stat("largest-allocation"), "1.0 KiB (64 blocks)");
  assert.equal(await stat("longest-free"), "182.0 KiB (11,650 blocks)");
  assert.equal(await exact("longest-free"), "186,400 bytes");
  const text = (await page.locator("#stats").innerText()) ?? "";
  assert.match(text, /largest allocation/);
  assert.doesNotMatch(text, /largest block|max block/);
  const title = await page.locator("#title").textContent();
  assert.match(title ?? "", /^Heap map · at end · run 3 · parrot\.py · \d\d:\d\d:\d\d$/);
  const histogramRows = await page.locator(".histogram-row").count();
  assert.equal(histogramRows, pico.stats.free_runs.filter((bucket) => bucket.runs > 0).length);
  assert.equal(await page.locator(".legend-item").count(), 11);
  await page.close();
});

test("histogram rows say 1 run and 1 block, and rows of zeros are left out", async () => {
  const { page } = await openMap(browser);
  const snapshot: Snapshot = {
    ...pico,
    stats: {
      ...pico.stats,
      free_runs: [
        { min_blocks: 1, max_blocks: 1, runs: 1, blocks: 1 },
        { min_blocks: 2, max_blocks: 3, runs: 0, blocks: 0 },
        { min_blocks: 4, max_blocks: 7, runs: 2, blocks: 11 },
      ],
    },
  };
  await send(page, { type: "snapshot", snapshot });
  const rows = await page.locator(".histogram-row").allInnerTexts();
  assert.equal(rows.length, 2);
  assert.match(rows[0] ?? "", /^1 block\s+1 run · 1 block$/);
  assert.match(rows[1] ?? "", /^4–7 blocks\s+2 runs · 11 blocks$/);
  await page.close();
});

test("the map fills its panel at fit zoom, with no horizontal scrollbar, and follows a resize", async () => {
  const { page, problems } = await openMap(browser, { width: 1100, height: 720 });
  await send(page, { type: "snapshot", snapshot: parrot });
  const measure = () =>
    page.evaluate(() => {
      const box = document.getElementById("map-scroll") as HTMLElement;
      const canvas = document.getElementById("map") as HTMLCanvasElement;
      const debug = (window as unknown as { heapLensDebug: { zoom: number; columns: number } }).heapLensDebug;
      return {
        boxWidth: box.clientWidth,
        boxHeight: box.clientHeight,
        scrollWidth: box.scrollWidth,
        width: canvas.width,
        height: canvas.height,
        zoom: debug.zoom,
        zoomLabel: (document.getElementById("zoom") as HTMLSelectElement).selectedOptions[0]?.textContent ?? "",
      };
    });
  const wide = await measure();
  assert.ok(wide.width <= wide.boxWidth && wide.height <= wide.boxHeight, JSON.stringify(wide));
  assert.ok(wide.scrollWidth <= wide.boxWidth, `no horizontal scrollbar: ${JSON.stringify(wide)}`);
  // Filling: one zoom step more would no longer fit the height (or the width).
  const bigger = layoutFor([6000], Math.floor(wide.boxWidth / (wide.zoom + 1)), wide.zoom + 1);
  assert.ok(bigger.height > wide.boxHeight || bigger.width > wide.boxWidth, JSON.stringify(wide));
  assert.ok(wide.zoom >= 6, `a 6000-block heap in a 1100×720 panel is not a strip: ${JSON.stringify(wide)}`);
  assert.equal(wide.zoomLabel, `fit (${wide.zoom}×)`);
  await screenshot(page, "fit-wide");
  const draws = Number(await page.evaluate(() => document.body.dataset.draws));
  await page.setViewportSize({ width: 700, height: 900 });
  await page.waitForFunction((count) => Number(document.body.dataset.draws) > count, draws);
  const narrow = await measure();
  assert.ok(narrow.width <= narrow.boxWidth && narrow.scrollWidth <= narrow.boxWidth, JSON.stringify(narrow));
  // In a narrow panel the histogram comes right under the map, in view.
  const histogram = await page.locator("#histogram").boundingBox();
  assert.ok(histogram !== null && histogram.y + 20 < 900, `histogram at ${JSON.stringify(histogram)}`);
  await screenshot(page, "fit-narrow");
  assert.deepEqual(problems, []);
  await page.close();
});

test("options a person picks are posted for the extension to remember", async () => {
  const { page } = await openMap(browser);
  await send(page, { type: "snapshot", snapshot: pico });
  await page.locator("#zoom").selectOption("6");
  await page.locator("#mode").selectOption("rainbow");
  const saved = (await posted(page)).filter((message) => (message as { type: string }).type === "saveOptions");
  assert.deepEqual(saved.at(-1), { type: "saveOptions", options: { mode: "rainbow", showFree: true, zoom: 6, columns: 0 } });
  await page.close();
});

test("hovering a block shows offset, address, kind and allocation size", async () => {
  const { page } = await openMap(browser);
  await send(page, { type: "options", mode: "kinds", zoom: 8, columns: 64 }, { type: "snapshot", snapshot: pico });
  const box = await page.locator("#map").boundingBox();
  assert.ok(box !== null);
  const layout = layoutFor([12004], 64, 8);
  // Block 2 is the "M" of "h=Mhhh…": a one-block module. Block 30 sits inside "h====" (blocks 29-33).
  const at = blockOrigin(layout, 0, 2);
  await page.mouse.move(box.x + at.x + 3, box.y + at.y + 3);
  const text = await page.locator("#tooltip").innerText();
  assert.match(text, /block 2 · offset 0x00000020 · address 0x200084c0/);
  assert.match(text, /module \(M\) · allocation of 1 block = 16 B/);
  const inside = blockOrigin(layout, 0, 30);
  await page.mouse.move(box.x + inside.x + 3, box.y + inside.y + 3);
  const tail = await page.locator("#tooltip").innerText();
  assert.match(tail, /offset 0x000001e0 · address 0x20008680/);
  assert.match(tail, /other object or raw buffer \(h\) · allocation of 5 blocks = 80 B · head at 0x000001d0/);
  await screenshot(page, "tooltip");
  await page.mouse.move(box.x + box.width + 50, box.y);
  assert.equal(await page.locator("#tooltip").isHidden(), true);
  await page.close();
});

test("diff mode: colour counts equal block counts per diff code", async () => {
  const { page } = await openMap(browser);
  const diff = {
    ...diffOf(fresh, parrot),
    totals: {
      ...diffOf(fresh, parrot).totals,
      allocated_bytes: 98_336,
      freed_bytes: 352,
      net_bytes: 97_984,
      max_free_blocks_before: 4951,
      max_free_blocks_after: 2260,
    },
  };
  await send(
    page,
    { type: "snapshots", list: [summaryOf(fresh), summaryOf(parrot)] },
    { type: "options", zoom: 1, columns: 64, showFree: true },
    { type: "snapshot", snapshot: parrot },
    { type: "diff", diff },
  );
  assert.equal(await page.locator("#mode").inputValue(), "diff");
  assert.equal(await page.locator("#title").textContent(), "Diff · run 1 before → run 1 at end");
  assert.equal(
    await page.locator("#subtitle").textContent(),
    "A: run 1 before → B: run 1 at end · allocated +96.0 KiB · freed −352 B · net +95.7 KiB · " +
      "longest free run 154.7 KiB → 70.6 KiB",
  );
  const pixels = await canvasPixels(page);
  const expected = expectedDiffColours(diff);
  expected.set("0,0,0,0", blankPixels(parrot, 64));
  assert.deepEqual(pixels.colours, expected);
  const legend = await page.locator("#legend").innerText();
  assert.match(legend, /allocated/);
  assert.match(legend, /freed/);
  // The diff's "after" side is shown, so the tooltip tells the change and both sides' kinds.
  await send(page, { type: "options", zoom: 8 });
  const box = await page.locator("#map").boundingBox();
  assert.ok(box !== null);
  await page.mouse.move(box.x + 3, box.y + 3);
  const tip = await page.locator("#tooltip").innerText();
  assert.match(tip, /diff: (same allocation|changed kind|allocated)/);
  assert.match(tip, /A \(run 1 before\): (free|.+ \(.\))/);
  assert.match(tip, /B \(run 1 at end\): .+ \(h\)/);
  await page.mouse.move(0, 0);
  await send(page, { type: "options", zoom: 4, columns: 0 });
  await screenshot(page, "diff");
  await page.close();
});

test("diff mode with nothing to compare says how to pick two snapshots", async () => {
  const { page } = await openMap(browser);
  await send(page, { type: "snapshot", snapshot: parrot }, { type: "options", mode: "diff" });
  const empty = page.locator("#map-empty");
  assert.equal(await empty.isVisible(), true);
  assert.match((await empty.textContent()) ?? "", /Nothing to compare yet\. In Snapshots, press A on one snapshot and B on another/);
  assert.equal(await page.locator("#map").isHidden(), true);
  await page.close();
});

test("rainbow mode's legend explains its colours", async () => {
  const { page } = await openMap(browser);
  await send(page, { type: "options", mode: "rainbow" }, { type: "snapshot", snapshot: parrot });
  const legendText = (await page.locator("#legend").innerText()) ?? "";
  assert.match(legendText, /where one allocation ends and the next begins/);
  assert.match(legendText, /says nothing about the kind/);
  assert.match(legendText, /one allocation each, in address order, cycling/);
  assert.equal(await page.locator("#legend .swatch.strip").count(), 1);
  await page.close();
});

test("a light theme gets a light palette", async () => {
  const { page } = await openMap(browser);
  await page.evaluate(() => document.body.classList.add("vscode-light"));
  await send(page, { type: "options", mode: "kinds", zoom: 1, columns: 64, showFree: true }, { type: "snapshot", snapshot: parrot });
  const pixels = await canvasPixels(page);
  const free = [...lettersOf(parrot)].filter((letter) => letter === ".").length;
  assert.equal(pixels.colours.get(colourKey(FREE_COLOURS.light)), free);
  assert.equal(pixels.colours.get(colourKey(FREE_COLOURS.dark)), undefined);
  await send(page, { type: "options", zoom: 0, columns: 0 });
  await screenshot(page, "light-theme");
  await page.close();
});

test("rainbow and show-free modes redraw with their own colours", async () => {
  const { page } = await openMap(browser);
  await send(page, { type: "options", mode: "rainbow", zoom: 1, columns: 64 }, { type: "snapshot", snapshot: parrot });
  const rainbow = (await canvasPixels(page)).colours;
  assert.ok(rainbow.size >= 8, `rainbow uses its palette (${rainbow.size} colours)`);
  await send(page, { type: "options", zoom: 4, columns: 0 });
  await screenshot(page, "rainbow");
  await send(page, { type: "options", mode: "kinds", showFree: false, zoom: 1, columns: 64 });
  const hidden = (await canvasPixels(page)).colours;
  const free = [...lettersOf(parrot)].filter((letter) => letter === ".").length;
  assert.equal(hidden.get("0,0,0,0"), free + blankPixels(parrot, 64));
  await send(page, { type: "options", zoom: 4, columns: 0 });
  await screenshot(page, "show-free-off");
  await page.close();
});

test("split heaps draw every area, each starting on a new row", async () => {
  const { page } = await openMap(browser);
  await send(page, { type: "options", mode: "kinds", zoom: 1, columns: 64, showFree: true }, { type: "snapshot", snapshot: split });
  assert.equal(split.areas.length, 3);
  const expected = expectedKindColours(split.areas.map((_, index) => lettersOf(split, index)).join(""));
  expected.set("0,0,0,0", blankPixels(split, 64));
  // Joining areas could merge a leading tail with the previous area's head; none here start with "=".
  assert.ok(split.areas.every((_, index) => !lettersOf(split, index).startsWith("=")));
  assert.deepEqual((await canvasPixels(page)).colours, expected);
  await send(page, { type: "options", zoom: 3, columns: 0 });
  await screenshot(page, "split-heap");
  await page.close();
});

test("clicking an allocation with a known line posts revealLine, after gc too", async () => {
  const { page } = await openMap(browser);
  const withLines: Snapshot = {
    ...pico,
    label: "after-gc",
    name: "after gc",
    allocationLines: [{ area: 0, offset: 0x1d0, line: 9 }],
  };
  await send(page, { type: "options", mode: "kinds", zoom: 8, columns: 64 }, { type: "snapshot", snapshot: withLines });
  const box = await page.locator("#map").boundingBox();
  assert.ok(box !== null);
  const at = blockOrigin(layoutFor([12004], 64, 8), 0, 31); // a tail of the allocation at 0x1d0
  await page.mouse.move(box.x + at.x + 3, box.y + at.y + 3);
  assert.match(await page.locator("#tooltip").innerText(), /allocated by line 10/);
  await page.mouse.click(box.x + at.x + 3, box.y + at.y + 3);
  assert.deepEqual((await posted(page)).at(-1), { type: "revealLine", file: "file:///w/parrot.py", line: 9 });
  await page.close();
});

test("an allocation made in an imported module reveals that module's line", async () => {
  const { page } = await openMap(browser);
  const module = "file:///w/lib/ssd1306.py";
  const withLines: Snapshot = { ...pico, allocationLines: [{ area: 0, offset: 0x1d0, line: 4, uri: module }] };
  await send(page, { type: "options", mode: "kinds", zoom: 8, columns: 64 }, { type: "snapshot", snapshot: withLines });
  const box = await page.locator("#map").boundingBox();
  assert.ok(box !== null);
  const at = blockOrigin(layoutFor([12004], 64, 8), 0, 31);
  await page.mouse.move(box.x + at.x + 3, box.y + at.y + 3);
  assert.match(await page.locator("#tooltip").innerText(), /allocated by line 5 of ssd1306\.py/);
  await page.mouse.click(box.x + at.x + 3, box.y + at.y + 3);
  assert.deepEqual((await posted(page)).at(-1), { type: "revealLine", file: module, line: 4 });
  await page.close();
});

test("the snapshot list groups runs, reads its times and file names, compares any two and clears", async () => {
  const { page } = await openMap(browser);
  const list = [
    { id: "r1-before", label: "before", file: "file:///w/parrot.py", runId: 1, time: "2026-11-26T18:00:01Z", name: "before", used: 4896, gcTotal: 192064 },
    { id: "r1-after", label: "after", file: "file:///w/parrot.py", runId: 1, time: "2026-11-26T18:00:02Z", name: "at failure", used: 101024, gcTotal: 192000 },
    { id: "c1", label: "capture", file: null, runId: null, time: "2026-11-26T18:01:00Z", name: "capture", used: null, gcTotal: null },
    { id: "d1", label: "capture", file: "file:///w/log.mpheap", runId: null, time: "2026-11-26T18:02:00Z", name: "dump 2", dump: 2, used: 8832, gcTotal: 102400 },
  ] as const;
  await send(page, { type: "snapshots", list: [...list] });
  // The series is plotted: a bar per snapshot, its height the share in use; unknown: a gap.
  const bars = page.locator("#timeline-plot .plot-bar");
  assert.equal(await bars.count(), 4);
  const heights = await bars.evaluateAll((nodes) => nodes.map((node) => (node as HTMLElement).style.height));
  assert.deepEqual(heights.slice(0, 2), ["3%", "53%"]);
  assert.match((await bars.nth(2).getAttribute("class")) ?? "", /unknown/);
  // Groups, newest first: the dump document, the captures, the run (its snapshots in order).
  const groups = await page.locator("#timeline .group h3").allInnerTexts();
  const time = (rfc: string) => new Date(rfc).toTimeString().slice(0, 8);
  assert.deepEqual(groups, ["log.mpheap", "captures", `run 1 · parrot.py · ${time("2026-11-26T18:00:01Z")}`]);
  const items = await page.locator("#timeline li .show").allInnerTexts();
  assert.deepEqual(items, ["dump 2", `capture · ${time("2026-11-26T18:01:00Z")}`, "before", "at failure"]);
  assert.doesNotMatch((await page.locator("#timeline").innerText()) ?? "", /file:\/\//);
  assert.equal(await page.locator("#compare").isDisabled(), true);
  const row = (id: string) => page.locator(`#timeline li[data-id="${id}"]`);
  await row("r1-before").locator(".pick-a").click();
  await row("c1").locator(".pick-b").click();
  await page.locator("#compare").click();
  await row("r1-after").locator(".show").click();
  await page.locator("#clear").click();
  const messages = await posted(page);
  assert.deepEqual(messages.slice(-3), [
    { type: "compare", before: "r1-before", after: "c1" },
    { type: "select", id: "r1-after" },
    { type: "clear" },
  ]);
  assert.deepEqual(messages[0], { type: "ready" });
  await send(page, { type: "snapshots", list: [] });
  assert.match((await page.locator("#timeline").innerText()) ?? "", /No snapshots yet/);
  assert.equal(await page.locator("#clear").isDisabled(), true);
  await page.close();
});

test("figures a dump does not determine show as unknown, and offsets without a block size", async () => {
  const { page, problems } = await openMap(browser);
  const snapshot: Snapshot = {
    ...pico,
    blockBytes: null,
    dump: 2,
    name: "dump 2",
    label: "capture",
    runId: null,
    stats: {
      ...pico.stats,
      block_bytes: null,
      blocks_total: null,
      max_free_blocks: null,
      max_free_bytes: null,
      fragmentation: null,
      warnings: ["unknown: max_free_blocks, max_free_bytes, fragmentation (no `max free sz`)"],
    },
  };
  await send(page, { type: "snapshot", snapshot });
  const stats = (await page.locator("#stats").innerText()) ?? "";
  assert.match(stats, /longest free run\s+unknown/);
  assert.match(stats, /fragmentation\s+unknown/);
  assert.match(stats, /no `max free sz`/);
  assert.match((await page.locator("#timeline li").innerText()) ?? "", /dump 2/);
  const box = await page.locator("#map").boundingBox();
  assert.ok(box !== null);
  await page.mouse.move(box.x + 2, box.y + 2);
  assert.match(await page.locator("#tooltip").innerText(), /offset unknown/);
  assert.deepEqual(problems, []);
  await page.close();
});

test("text from messages is shown as text, never parsed as HTML", async () => {
  const { page, problems } = await openMap(browser);
  const hostile = '<img src=x onerror="window.__pwned=1">';
  const snapshot: Snapshot = {
    ...pico,
    file: `file:///w/${hostile}.py`,
    stats: { ...pico.stats, warnings: [`<b>bold</b>${hostile}`] },
  };
  await send(page, { type: "snapshot", snapshot });
  assert.equal(await page.locator("img").count(), 0);
  assert.equal(await page.locator("b").count(), 0);
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  assert.match((await page.locator("#stats").innerText()) ?? "", /<b>bold<\/b><img src=x/);
  assert.deepEqual(problems, []);
  await page.close();
});

test("overview screenshot: a run's snapshots with a tooltip (docs/heap-map.png)", async () => {
  const { page } = await openMap(browser, { width: 1000, height: 640 });
  const afterGc = snapshotFromDump(dump("unix-1.29pre-192k-after-parrot-gc-collect.txt"), {
    id: "after-gc",
    blockBytes: 32,
    label: "after-gc",
    runId: 1,
    file: "file:///w/parrot.py",
  });
  await send(
    page,
    {
      type: "snapshots",
      list: [fresh, parrot, afterGc].map(summaryOf),
    },
    { type: "options", mode: "kinds", zoom: 0, columns: 0, showFree: true },
    { type: "snapshot", snapshot: parrot },
  );
  const box = await page.locator("#map").boundingBox();
  assert.ok(box !== null);
  const fitted = await page.evaluate(() => (window as unknown as { heapLensDebug: { zoom: number; columns: number } }).heapLensDebug);
  const at = blockOrigin(layoutFor([6000], fitted.columns, fitted.zoom), 0, 200);
  await page.mouse.move(box.x + at.x + 2, box.y + at.y + 2);
  assert.match(await page.locator("#tooltip").innerText(), /block 200/);
  await screenshot(page, "heap-map");
  await page.close();
});

test("524,288 blocks are all drawn", async () => {
  const { page } = await openMap(browser);
  const big = syntheticSnapshot(524288);
  await send(page, { type: "options", mode: "kinds", zoom: 1, columns: 1024, showFree: true }, { type: "snapshot", snapshot: big });
  const pixels = await canvasPixels(page);
  assert.equal(pixels.width * pixels.height, 524288);
  const transparent = pixels.colours.get("0,0,0,0") ?? 0;
  assert.equal(transparent, 0);
  const timing = await lastDraw(page);
  assert.equal(timing.blocks, 524288);
  console.log(`# 524,288 blocks drawn in ${timing.drawMs.toFixed(1)} ms (render ${timing.renderMs.toFixed(1)} ms)`);
  assert.equal(colourKey([1, 2, 3]), "1,2,3,255");
  await page.close();
});
