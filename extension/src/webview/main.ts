/**
 * The heap map webview: DOM, events and message handling around the pure renderer. All text
 * from messages goes into the page through `textContent`; no HTML is ever parsed from data.
 *
 * Messages in (window `message` events): `snapshot`, `snapshots`, `diff`, `options`.
 * Messages out (acquireVsCodeApi().postMessage): `ready`, `select`, `compare`, `revealLine`.
 */
import type { DiffResult, Snapshot, SnapshotSummary, Stats } from "../protocol";
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
  hex,
  snapshotAreas,
  type AreaBytes,
} from "./model";
import { MODES, blockAt, isMapMode, render, type Layout, type Rgb } from "./render";

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
  list: SnapshotSummary[];
  compareA: string | null;
  compareB: string | null;
  options: MapOptions;
  layout: Layout | null;
} = {
  snapshot: null,
  snapshotAreas: [],
  lines: new Map(),
  diff: null,
  diffAreas: [],
  list: [],
  compareA: null,
  compareB: null,
  options: { mode: "kinds", showFree: true, zoom: 2, columns: 0 },
  layout: null,
};

/** Timing of the last draw, read by the Chromium tests and the benchmark. */
const debug = { drawMs: 0, renderMs: 0, handleMs: 0, blocks: 0, draws: 0 };
(window as unknown as { heapLensDebug: unknown }).heapLensDebug = debug;

// ---- DOM helpers (textContent only) -------------------------------------------------------

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: { className?: string; text?: string; id?: string } = {},
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (options.className !== undefined) node.className = options.className;
  if (options.id !== undefined) node.id = options.id;
  if (options.text !== undefined) node.textContent = options.text;
  for (const child of children) node.appendChild(child);
  return node;
}

function rgbCss(colour: Rgb): string {
  return `rgb(${colour[0]}, ${colour[1]}, ${colour[2]})`;
}

function percent(part: number | null, whole: number | null): string {
  return part !== null && whole !== null && whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : "–";
}

/** A figure the dump does not determine (null) shows as "unknown"; the warnings say why. */
function figure(value: number | null, unit = ""): string {
  return value === null ? "unknown" : `${value}${unit}`;
}

/** `N blocks (B B)`, with whichever part is unknown said so. */
function blocksAndBytes(blocks: number | null, bytes: number | null): string {
  return blocks === null ? "unknown" : `${blocks} blocks (${figure(bytes, " B")})`;
}

// ---- Page skeleton ------------------------------------------------------------------------

const title = element("h1", { id: "title", text: "Heap map — waiting for a snapshot" });
const statsGrid = element("dl", { id: "stats", className: "stats" });
const modeSelect = element("select", { id: "mode" });
for (const mode of Object.keys(MODES)) {
  modeSelect.appendChild(element("option", { text: mode })).value = mode;
}
const showFreeBox = element("input", { id: "show-free" });
showFreeBox.type = "checkbox";
const zoomSelect = element("select", { id: "zoom" });
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
const mapScroll = element("div", { id: "map-scroll", className: "map-scroll" }, canvas);
const tooltip = element("div", { id: "tooltip", className: "tooltip" });
tooltip.hidden = true;
const histogram = element("div", { id: "histogram", className: "histogram" });
const timeline = element("ol", { id: "timeline", className: "timeline" });
const timelinePlot = element("div", { id: "timeline-plot", className: "timeline-plot" });
const compareButton = element("button", { id: "compare", text: "Compare A → B" });
compareButton.disabled = true;

document.body.appendChild(
  element(
    "main",
    {},
    title,
    statsGrid,
    toolbar,
    legend,
    mapScroll,
    element(
      "section",
      { className: "panels" },
      element("div", {}, element("h2", { text: "Free runs" }), histogram),
      element("div", {}, element("h2", { text: "Snapshots" }), timelinePlot, timeline, compareButton),
    ),
    tooltip,
  ),
);

// ---- Rendering of the parts ---------------------------------------------------------------

function renderStats(stats: Stats | null): void {
  statsGrid.replaceChildren();
  if (stats === null) return;
  const block = stats.block_bytes;
  const largestBytes = stats.max_block_blocks !== null && block !== null ? stats.max_block_blocks * block : null;
  const fragmentation = stats.fragmentation;
  const rows: [string, string, string][] = [
    [
      "stack",
      stats.stack_used === null
        ? "–"
        : `${stats.stack_used}${stats.stack_total === null ? "" : ` / ${stats.stack_total}`} B`,
      "stack-used",
    ],
    [
      "memory",
      `${figure(stats.used)} / ${figure(stats.gc_total, " B")} used · ${figure(stats.free, " B")} free (${percent(stats.free, stats.gc_total)})`,
      "memory",
    ],
    ["1-blocks", figure(stats.one_blocks), "one-blocks"],
    ["2-blocks", figure(stats.two_blocks), "two-blocks"],
    ["largest block", blocksAndBytes(stats.max_block_blocks, largestBytes), "largest-block"],
    ["longest free run", blocksAndBytes(stats.max_free_blocks, stats.max_free_bytes), "longest-free"],
    [
      "fragmentation",
      fragmentation === null ? "unknown" : `${(fragmentation * (fragmentation <= 1 ? 100 : 1)).toFixed(1)}%`,
      "fragmentation",
    ],
  ];
  for (const [name, value, key] of rows) {
    statsGrid.appendChild(element("dt", { text: name }));
    const dd = element("dd", { text: value });
    dd.dataset.stat = key;
    statsGrid.appendChild(dd);
  }
  for (const warning of stats.warnings) {
    statsGrid.appendChild(element("dd", { className: "warning", text: `⚠ ${warning}` }));
  }
}

