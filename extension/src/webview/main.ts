/**
 * The heap map webview: DOM, events and message handling around the pure renderer. All text
 * from messages goes into the page through `textContent`; no HTML is ever parsed from data.
 *
 * Messages in (window `message` events): `snapshot`, `snapshots`, `diff`, `options`.
 * Messages out (acquireVsCodeApi().postMessage): `ready`, `select`, `compare`, `revealLine`,
 * `saveOptions`, `clear`.
 *
 * Layout: the map fills the space the panel leaves it ("fit" zoom: the whole heap as large
 * as fits), with the figures, the free-run histogram and the snapshot list beside it in a
 * wide panel and under it in a narrow one (histogram first, so it stays in view).
 */
import type { DiffResult, Snapshot, SnapshotSummary, Stats } from "../protocol";
import { clockTime, fileName, formatBytes, kibAndBytes, plural, thousands } from "../units";
import type { FromWebview, MapOptions, ToWebview } from "./messages";
import {
  DIFF_NAMES,
  KIND_NAMES,
  addressPlus,
  allocationAt,
  allocationLineIndex,
  type AllocationSite,
  uriName,
  diffAreas,
  diffKinds,
  groupSnapshots,
  hex,
  kindAt,
  snapshotAreas,
  type AreaBytes,
} from "./model";
import { SampleStore, drawPlot, type PlotResult } from "./liveplot";
import { MODES, blockAt, fitZoom, isMapMode, legendFor, render, type Layout, type Rgb, type Theme } from "./render";

interface VsCodeApi {
  postMessage(message: FromWebview): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();

/** Everything the page shows; messages update it and `refresh` redraws. */
const state: {
  snapshot: Snapshot | null;
  snapshotAreas: AreaBytes[];
  lines: Map<string, AllocationSite>;
  diff: DiffResult | null;
  diffAreas: AreaBytes[];
  diffKinds: { before: AreaBytes[]; after: AreaBytes[] };
  list: SnapshotSummary[];
  compareA: string | null;
  compareB: string | null;
  options: MapOptions;
  layout: Layout | null;
  theme: Theme;
} = {
  snapshot: null,
  snapshotAreas: [],
  lines: new Map(),
  diff: null,
  diffAreas: [],
  diffKinds: { before: [], after: [] },
  list: [],
  compareA: null,
  compareB: null,
  options: { mode: "kinds", showFree: true, zoom: 0, columns: 0 },
  layout: null,
  theme: "dark",
};

/** Timing of the last draw, read by the Chromium tests and the benchmark. */
const debug = {
  drawMs: 0,
  renderMs: 0,
  handleMs: 0,
  blocks: 0,
  draws: 0,
  zoom: 0,
  columns: 0,
  /** Canvas pixels of the first few allocations that link to a line (for end-to-end tests). */
  links: [] as { x: number; y: number; line: number }[],
};
(window as unknown as { heapLensDebug: unknown }).heapLensDebug = debug;

// ---- DOM helpers (textContent only) -------------------------------------------------------

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: { className?: string; text?: string; id?: string; title?: string } = {},
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (options.className !== undefined) node.className = options.className;
  if (options.id !== undefined) node.id = options.id;
  if (options.text !== undefined) node.textContent = options.text;
  if (options.title !== undefined) node.title = options.title;
  for (const child of children) node.appendChild(child);
  return node;
}

function rgbCss(colour: Rgb): string {
  return `rgb(${colour[0]}, ${colour[1]}, ${colour[2]})`;
}

function percent(part: number | null, whole: number | null): string {
  return part !== null && whole !== null && whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : "–";
}

/** `48.0 KiB (1,537 blocks)`, with whichever part is unknown said so. */
function bytesAndBlocks(blocks: number | null, bytes: number | null): string {
  if (blocks === null) return "unknown";
  return bytes === null ? `${plural(blocks, "block")} (block size unknown)` : `${formatBytes(bytes)} (${plural(blocks, "block")})`;
}

// ---- Page skeleton ------------------------------------------------------------------------

