import assert from "node:assert/strict";
import { test } from "node:test";
import { addressPlus, allocationAt, decodeBase64, diffAreas, groupSnapshots, hex, snapshotAreas } from "../../src/webview/model";
import {
  DIFF_COLOURS,
  FREE_COLOURS,
  KIND_COLOURS,
  RAINBOW_COLOURS,
  fitZoom,
  legendFor,
  blockAt,
  blockOrigin,
  cellSize,
  layoutFor,
  render,
} from "../../src/webview/render";
import { colourKey, countColours, diffOf, dump, expectedKindColours, lettersOf, snapshotFromDump } from "../fixtures/dumps";

const pico = snapshotFromDump(dump("pico-seed-192064.txt"), { id: "pico", blockBytes: 16 });
const fresh = snapshotFromDump(dump("unix-1.29pre-192k-fresh.txt"), { id: "fresh", blockBytes: 32 });
const parrot = snapshotFromDump(dump("unix-1.29pre-192k-after-parrot.txt"), { id: "parrot", blockBytes: 32 });

const counts = countColours;
const key = colourKey;
const expectedKinds = expectedKindColours;

test("the Pico seed dump decodes to 12,004 blocks with its letters", () => {
  const [area] = snapshotAreas(pico);
  assert.equal(area?.blocks, 12004);
  assert.equal(String.fromCharCode(...(area?.bytes.subarray(0, 8) ?? [])), "h=MhhhBD");
  assert.equal(pico.stats.one_blocks, 52);
});

test("kinds mode: pixel count per colour equals block count per kind", () => {
  const rendered = render(snapshotAreas(pico), { mode: "kinds", showFree: true, zoom: 1, columns: 64 });
  assert.equal(rendered.layout.width, 64);
  assert.equal(rendered.layout.height, Math.ceil(12004 / 64));
  const expected = expectedKinds(lettersOf(pico));
  expected.set("0,0,0,0", 64 * Math.ceil(12004 / 64) - 12004); // unused end of the last row
  assert.deepEqual(counts(rendered.pixels), expected);
});

test("zoom draws cell × cell squares with a gap from zoom 4", () => {
  assert.equal(cellSize(2), 2);
  assert.equal(cellSize(4), 3);
  const rendered = render(snapshotAreas(pico), { mode: "kinds", showFree: true, zoom: 4, columns: 100 });
  const drawn = counts(rendered.pixels);
  const sColour = key(KIND_COLOURS.S);
  const sHeads = [...lettersOf(pico)].filter((letter) => letter === "S").length;
  assert.equal(drawn.get(sColour), sHeads * 9);
});

test("show free off leaves free blocks transparent", () => {
  const rendered = render(snapshotAreas(pico), { mode: "kinds", showFree: false, zoom: 1, columns: 64 });
  const free = [...lettersOf(pico)].filter((letter) => letter === ".").length;
  assert.equal(counts(rendered.pixels).get(key(KIND_COLOURS["."])), undefined);
  assert.equal(counts(rendered.pixels).get("0,0,0,0"), free + (64 * Math.ceil(12004 / 64) - 12004));
});

test("rainbow mode gives neighbouring allocations different colours", () => {
  const rendered = render(snapshotAreas(pico), { mode: "rainbow", showFree: true, zoom: 1, columns: 12004 });
  const pixel = (index: number): string => Array.from(rendered.pixels.subarray(index * 4, index * 4 + 4)).join(",");
  // "h=M": blocks 0-1 are one allocation, block 2 the next.
  assert.equal(pixel(0), key(RAINBOW_COLOURS[0]));
  assert.equal(pixel(1), key(RAINBOW_COLOURS[0]));
  assert.equal(pixel(2), key(RAINBOW_COLOURS[1]));
});

test("diff mode: pixel count per colour equals block count per code", () => {
  const diff = diffOf(fresh, parrot);
  const [area] = diffAreas(diff);
  const expected = new Map<string, number>();
  for (const code of area?.bytes ?? []) expected.set(key(DIFF_COLOURS[code]), (expected.get(key(DIFF_COLOURS[code])) ?? 0) + 1);
  const rendered = render(diffAreas(diff), { mode: "diff", showFree: true, zoom: 1, columns: 64 });
  const drawn = counts(rendered.pixels);
  drawn.delete("0,0,0,0");
  assert.deepEqual(drawn, expected);
  assert.ok((expected.get(key(DIFF_COLOURS[2])) ?? 0) > 3000, "the parrot run allocated most of the heap");
});