function renderLegend(): void {
  const mode = MODES[state.options.mode];
  legend.replaceChildren(element("span", { className: "legend-caption", text: mode.caption }));
  for (const entry of mode.legend) {
    legend.appendChild(swatch(entry.colour, entry.code, entry.name, "tail" in entry ? entry.tail : undefined));
  }
}

function swatch(colour: Rgb, letter: string, name: string, tail?: Rgb): HTMLElement {
  const box = element("span", { className: "swatch" });
  box.style.background = tail === undefined ? rgbCss(colour) : `linear-gradient(90deg, ${rgbCss(colour)} 50%, ${rgbCss(tail)} 50%)`;
  const item = element("span", { className: "legend-item" }, box, element("code", { text: letter }), document.createTextNode(` ${name}`));
  item.dataset.letter = letter;
  return item;
}

function renderHistogram(stats: Stats | null): void {
  histogram.replaceChildren();
  if (stats === null || stats.free_runs.length === 0) {
    histogram.appendChild(element("p", { text: "No free runs." }));
    return;
  }
  const most = Math.max(...stats.free_runs.map((bucket) => bucket.blocks), 1);
  for (const bucket of stats.free_runs) {
    const range =
      bucket.min_blocks === bucket.max_blocks ? `${bucket.min_blocks}` : `${bucket.min_blocks}–${bucket.max_blocks}`;
    const bar = element("span", { className: "bar" });
    bar.style.width = `${(100 * bucket.blocks) / most}%`;
    const row = element(
      "div",
      { className: "histogram-row" },
      element("span", { className: "range", text: `${range} blocks` }),
      element("span", { className: "track" }, bar),
      element("span", { className: "count", text: `${bucket.runs} runs · ${bucket.blocks} blocks` }),
    );
    histogram.appendChild(row);
  }
}

function describe(summary: SnapshotSummary): string {
  const time = summary.time.length >= 19 ? summary.time.slice(11, 19) : summary.time;
  const run = summary.runId === null ? "capture" : `run ${summary.runId} · ${summary.label}`;
  const file = summary.file === null ? "" : ` · ${summary.file.split("/").pop() ?? ""}`;
  const dump = summary.dump === undefined ? "" : ` #${summary.dump}`;
  return `${time} ${run}${file}${dump}`;
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
      bar.title = `${describe(summary)}: ${used} / ${gcTotal} B used`;
    } else {
      bar.classList.add("unknown");
      bar.title = `${describe(summary)}: used unknown`;
    }
    bar.dataset.id = summary.id;
    bar.classList.toggle("current", state.snapshot?.id === summary.id);
    bar.addEventListener("click", () => post({ type: "select", id: summary.id }));
    timelinePlot.appendChild(bar);
  }
}

function renderTimeline(): void {
  renderTimelinePlot();
  timeline.replaceChildren();
  for (const summary of state.list) {
    const show = element("button", { className: "show", text: describe(summary) });
    show.addEventListener("click", () => post({ type: "select", id: summary.id }));
    const pickA = element("button", { className: "pick-a", text: "A" });
    const pickB = element("button", { className: "pick-b", text: "B" });
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
    const item = element("li", {}, pickA, pickB, show);
    item.dataset.id = summary.id;
    item.classList.toggle("current", state.snapshot?.id === summary.id);
    timeline.appendChild(item);
  }
  compareButton.disabled = state.compareA === null || state.compareB === null || state.compareA === state.compareB;
}

compareButton.addEventListener("click", () => {
  if (state.compareA !== null && state.compareB !== null) {
    post({ type: "compare", before: state.compareA, after: state.compareB });
  }
});

// ---- The canvas ---------------------------------------------------------------------------

function effectiveColumns(): number {
  if (state.options.columns > 0) return state.options.columns;
  const width = mapScroll.clientWidth > 0 ? mapScroll.clientWidth : 1024;
  return Math.max(16, Math.floor(width / state.options.zoom));
}

function currentAreas(): AreaBytes[] {
  return MODES[state.options.mode].source === "diff" ? state.diffAreas : state.snapshotAreas;
}