const title = element("h1", { id: "title", text: "Heap map — waiting for a snapshot" });
const subtitle = element("p", { id: "subtitle", className: "subtitle" });
subtitle.hidden = true;
const statsGrid = element("dl", { id: "stats", className: "stats" });
const modeSelect = element("select", { id: "mode" });
for (const mode of Object.keys(MODES)) {
  modeSelect.appendChild(element("option", { text: mode })).value = mode;
}
const showFreeBox = element("input", { id: "show-free" });
showFreeBox.type = "checkbox";
const zoomSelect = element("select", { id: "zoom" });
const fitOption = zoomSelect.appendChild(element("option", { text: "fit" }));
fitOption.value = "0";
for (const zoom of [1, 2, 3, 4, 6, 8, 12, 16]) {
  zoomSelect.appendChild(element("option", { text: `${zoom}×` })).value = String(zoom);
}
const columnsSelect = element("select", { id: "columns" });
for (const columns of [0, 32, 64, 128, 256, 512, 1024]) {
  columnsSelect.appendChild(element("option", { text: columns === 0 ? "fit" : String(columns) })).value =
    String(columns);
}
const toolbar = element(
  "div",
  { className: "toolbar" },
  element("label", { text: "Mode " }, modeSelect),
  element("label", { text: " Zoom " }, zoomSelect),
  element("label", { text: " Columns " }, columnsSelect),
  element("label", { text: " " }, showFreeBox, document.createTextNode(" show free")),
);
const legend = element("div", { id: "legend", className: "legend" });
const canvas = element("canvas", { id: "map" });
const mapEmpty = element("p", { id: "map-empty", className: "map-empty" });
const mapScroll = element("div", { id: "map-scroll", className: "map-scroll" }, canvas, mapEmpty);
const tooltip = element("div", { id: "tooltip", className: "tooltip" });
tooltip.hidden = true;
const histogram = element("div", { id: "histogram", className: "histogram" });
const timeline = element("div", { id: "timeline", className: "timeline" });
const timelinePlot = element("div", { id: "timeline-plot", className: "timeline-plot" });
const livePlot = element("canvas", { id: "live-plot", className: "live-plot" });
const liveCaption = element("p", { id: "live-caption", className: "live-caption" });
const liveSection = element(
  "section",
  { className: "live" },
  element("h2", { text: "Heap over time" }),
  livePlot,
  liveCaption,
);
liveSection.hidden = true;
const compareButton = element("button", { id: "compare", text: "Compare A → B" });
compareButton.disabled = true;
const clearButton = element("button", { id: "clear", text: "Clear", title: "Forget every snapshot of this session" });

document.body.appendChild(
  element(
    "main",
    {},
    element("header", { className: "head" }, title, subtitle, toolbar, legend),
    mapScroll,
    element(
      "aside",
      { className: "side" },
      liveSection,
      element("section", { className: "free-runs" }, element("h2", { text: "Free runs" }), histogram),
      element("section", { className: "figures" }, element("h2", { text: "Heap" }), statsGrid),
      element(
        "section",
        { className: "snapshots" },
        element("div", { className: "section-head" }, element("h2", { text: "Snapshots" }), clearButton),
        timelinePlot,
        timeline,
        compareButton,
      ),
    ),
    tooltip,
  ),
);

// ---- Names --------------------------------------------------------------------------------

/** A snapshot as a list names it: `run 2 after gc`, `capture 09:01:02`, `log.mpheap dump 3`. */
function shortName(summary: SnapshotSummary): string {
  if (summary.runId !== null) return `run ${summary.runId} ${summary.name}`;
  if (summary.file !== null) return `${fileName(summary.file)} ${summary.name}`;
  return `${summary.name} ${clockTime(summary.time)}`;
}

function nameOf(id: string): string {
  const summary = state.list.find((entry) => entry.id === id);
  return summary === undefined ? id : shortName(summary);
}

// ---- Rendering of the parts ---------------------------------------------------------------