test("areas start on new rows with a gap row; blockAt inverts blockOrigin", () => {
  const layout = layoutFor([100, 30], 64, 2);
  assert.deepEqual(layout.areas, [
    { firstRow: 0, rows: 2, blocks: 100 },
    { firstRow: 3, rows: 1, blocks: 30 },
  ]);
  assert.equal(layout.height, 8);
  for (const [area, index] of [
    [0, 0],
    [0, 99],
    [1, 0],
    [1, 29],
  ] as const) {
    const origin = blockOrigin(layout, area, index);
    assert.deepEqual(blockAt(layout, origin.x + 1, origin.y + 1), { area, index });
  }
  assert.equal(blockAt(layout, 0, 5), null, "gap row");
  assert.equal(blockAt(layout, 40 * 2, 2 * 2 + 1), null, "past the end of area 0");
  assert.equal(blockAt(layout, -1, 0), null);
});

test("bad input never reads out of bounds", () => {
  const areas = snapshotAreas({ ...pico, areas: [{ address: "zz", blocks: 10, kinds: "!!not base64" }] });
  assert.equal(areas[0]?.blocks, 10);
  const rendered = render(areas, { mode: "kinds", showFree: true, zoom: 0, columns: -5 });
  assert.equal(rendered.layout.zoom, 1);
  assert.equal(addressPlus("zz", 16), "?");
  assert.equal(render([], { mode: "kinds", showFree: true, zoom: 1, columns: 64 }).pixels.length, 64 * 4);
});

test("allocation lookup walks to the head and over the tails", () => {
  const bytes = decodeBase64(Buffer.from("h==.S=T").toString("base64"));
  assert.deepEqual(allocationAt(bytes, 2), { head: 0, blocks: 3, letter: "h" });
  assert.equal(allocationAt(bytes, 3), null);
  assert.deepEqual(allocationAt(bytes, 5), { head: 4, blocks: 2, letter: "S" });
  assert.deepEqual(allocationAt(bytes, 6), { head: 6, blocks: 1, letter: "T" });
  assert.equal(addressPlus("200084a0", 0x40), "0x200084e0");
  assert.equal(hex(0x40), "0x00000040");
});

test("fit zoom: the whole heap as large as fills the box, never wider than it", () => {
  // 6000 blocks (the simulated Pico) in 900 × 500 px: 8 px per block, 112 per row, 54 rows.
  assert.deepEqual(fitZoom([6000], 900, 500), { zoom: 8, columns: 112 });
  const layout = layoutFor([6000], 112, 8);
  assert.ok(layout.width <= 900 && layout.height <= 500, `${layout.width}×${layout.height}`);
  // A narrow, short box still fits what it can; a fixed column count only picks the zoom.
  assert.deepEqual(fitZoom([6000], 300, 100), { zoom: 2, columns: 150 });
  assert.deepEqual(fitZoom([6000], 100, 20), { zoom: 1, columns: 100 }, "too small: zoom 1, scrolling");
  assert.deepEqual(fitZoom([12004], 1000, 1000, 64), { zoom: 5, columns: 64 }, "188 rows of 64 fit at 5 px");
  // Split heaps count their gap rows.
  const split = fitZoom([4000, 4000], 400, 400);
  assert.ok(layoutFor([4000, 4000], split.columns, split.zoom).height <= 400);
});

test("light themes get light free blocks", () => {
  const snapshot = { address: "0", blocks: 2, bytes: new Uint8Array([0x2e, 0x68]) };
  const dark = render([snapshot], { mode: "kinds", showFree: true, zoom: 1, columns: 2 });
  const light = render([snapshot], { mode: "kinds", showFree: true, zoom: 1, columns: 2, theme: "light" });
  assert.deepEqual([...dark.pixels.slice(0, 3)], [...FREE_COLOURS.dark]);
  assert.deepEqual([...light.pixels.slice(0, 3)], [...FREE_COLOURS.light]);
  assert.deepEqual([...light.pixels.slice(4, 7)], [...dark.pixels.slice(4, 7)], "allocations keep their colours");
  assert.deepEqual(legendFor("kinds", "light").find((entry) => entry.code === ".")?.colour, FREE_COLOURS.light);
  assert.deepEqual(legendFor("rainbow", "dark")[0]?.colours?.length, 8);
});

test("the snapshot list groups by run, by document and the captures, newest group first", () => {
  const entry = (id: string, runId: number | null, file: string | null, name: string) => ({
    id,
    label: "capture" as const,
    file,
    runId,
    time: "2026-12-02T09:00:00Z",
    name,
    used: null,
    gcTotal: null,
  });
  const groups = groupSnapshots([
    entry("s1", 1, "file:///w/parrot.py", "before"),
    entry("s2", 1, "file:///w/parrot.py", "at failure"),
    entry("s3", null, null, "capture"),
    entry("s4", 1, "file:///w/parrot.py", "after gc"),
    entry("s5", null, "file:///w/log.mpheap", "dump 1"),
    entry("s6", null, null, "capture"),
  ]);
  assert.deepEqual(
    groups.map((group) => [group.key, group.summaries.map((s) => s.id)]),
    [
      ["captures", ["s3", "s6"]],
      ["file:file:///w/log.mpheap", ["s5"]],
      ["run:1", ["s1", "s2", "s4"]],
    ],
  );
});