function draw(): void {
  const started = performance.now();
  const areas = currentAreas();
  const rendered = render(areas, {
    mode: state.options.mode,
    showFree: state.options.showFree,
    zoom: state.options.zoom,
    columns: effectiveColumns(),
  });
  const rendering = performance.now();
  const { width, height } = rendered.layout;
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  if (context !== null) context.putImageData(new ImageData(rendered.pixels, width, height), 0, 0);
  state.layout = rendered.layout;
  debug.renderMs = rendering - started;
  debug.drawMs = performance.now() - started;
  debug.blocks = areas.reduce((sum, area) => sum + area.blocks, 0);
  debug.draws++;
  document.body.dataset.draws = String(debug.draws);
}

function refresh(): void {
  modeSelect.value = state.options.mode;
  showFreeBox.checked = state.options.showFree;
  zoomSelect.value = String(state.options.zoom);
  columnsSelect.value = String(state.options.columns);
  const snapshot = state.snapshot;
  if (state.options.mode === "diff" && state.diff !== null) {
    title.textContent = `Diff ${state.diff.before} → ${state.diff.after}`;
  } else if (snapshot !== null) {
    const where = snapshot.file === null ? "" : ` · ${snapshot.file.split("/").pop() ?? ""}`;
    const run = snapshot.runId === null ? "" : ` · run ${snapshot.runId}`;
    title.textContent = `Heap map · ${snapshot.label}${run}${where} · ${snapshot.time}`;
  }
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
  const blockBytes = state.options.mode === "diff" ? (state.diff?.blockBytes ?? null) : (state.snapshot?.blockBytes ?? null);
  const place =
    blockBytes === null
      ? "offset unknown (block size unknown)"
      : `offset ${hex(hit.index * blockBytes)} · address ${addressPlus(area.address, hit.index * blockBytes)}`;
  const lines = [`block ${hit.index} · ${place}` + (areas.length > 1 ? ` · area ${hit.area}` : "")];
  let reveal: HoverInfo["reveal"] = null;
  if (state.options.mode === "diff") {
    lines.push(`diff: ${DIFF_NAMES[area.bytes[hit.index] ?? 0] ?? "?"}`);
  }
  // Kinds come from the shown snapshot; in diff mode only when it is the diff's "after" side.
  const kindsArea =
    state.options.mode !== "diff" || state.snapshot?.id === state.diff?.after ? state.snapshotAreas[hit.area] : undefined;
  if (kindsArea !== undefined) {
    const allocation = allocationAt(kindsArea.bytes, hit.index);
    if (allocation === null) {
      lines.push("free");
    } else {
      const name = KIND_NAMES[allocation.letter] ?? "unknown";
      lines.push(
        blockBytes === null
          ? `${name} (${allocation.letter}) · allocation ${allocation.blocks} blocks · head at block ${allocation.head}`
          : `${name} (${allocation.letter}) · allocation ${allocation.blocks} blocks = ${allocation.blocks * blockBytes} bytes` +
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

modeSelect.addEventListener("change", () => {
  if (isMapMode(modeSelect.value)) state.options.mode = modeSelect.value;
  refresh();
});
showFreeBox.addEventListener("change", () => {
  state.options.showFree = showFreeBox.checked;
  refresh();
});
zoomSelect.addEventListener("change", () => {
  state.options.zoom = Number(zoomSelect.value);
  refresh();
});
columnsSelect.addEventListener("change", () => {
  state.options.columns = Number(columnsSelect.value);
  refresh();
});
window.addEventListener("resize", () => {
  if (state.options.columns === 0) draw();
});

// ---- Messages -----------------------------------------------------------------------------

function post(message: FromWebview): void {
  vscode.postMessage(message);
}

function applyOptions(options: Partial<MapOptions>): void {
  if (isMapMode(options.mode)) state.options.mode = options.mode;
  if (typeof options.showFree === "boolean") state.options.showFree = options.showFree;
  if (typeof options.zoom === "number" && options.zoom >= 1) state.options.zoom = Math.min(16, Math.floor(options.zoom));
  if (typeof options.columns === "number" && options.columns >= 0) state.options.columns = Math.floor(options.columns);
}

window.addEventListener("message", (event: MessageEvent<ToWebview>) => {
  const started = performance.now();
  const message = event.data;
  if (typeof message !== "object" || message === null) return;
  switch (message.type) {
    case "snapshot":
      state.snapshot = message.snapshot;
      state.snapshotAreas = snapshotAreas(message.snapshot);
      state.lines = allocationLineIndex(message.snapshot.allocationLines);
      if (state.options.mode === "diff" && state.diff?.after !== message.snapshot.id) state.options.mode = "kinds";
      if (!state.list.some((summary) => summary.id === message.snapshot.id)) {
        const { id, label, file, runId, time, dump, stats } = message.snapshot;
        const summary: SnapshotSummary = { id, label, file, runId, time, used: stats.used, gcTotal: stats.gc_total };
        if (dump !== undefined) summary.dump = dump;
        state.list = [...state.list, summary];
      }
      break;
    case "snapshots":
      state.list = message.list;
      break;
    case "diff":
      state.diff = message.diff;
      state.diffAreas = diffAreas(message.diff);
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