function renderStats(stats: Stats | null): void {
  statsGrid.replaceChildren();
  if (stats === null) return;
  const block = stats.block_bytes;
  const largestBytes = stats.max_block_blocks !== null && block !== null ? stats.max_block_blocks * block : null;
  const fragmentation = stats.fragmentation;
  const exact = (bytes: number | null) => (bytes === null ? undefined : `${thousands(bytes)} bytes`);
  const rows: { name: string; value: string; key: string; title?: string; bytes?: number | null }[] = [
    {
      name: "stack",
      value:
        stats.stack_used === null
          ? "–"
          : `${formatBytes(stats.stack_used)}${stats.stack_total === null ? "" : ` of ${formatBytes(stats.stack_total)}`}`,
      key: "stack-used",
    },
    {
      name: "used",
      value:
        stats.used === null
          ? "unknown"
          : `${formatBytes(stats.used)} of ${stats.gc_total === null ? "unknown" : formatBytes(stats.gc_total)} (${percent(stats.used, stats.gc_total)})`,
      key: "used",
      title: stats.used === null ? undefined : `${thousands(stats.used)} of ${stats.gc_total === null ? "?" : thousands(stats.gc_total)} bytes`,
      bytes: stats.used,
    },
    {
      name: "free",
      value: stats.free === null ? "unknown" : `${formatBytes(stats.free)} (${percent(stats.free, stats.gc_total)})`,
      key: "free",
      title: exact(stats.free),
      bytes: stats.free,
    },
    { name: "1-block allocations", value: stats.one_blocks === null ? "unknown" : thousands(stats.one_blocks), key: "one-blocks" },
    { name: "2-block allocations", value: stats.two_blocks === null ? "unknown" : thousands(stats.two_blocks), key: "two-blocks" },
    {
      name: "largest allocation",
      value: bytesAndBlocks(stats.max_block_blocks, largestBytes),
      key: "largest-allocation",
      title: exact(largestBytes),
      bytes: largestBytes,
    },
    {
      name: "longest free run",
      value: bytesAndBlocks(stats.max_free_blocks, stats.max_free_bytes),
      key: "longest-free",
      title: exact(stats.max_free_bytes),
      bytes: stats.max_free_bytes,
    },
    {
      name: "fragmentation",
      value: fragmentation === null ? "unknown" : `${(fragmentation * (fragmentation <= 1 ? 100 : 1)).toFixed(1)}%`,
      key: "fragmentation",
    },
  ];
  for (const row of rows) {
    statsGrid.appendChild(element("dt", { text: row.name }));
    const dd = element("dd", { text: row.value, ...(row.title === undefined ? {} : { title: row.title }) });
    dd.dataset.stat = row.key;
    if (row.bytes !== undefined && row.bytes !== null) dd.dataset.bytes = String(row.bytes);
    if (row.key === "used" && stats.gc_total !== null) dd.dataset.total = String(stats.gc_total);
    statsGrid.appendChild(dd);
  }
  for (const warning of stats.warnings) {
    statsGrid.appendChild(element("dd", { className: "warning", text: `⚠ ${warning}` }));
  }
}

function renderLegend(): void {
  const mode = MODES[state.options.mode];
  legend.replaceChildren(element("span", { className: "legend-caption", text: mode.caption }));
  for (const entry of legendFor(state.options.mode, state.theme)) {
    legend.appendChild(swatch(entry.colour, entry.code, entry.name, entry.tail, entry.colours));
  }
}

function swatch(colour: Rgb, letter: string, name: string, tail?: Rgb, strip?: readonly Rgb[]): HTMLElement {
  const box = element("span", { className: strip === undefined ? "swatch" : "swatch strip" });
  if (strip !== undefined) {
    const step = 100 / strip.length;
    box.style.background = `linear-gradient(90deg, ${strip
      .map((c, i) => `${rgbCss(c)} ${(i * step).toFixed(2)}% ${((i + 1) * step).toFixed(2)}%`)
      .join(", ")})`;
  } else {
    box.style.background =
      tail === undefined ? rgbCss(colour) : `linear-gradient(90deg, ${rgbCss(colour)} 50%, ${rgbCss(tail)} 50%)`;
  }
  const item = element(
    "span",
    { className: "legend-item" },
    box,
    element("code", { text: letter }),
    document.createTextNode(` ${name}`),
  );
  item.dataset.letter = letter;
  return item;
}

function renderHistogram(stats: Stats | null): void {
  histogram.replaceChildren();
  const buckets = (stats?.free_runs ?? []).filter((bucket) => bucket.runs > 0);
  if (buckets.length === 0) {
    histogram.appendChild(element("p", { text: stats === null ? "No snapshot yet." : "No free runs." }));
    return;
  }
  const most = Math.max(...buckets.map((bucket) => bucket.blocks), 1);
  const blockBytes = stats?.block_bytes ?? null;
  for (const bucket of buckets) {
    const range =
      bucket.min_blocks === bucket.max_blocks
        ? plural(bucket.min_blocks, "block")
        : `${thousands(bucket.min_blocks)}–${plural(bucket.max_blocks, "block")}`;
    const bar = element("span", { className: "bar" });
    bar.style.width = `${(100 * bucket.blocks) / most}%`;
    const row = element(
      "div",
      {
        className: "histogram-row",
        ...(blockBytes === null ? {} : { title: `${kibAndBytes(bucket.blocks * blockBytes)} free in runs of ${range}` }),
      },
      element("span", { className: "range", text: range }),
      element("span", { className: "track" }, bar),
      element("span", { className: "count", text: `${plural(bucket.runs, "run")} · ${plural(bucket.blocks, "block")}` }),
    );
    histogram.appendChild(row);
  }
}

