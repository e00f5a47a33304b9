/**
 * The real webview bundle in headless Chromium, fed fixture snapshots through its message
 * API. Asserts drawn pixels, header figures, tooltip text and what the page posts back;
 * stores a screenshot per mode under artifacts/webview/.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import type { Snapshot } from "../../src/protocol";
import { blockOrigin, layoutFor } from "../../src/webview/render";
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

test("the stats header shows the server's figures", async () => {
  const { page } = await openMap(browser);
  await send(page, { type: "snapshot", snapshot: pico });
  const stat = (name: string) => page.locator(`dd[data-stat="${name}"]`).textContent();
  assert.equal(await stat("stack-used"), "532 / 7936 B");
  assert.equal(await stat("memory"), "4896 / 192064 B used · 187168 B free (97.5%)");
  assert.equal(await stat("one-blocks"), "52");
  assert.equal(await stat("two-blocks"), "13");
  assert.equal(await stat("largest-block"), "64 blocks (1024 B)");
  assert.equal(await stat("longest-free"), "11650 blocks (186400 B)");
  const title = await page.locator("#title").textContent();
  assert.match(title ?? "", /after · run 3 · parrot\.py/);
  const histogramRows = await page.locator(".histogram-row").count();
  assert.equal(histogramRows, pico.stats.free_runs.length);
  assert.equal(await page.locator(".legend-item").count(), 11);
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
  assert.match(text, /module \(M\) · allocation 1 blocks = 16 bytes/);
  const inside = blockOrigin(layout, 0, 30);
  await page.mouse.move(box.x + inside.x + 3, box.y + inside.y + 3);
  const tail = await page.locator("#tooltip").innerText();
  assert.match(tail, /offset 0x000001e0 · address 0x20008680/);
  assert.match(tail, /other object or raw buffer \(h\) · allocation 5 blocks = 80 bytes · head at 0x000001d0/);
  await screenshot(page, "tooltip");
  await page.mouse.move(box.x + box.width + 50, box.y);
  assert.equal(await page.locator("#tooltip").isHidden(), true);
  await page.close();
});

test("diff mode: colour counts equal block counts per diff code", async () => {
  const { page } = await openMap(browser);
  const diff = diffOf(fresh, parrot);
  await send(
    page,
    { type: "options", zoom: 1, columns: 64, showFree: true },
    { type: "snapshot", snapshot: parrot },
    { type: "diff", diff },
  );
  assert.equal(await page.locator("#mode").inputValue(), "diff");
  const pixels = await canvasPixels(page);
  const expected = expectedDiffColours(diff);
  expected.set("0,0,0,0", blankPixels(parrot, 64));
  assert.deepEqual(pixels.colours, expected);
  const legend = await page.locator("#legend").innerText();
  assert.match(legend, /allocated/);
  assert.match(legend, /freed/);
  // The diff's "after" side is shown, so the tooltip tells both the change and the kind.
  await send(page, { type: "options", zoom: 8 });
  const box = await page.locator("#map").boundingBox();
  assert.ok(box !== null);
  await page.mouse.move(box.x + 3, box.y + 3);
  assert.match(await page.locator("#tooltip").innerText(), /diff: (same allocation|changed kind|allocated)[\s\S]*\(h\)/);
  await page.mouse.move(0, 0);
  await send(page, { type: "options", zoom: 4, columns: 0 });
  await screenshot(page, "diff");
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

test("clicking an allocation with a known line posts revealLine", async () => {
  const { page } = await openMap(browser);
  const withLines: Snapshot = { ...pico, allocationLines: [{ area: 0, offset: 0x1d0, line: 9 }] };
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

test("the timeline selects snapshots and compares any two", async () => {
  const { page } = await openMap(browser);
  const list = [
    { id: "r1-before", label: "before", file: "file:///w/parrot.py", runId: 1, time: "2026-11-26T18:00:01Z", used: 4896, gcTotal: 192064 },
    { id: "r1-after", label: "after", file: "file:///w/parrot.py", runId: 1, time: "2026-11-26T18:00:02Z", used: 101024, gcTotal: 192000 },
    { id: "c1", label: "capture", file: null, runId: null, time: "2026-11-26T18:01:00Z", used: null, gcTotal: null },
  ] as const;
  await send(page, { type: "snapshots", list: [...list] });
  // The series is plotted: a bar per snapshot, its height the share in use; unknown: a gap.
  const bars = page.locator("#timeline-plot .plot-bar");
  assert.equal(await bars.count(), 3);
  const heights = await bars.evaluateAll((nodes) => nodes.map((node) => (node as HTMLElement).style.height));
  assert.deepEqual(heights.slice(0, 2), ["3%", "53%"]);
  assert.match((await bars.nth(2).getAttribute("class")) ?? "", /unknown/);
  const rows = page.locator("#timeline li");
  assert.equal(await rows.count(), 3);
  assert.match((await rows.nth(0).innerText()) ?? "", /18:00:01 run 1 · before · parrot\.py/);
  assert.equal(await page.locator("#compare").isDisabled(), true);
  await rows.nth(0).locator(".pick-a").click();
  await rows.nth(2).locator(".pick-b").click();
  await page.locator("#compare").click();
  await rows.nth(1).locator(".show").click();
  const messages = await posted(page);
  assert.deepEqual(messages.slice(-2), [
    { type: "compare", before: "r1-before", after: "c1" },
    { type: "select", id: "r1-after" },
  ]);
  assert.deepEqual(messages[0], { type: "ready" });
  await page.close();
});

test("figures a dump does not determine show as unknown, and offsets without a block size", async () => {
  const { page, problems } = await openMap(browser);
  const snapshot: Snapshot = {
    ...pico,
    blockBytes: null,
    dump: 2,
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
  assert.match((await page.locator("#timeline li").innerText()) ?? "", /#2/);
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
      list: [fresh, parrot, afterGc].map(({ id, label, file, runId, time, stats }) => ({
        id,
        label,
        file,
        runId,
        time,
        used: stats.used,
        gcTotal: stats.gc_total,
      })),
    },
    { type: "options", mode: "kinds", zoom: 6, columns: 128, showFree: true },
    { type: "snapshot", snapshot: parrot },
  );
  const box = await page.locator("#map").boundingBox();
  assert.ok(box !== null);
  const at = blockOrigin(layoutFor([6000], 128, 6), 0, 200);
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