/**
 * The series as a plot: one bar per snapshot, its height the share of the heap in use (a
 * dump log, a run's before/after/after-gc). Snapshots whose figures are unknown leave a gap.
 * Hidden with fewer than two points.
 */
function renderTimelinePlot(): void {
  timelinePlot.replaceChildren();
  const points = state.list.filter((s) => s.used !== null && s.gcTotal !== null && s.gcTotal > 0);
  timelinePlot.hidden = points.length < 2;
  if (timelinePlot.hidden) return;
  for (const summary of state.list) {
    const bar = element("span", { className: "plot-bar" });
    const { used, gcTotal } = summary;
    if (used !== null && gcTotal !== null && gcTotal > 0) {
      bar.style.height = `${Math.max(2, Math.round((100 * used) / gcTotal))}%`;
      bar.title = `${shortName(summary)}: ${formatBytes(used)} of ${formatBytes(gcTotal)} used`;
    } else {
      bar.classList.add("unknown");
      bar.title = `${shortName(summary)}: used unknown`;
    }
    bar.dataset.id = summary.id;
    bar.classList.toggle("current", state.snapshot?.id === summary.id);
    bar.addEventListener("click", () => post({ type: "select", id: summary.id }));
    timelinePlot.appendChild(bar);
  }
}

/** The title of a group of the snapshot list. */
function groupTitle(first: SnapshotSummary): string {
  if (first.runId !== null) {
    const file = first.file === null ? "" : ` · ${fileName(first.file)}`;
    return `run ${first.runId}${file} · ${clockTime(first.time)}`;
  }
  if (first.file !== null) return fileName(first.file);
  return "captures";
}

/** An entry's own text within its group. */
function itemText(summary: SnapshotSummary): string {
  if (summary.runId === null && summary.file === null) return `${summary.name} · ${clockTime(summary.time)}`;
  return summary.name;
}

function renderTimeline(): void {
  renderTimelinePlot();
  timeline.replaceChildren();
  clearButton.disabled = state.list.length === 0;
  if (state.list.length === 0) {
    timeline.appendChild(element("p", { className: "hint", text: "No snapshots yet: run a file or capture the heap." }));
  }
  for (const group of groupSnapshots(state.list)) {
    const first = group.summaries[0];
    if (first === undefined) continue;
    const items = element("ul", {});
    for (const summary of group.summaries) {
      const show = element("button", { className: "show", text: itemText(summary), title: `${shortName(summary)} · ${summary.time}` });
      show.addEventListener("click", () => post({ type: "select", id: summary.id }));
      const pickA = element("button", { className: "pick-a", text: "A", title: "Compare from this snapshot" });
      const pickB = element("button", { className: "pick-b", text: "B", title: "Compare to this snapshot" });
      pickA.classList.toggle("picked", state.compareA === summary.id);
      pickB.classList.toggle("picked", state.compareB === summary.id);
      pickA.addEventListener("click", () => {
        state.compareA = summary.id;
        renderTimeline();
      });
      pickB.addEventListener("click", () => {
        state.compareB = summary.id;
        renderTimeline();
      });
      const item = element("li", { className: "item" }, pickA, pickB, show);
      item.dataset.id = summary.id;
      item.classList.toggle("current", state.snapshot?.id === summary.id);
      items.appendChild(item);
    }
    const section = element("section", { className: "group" }, element("h3", { text: groupTitle(first) }), items);
    section.dataset.group = group.key;
    timeline.appendChild(section);
  }
  compareButton.disabled = state.compareA === null || state.compareB === null || state.compareA === state.compareB;
}

compareButton.addEventListener("click", () => {
  if (state.compareA !== null && state.compareB !== null) {
    post({ type: "compare", before: state.compareA, after: state.compareB });
  }
});
clearButton.addEventListener("click", () => {
  state.compareA = null;
  state.compareB = null;
  post({ type: "clear" });
});

// ---- The canvas ---------------------------------------------------------------------------

function currentAreas(): AreaBytes[] {
  return MODES[state.options.mode].source === "diff" ? state.diffAreas : state.snapshotAreas;
}

/** A narrow panel (the CSS media query's width): the map sits above the rest. */
const narrow = window.matchMedia("(max-width: 720px)");

/**
 * The pixels the map may use: its box inside the page. In a narrow panel the box is as tall
 * as the map (up to about half the panel), so the histogram follows right under it.
 */
function mapBox(): { width: number; height: number } {
  const width = mapScroll.clientWidth > 0 ? mapScroll.clientWidth : 1024;
  if (narrow.matches) return { width, height: Math.max(120, Math.floor(window.innerHeight * 0.52)) };
  const height = mapScroll.clientHeight > 0 ? mapScroll.clientHeight : 480;
  return { width, height };
}

/** Zoom and blocks per row: the chosen ones, or those that make the heap fill the map's box. */
function effectiveLayout(areas: readonly AreaBytes[]): { zoom: number; columns: number } {
  const { width, height } = mapBox();
  const blocks = areas.map((area) => area.blocks);
  if (state.options.zoom === 0) return fitZoom(blocks, width, height, state.options.columns);
  const zoom = state.options.zoom;
  const columns = state.options.columns > 0 ? state.options.columns : Math.max(1, Math.floor(width / zoom));
  return { zoom, columns };
}

/** Why the map is empty, or null when there is something to draw. */
function emptyReason(): string | null {
  if (MODES[state.options.mode].source === "diff" && state.diff === null) {
    return (
      "Nothing to compare yet. In Snapshots, press A on one snapshot and B on another — a run's " +
      "“before” and “after gc” show what the run kept — then Compare A → B."
    );
  }
  if (state.snapshot === null && MODES[state.options.mode].source === "snapshot") {
    return "No heap snapshot yet: save a Python file (HeapLens runs it on the board) or run HeapLens: Capture Heap.";
  }
  return null;
}

function draw(): void {
  const started = performance.now();
  const reason = emptyReason();
  mapEmpty.hidden = reason === null;
  mapEmpty.textContent = reason ?? "";
  canvas.hidden = reason !== null;
  const areas = reason === null ? currentAreas() : [];
  const { zoom, columns } = effectiveLayout(areas);
  fitOption.textContent = state.options.zoom === 0 ? `fit (${zoom}×)` : "fit";
  const rendered = render(areas, { mode: state.options.mode, showFree: state.options.showFree, zoom, columns, theme: state.theme });
  const rendering = performance.now();
  const { width, height } = rendered.layout;
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  if (context !== null) context.putImageData(new ImageData(rendered.pixels, width, height), 0, 0);
  state.layout = rendered.layout;
  mapScroll.classList.toggle("fit", state.options.zoom === 0 || state.options.columns === 0);
  debug.renderMs = rendering - started;
  debug.drawMs = performance.now() - started;
  debug.blocks = areas.reduce((sum, area) => sum + area.blocks, 0);
  debug.zoom = rendered.layout.zoom;
  debug.links = linkedBlocks(rendered.layout);
  debug.columns = rendered.layout.columns;
  debug.draws++;
  document.body.dataset.draws = String(debug.draws);
}

/** Where the first allocations with a known line sit on the canvas. */
function linkedBlocks(layout: Layout): { x: number; y: number; line: number }[] {
  const blockBytes = state.snapshot?.blockBytes ?? null;
  if (blockBytes === null || blockBytes === 0 || MODES[state.options.mode].source !== "snapshot") return [];
  const out: { x: number; y: number; line: number }[] = [];
  for (const [key, { line }] of state.lines) {
    const [area, offset] = key.split(":").map(Number);
    if (area === undefined || offset === undefined) continue;
    const entry = layout.areas[area];
    const index = offset / blockBytes;
    if (entry === undefined || index >= entry.blocks) continue;
    const row = entry.firstRow + Math.floor(index / layout.columns);
    out.push({ x: (index % layout.columns) * layout.zoom, y: row * layout.zoom, line });
    if (out.length >= 20) break;
  }
  return out;
}

/** The diff's header line: what changed, in one unit system. */
function diffSummary(diff: DiffResult): string {
  const totals = diff.totals;
  const parts = [`A: ${nameOf(diff.before)} → B: ${nameOf(diff.after)}`];
  if (totals.allocated_bytes !== null) parts.push(`allocated +${formatBytes(totals.allocated_bytes)}`);
  if (totals.freed_bytes !== null) parts.push(`freed −${formatBytes(totals.freed_bytes)}`);
  if (totals.net_bytes !== null) parts.push(`net ${totals.net_bytes < 0 ? "" : "+"}${formatBytes(totals.net_bytes)}`);
  const block = diff.blockBytes;
  const run = (blocks: number | null) =>
    blocks === null ? "unknown" : block === null ? plural(blocks, "block") : formatBytes(blocks * block);
  parts.push(`longest free run ${run(totals.max_free_blocks_before)} → ${run(totals.max_free_blocks_after)}`);
  return parts.join(" · ");
}

function refresh(): void {
  modeSelect.value = state.options.mode;
  showFreeBox.checked = state.options.showFree;
  zoomSelect.value = String(state.options.zoom);
  columnsSelect.value = String(state.options.columns);
  const snapshot = state.snapshot;
  const diffShown = state.options.mode === "diff" && state.diff !== null;
  if (diffShown && state.diff !== null) {
    title.textContent = `Diff · ${nameOf(state.diff.before)} → ${nameOf(state.diff.after)}`;
    subtitle.textContent = diffSummary(state.diff);
  } else if (snapshot !== null) {
    const where = snapshot.file === null ? "" : ` · ${fileName(snapshot.file)}`;
    const run = snapshot.runId === null ? "" : ` · run ${snapshot.runId}`;
    title.textContent = `Heap map · ${snapshot.name}${run}${where} · ${clockTime(snapshot.time)}`;
  }
  subtitle.hidden = !diffShown;
  renderStats(snapshot?.stats ?? null);
  renderHistogram(snapshot?.stats ?? null);
  renderLegend();
  renderTimeline();
  draw();
  vscode.setState({ options: state.options });
}

// ---- Tooltip and click --------------------------------------------------------------------

interface HoverInfo {
  lines: string[];
  reveal: { file: string; line: number } | null;
}

/** Describes the block under a canvas pixel; null over empty space. */
function hoverInfo(x: number, y: number): HoverInfo | null {
  const layout = state.layout;
  if (layout === null) return null;
  const hit = blockAt(layout, x, y);
  if (hit === null) return null;
  const areas = currentAreas();
  const area = areas[hit.area];
  if (area === undefined) return null;
  const diffMode = state.options.mode === "diff";
  const blockBytes = diffMode ? (state.diff?.blockBytes ?? null) : (state.snapshot?.blockBytes ?? null);
  const place =
    blockBytes === null
      ? "offset unknown (block size unknown)"
      : `offset ${hex(hit.index * blockBytes)} · address ${addressPlus(area.address, hit.index * blockBytes)}`;
  const lines = [`block ${hit.index} · ${place}` + (areas.length > 1 ? ` · area ${hit.area}` : "")];
  let reveal: HoverInfo["reveal"] = null;
  if (diffMode && state.diff !== null) {
    lines.push(`diff: ${DIFF_NAMES[area.bytes[hit.index] ?? 0] ?? "?"}`);
    lines.push(`A (${nameOf(state.diff.before)}): ${kindAt(state.diffKinds.before[hit.area]?.bytes, hit.index)}`);
    lines.push(`B (${nameOf(state.diff.after)}): ${kindAt(state.diffKinds.after[hit.area]?.bytes, hit.index)}`);
  }
  // Allocation details come from the shown snapshot; in diff mode only when it is the diff's B.
  const kindsArea = !diffMode || state.snapshot?.id === state.diff?.after ? state.snapshotAreas[hit.area] : undefined;
  if (kindsArea !== undefined) {
    const allocation = allocationAt(kindsArea.bytes, hit.index);
    if (allocation === null) {
      if (!diffMode) lines.push("free");
    } else {
      const name = KIND_NAMES[allocation.letter] ?? "unknown";
      lines.push(
        blockBytes === null
          ? `${name} (${allocation.letter}) · allocation of ${plural(allocation.blocks, "block")} · head at block ${allocation.head}`
          : `${name} (${allocation.letter}) · allocation of ${plural(allocation.blocks, "block")} = ${kibAndBytes(allocation.blocks * blockBytes)}` +
              ` · head at ${hex(allocation.head * blockBytes)}`,
      );
      const site = blockBytes === null ? undefined : state.lines.get(`${hit.area}:${allocation.head * blockBytes}`);
      // A line of an imported module carries its own document; the run's script is the snapshot's.
      const file = site?.uri ?? state.snapshot?.file ?? null;
      if (site !== undefined && file !== null) {
        const where = site.uri === undefined ? "" : ` of ${uriName(site.uri)}`;
        lines.push(`allocated by line ${site.line + 1}${where} — click to go there`);
        reveal = { file, line: site.line };
      }
    }
  }
  return { lines, reveal };
}

function canvasPoint(event: MouseEvent): { x: number; y: number } {
  const box = canvas.getBoundingClientRect();
  const scaleX = box.width > 0 ? canvas.width / box.width : 1;
  const scaleY = box.height > 0 ? canvas.height / box.height : 1;
  return { x: (event.clientX - box.left) * scaleX, y: (event.clientY - box.top) * scaleY };
}

canvas.addEventListener("mousemove", (event) => {
  const point = canvasPoint(event);
  const info = hoverInfo(point.x, point.y);
  if (info === null) {
    tooltip.hidden = true;
    canvas.style.cursor = "default";
    return;
  }
  tooltip.replaceChildren(...info.lines.map((line) => element("div", { text: line })));
  tooltip.hidden = false;
  // Keep the tooltip inside the panel: flip it to the other side of the pointer near edges.
  const width = tooltip.offsetWidth;
  const height = tooltip.offsetHeight;
  const left = event.clientX + 12 + width > window.innerWidth ? event.clientX - 12 - width : event.clientX + 12;
  const top = event.clientY + 12 + height > window.innerHeight ? event.clientY - 12 - height : event.clientY + 12;
  tooltip.style.left = `${Math.max(0, left)}px`;
  tooltip.style.top = `${Math.max(0, top)}px`;
  canvas.style.cursor = info.reveal === null ? "crosshair" : "pointer";
});
canvas.addEventListener("mouseleave", () => {
  tooltip.hidden = true;
});
canvas.addEventListener("click", (event) => {
  const point = canvasPoint(event);
  const reveal = hoverInfo(point.x, point.y)?.reveal;
  if (reveal) post({ type: "revealLine", file: reveal.file, line: reveal.line });
});

// ---- Controls -----------------------------------------------------------------------------

/** The user changed an option: redraw, and let the extension remember it. */
function optionsChanged(): void {
  refresh();
  post({ type: "saveOptions", options: { ...state.options } });
}

modeSelect.addEventListener("change", () => {
  if (isMapMode(modeSelect.value)) state.options.mode = modeSelect.value;
  optionsChanged();
});
showFreeBox.addEventListener("change", () => {
  state.options.showFree = showFreeBox.checked;
  optionsChanged();
});
zoomSelect.addEventListener("change", () => {
  state.options.zoom = Number(zoomSelect.value);
  optionsChanged();
});
columnsSelect.addEventListener("change", () => {
  state.options.columns = Number(columnsSelect.value);
  optionsChanged();
});
// A fitted map follows the panel's size.
new ResizeObserver(() => {
  if (state.options.zoom === 0 || state.options.columns === 0) draw();
}).observe(mapScroll);
narrow.addEventListener("change", () => draw());

/** The editor's theme kind, from the class VS Code puts on the webview's body. */
function themeOf(): Theme {
  const classes = document.body.classList;
  return classes.contains("vscode-light") || classes.contains("vscode-high-contrast-light") ? "light" : "dark";
}
state.theme = themeOf();
new MutationObserver(() => {
  const theme = themeOf();
  if (theme !== state.theme) {
    state.theme = theme;
    refresh();
  }
}).observe(document.body, { attributes: true, attributeFilter: ["class"] });

// ---- Messages -----------------------------------------------------------------------------

function post(message: FromWebview): void {
  vscode.postMessage(message);
}

function applyOptions(options: Partial<MapOptions>): void {
  if (isMapMode(options.mode)) state.options.mode = options.mode;
  if (typeof options.showFree === "boolean") state.options.showFree = options.showFree;
  if (typeof options.zoom === "number" && options.zoom >= 0) state.options.zoom = Math.min(16, Math.floor(options.zoom));
  if (typeof options.columns === "number" && options.columns >= 0) state.options.columns = Math.floor(options.columns);
}

// ---- Live plot ----------------------------------------------------------------------------

/** The run whose timeline the plot shows, its samples (bounded) and the last draw. */
const live = {
  runId: null as number | null,
  uri: "",
  intervalMs: 0,
  store: new SampleStore(),
  draws: 0,
  drawMs: 0,
  result: null as PlotResult | null,
};
(window as unknown as { heapLensLive: unknown }).heapLensLive = live;

/** Takes a batch of samples (a new run starts a new plot) and redraws the plot. */
function takeTimeline(timeline: { runId: number; uri: string; intervalMs: number; samples: { tMs: number; used: number; free: number }[] }): void {
  if (live.runId !== timeline.runId) {
    live.runId = timeline.runId;
    live.uri = timeline.uri;
    live.store = new SampleStore();
  }
  live.intervalMs = timeline.intervalMs;
  for (const sample of timeline.samples) live.store.push(sample);
  drawLive();
}

function drawLive(): void {
  const started = performance.now();
  const samples = live.store.samples;
  liveSection.hidden = samples.length === 0;
  const width = Math.max(120, Math.floor(liveSection.clientWidth || 320));
  const height = 120;
  if (livePlot.width !== width) livePlot.width = width;
  if (livePlot.height !== height) livePlot.height = height;
  const context = livePlot.getContext("2d");
  if (context !== null) live.result = drawPlot(context, width, height, samples, live.store.peak);
  const last = samples.at(-1);
  const peak = live.store.peak;
  if (last !== undefined && peak !== null) {
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const drops = live.result?.drops ?? 0;
    liveCaption.textContent =
      `run ${live.runId ?? ""}${live.uri === "" ? "" : ` · ${fileName(live.uri)}`} · ${seconds(last.tMs)}, ` +
      `${plural(live.store.count, "sample")} every ${live.intervalMs} ms · now ${formatBytes(last.used)} used, ` +
      `${formatBytes(last.free)} free · peak ${formatBytes(peak.used)} at ${seconds(peak.tMs)}` +
      (drops > 0 ? ` · ${plural(drops, "collection")} (drops)` : "");
    livePlot.title = `Heap in use (blue) and free above it (green) over the run; the red square is the peak, yellow ticks are collections`;
  }
  live.drawMs = performance.now() - started;
  live.draws++;
  debug.draws++;
  document.body.dataset.draws = String(debug.draws);
}

window.addEventListener("message", (event: MessageEvent<ToWebview>) => {
  const started = performance.now();
  const message = event.data;
  if (typeof message !== "object" || message === null) return;
  if (message.type === "timeline") {
    takeTimeline(message.timeline);
    return;
  }
  switch (message.type) {
    case "snapshot":
      state.snapshot = message.snapshot;
      state.snapshotAreas = snapshotAreas(message.snapshot);
      state.lines = allocationLineIndex(message.snapshot.allocationLines);
      if (state.options.mode === "diff" && state.diff?.after !== message.snapshot.id) state.options.mode = "kinds";
      if (!state.list.some((summary) => summary.id === message.snapshot.id)) {
        const { id, label, file, runId, time, dump, name, stats } = message.snapshot;
        const summary: SnapshotSummary = { id, label, file, runId, time, name, used: stats.used, gcTotal: stats.gc_total };
        if (dump !== undefined) summary.dump = dump;
        state.list = [...state.list, summary];
      }
      break;
    case "snapshots":
      state.list = message.list;
      if (state.compareA !== null && !state.list.some((s) => s.id === state.compareA)) state.compareA = null;
      if (state.compareB !== null && !state.list.some((s) => s.id === state.compareB)) state.compareB = null;
      break;
    case "diff":
      state.diff = message.diff;
      state.diffAreas = diffAreas(message.diff);
      state.diffKinds = diffKinds(message.diff);
      state.options.mode = "diff";
      break;
    case "options": {
      const { type: _type, ...options } = message;
      applyOptions(options);
      break;
    }
    default:
      return;
  }
  refresh();
  debug.handleMs = performance.now() - started;
});

const saved = vscode.getState() as { options?: Partial<MapOptions> } | undefined;
if (saved?.options) applyOptions(saved.options);
if (MODES[state.options.mode].source === "diff") state.options.mode = "kinds"; // no diff is loaded yet
refresh();
post({ type: "ready" });
