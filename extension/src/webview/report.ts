/**
 * The shareable HTML report (`heaplens run --html`, `heaplens check --html`): draws a run's
 * heap maps with the webview's own renderer (`render.ts`, `model.ts`) and fills the page's
 * tables from the JSON the server embedded in `<script id="heaplens-report" type="application/json">`.
 *
 * Bundled by `npm run report-bundle` into `server/assets/report.js`, which the server embeds
 * in every report: one file, no network. A unit test fails when that bundle is stale.
 */
import { snapshotAreas, diffAreas, kindAt, addressPlus, type AreaBytes } from "./model";
import { blockAt, fitZoom, legendFor, render, type MapMode, type Rgb, type Theme } from "./render";
import { formatBytes } from "../units";

/** A snapshot as the report embeds it (the wire `Snapshot`'s drawing fields). */
interface ReportSnapshot {
  name: string;
  blockBytes: number | null;
  areas: { address: string; blocks: number; kinds: string }[];
  stats: Record<string, unknown>;
}

/** What the server embeds. */
interface ReportData {
  script: string;
  generated: string;
  command: string;
  snapshots: ReportSnapshot[];
  diff: { before: string; after: string; areas: { address: string; blocks: number; codes: string }[] } | null;
  lines: { file: string; line: number; hits: number; allocated: number; net: number; largest: number; estimated: number; source: string }[];
  diagnostics: { file: string; line: number; severity: string; code: string; message: string }[];
  peak: { used: number; file: string | null; line: number | null } | null;
  exception: string | null;
  traceback: string | null;
  output: string;
  notes: string[];
  check: { verdict: string; budgets: Record<string, number | null>; violations: { file: string; line: number; message: string }[] } | null;
  /** Heap use over the run, when the run recorded one (see `renderTimeline`). */
  timeline: unknown;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className !== undefined) node.className = className;
  return node;
}

function rgb(colour: Rgb): string {
  return `rgb(${colour[0]}, ${colour[1]}, ${colour[2]})`;
}

function section(title: string): HTMLElement {
  const node = element("section");
  node.append(element("h2", title));
  document.getElementById("report")?.append(node);
  return node;
}

function figure(stats: Record<string, unknown>, key: string): string {
  const value = stats[key];
  return typeof value === "number" ? formatBytes(value) : "—";
}

/** One heap map: a canvas drawn by the webview's renderer, a caption, a block tooltip. */
function mapFigure(title: string, areas: AreaBytes[], mode: MapMode, theme: Theme, blockBytes: number | null, caption: string): HTMLElement {
  const box = element("figure", undefined, "map");
  const { zoom, columns } = fitZoom(
    areas.map((area) => area.blocks),
    360,
    520,
  );
  const rendered = render(areas, { mode, showFree: true, zoom, columns, theme });
  const canvas = element("canvas");
  canvas.width = rendered.layout.width;
  canvas.height = rendered.layout.height;
  canvas.dataset["mode"] = mode;
  const context = canvas.getContext("2d");
  context?.putImageData(new ImageData(rendered.pixels, rendered.layout.width, rendered.layout.height), 0, 0);
  canvas.addEventListener("mousemove", (event) => {
    const rect = canvas.getBoundingClientRect();
    const hit = blockAt(rendered.layout, event.clientX - rect.left, event.clientY - rect.top);
    if (hit === null) {
      canvas.title = "";
      return;
    }
    const area = areas[hit.area];
    const where = area !== undefined && blockBytes !== null ? ` at ${addressPlus(area.address, hit.index * blockBytes)}` : "";
    canvas.title = mode === "diff" ? `block ${hit.index}${where}` : `block ${hit.index}${where}: ${kindAt(area?.bytes, hit.index)}`;
  });
  box.append(element("figcaption", title), canvas, element("p", caption, "caption"));
  return box;
}

function legend(mode: MapMode, theme: Theme): HTMLElement {
  const list = element("ul", undefined, "legend");
  for (const entry of legendFor(mode, theme)) {
    const item = element("li");
    const swatch = element("span", undefined, "swatch");
    swatch.style.background = rgb(entry.colour);
    item.append(swatch, document.createTextNode(` ${entry.code === "0" || /^\d$/.test(entry.code) ? "" : `${entry.code} `}${entry.name}`));
    list.append(item);
  }
  return list;
}

function table(headers: string[], rows: (string | number)[][], numeric: boolean[]): HTMLTableElement {
  const node = element("table");
  const head = element("tr");
  headers.forEach((header, index) => head.append(element("th", header, numeric[index] === true ? "num" : undefined)));
  node.append(element("thead"));
  node.tHead?.append(head);
  const body = element("tbody");
  for (const row of rows) {
    const line = element("tr");
    row.forEach((cell, index) => line.append(element("td", String(cell), numeric[index] === true ? "num" : undefined)));
    body.append(line);
  }
  node.append(body);
  return node;
}

/**
 * The hook for a run's heap timeline. Draws a line of heap use over the run when `timeline`
 * is a list of readings (numbers, or objects with a `used` or `bytes` number), or an object
 * whose `points`/`samples` is such a list; anything else is left out.
 */
export function timelineReadings(timeline: unknown): number[] | null {
  const list = Array.isArray(timeline)
    ? timeline
    : typeof timeline === "object" && timeline !== null
      ? ((timeline as Record<string, unknown>)["points"] ?? (timeline as Record<string, unknown>)["samples"])
      : null;
  if (!Array.isArray(list) || list.length === 0) return null;
  const readings: number[] = [];
  for (const item of list) {
    if (typeof item === "number") readings.push(item);
    else if (typeof item === "object" && item !== null) {
      const record = item as Record<string, unknown>;
      const value = record["used"] ?? record["bytes"];
      if (typeof value === "number") readings.push(value);
    }
  }
  return readings.length > 0 ? readings : null;
}

function renderTimeline(timeline: unknown): void {
  const readings = timelineReadings(timeline);
  if (readings === null) return;
  const box = section("Heap over the run");
  const width = 720;
  const height = 160;
  const max = Math.max(...readings, 1);
  const step = readings.length > 1 ? width / (readings.length - 1) : width;
  const points = readings.map((value, index) => `${(index * step).toFixed(1)},${(height - (value / max) * height).toFixed(1)}`).join(" ");
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "timeline");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "heap use over the run");
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "currentColor");
  line.setAttribute("stroke-width", "2");
  line.setAttribute("points", points);
  svg.append(line);
  box.append(svg, element("p", `${readings.length} readings, highest ${formatBytes(max)}`, "caption"));
}

function main(): void {
  const data = JSON.parse(document.getElementById("heaplens-report")?.textContent ?? "null") as ReportData | null;
  const root = document.getElementById("report");
  if (data === null || root === null) return;
  const theme: Theme = window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  document.title = `HeapLens — ${data.script}`;

  const header = element("header");
  header.append(element("h1", `HeapLens report: ${data.script}`));
  const facts = element("p", undefined, "facts");
  const parts = [`${data.command}`, `generated ${data.generated}`];
  if (data.peak !== null) {
    const at = data.peak.line !== null ? ` at ${data.peak.file ?? data.script}:${data.peak.line}` : "";
    parts.unshift(`peak heap use ${formatBytes(data.peak.used)}${at}`);
  }
  facts.textContent = parts.join(" · ");
  header.append(facts);
  if (data.check !== null) {
    header.append(element("p", `Budget check: ${data.check.verdict}`, `verdict ${data.check.verdict === "ok" ? "ok" : "bad"}`));
  }
  root.append(header);

  if (data.check !== null && data.check.violations.length > 0) {
    const box = section("Over budget");
    const list = element("ul", undefined, "problems");
    for (const v of data.check.violations) list.append(element("li", `${v.file}:${v.line}: ${v.message}`));
    box.append(list);
  }

  const diagnostics = section("Diagnostics");
  if (data.diagnostics.length === 0) diagnostics.append(element("p", "No problems found."));
  else {
    const list = element("ul", undefined, "diagnostics");
    for (const d of data.diagnostics) {
      const item = element("li", undefined, d.severity);
      item.append(element("b", `${d.severity} `), document.createTextNode(`${d.file}:${d.line} [${d.code}]: ${d.message}`));
      list.append(item);
    }
    diagnostics.append(list);
  }
  if (data.traceback !== null) diagnostics.append(element("pre", data.traceback, "traceback"));

  const heap = section("Heap");
  const maps = element("div", undefined, "maps");
  for (const snapshot of data.snapshots) {
    const s = snapshot.stats;
    const caption = `used ${figure(s, "used")} · free ${figure(s, "free")} · longest free run ${figure(s, "max_free_bytes")}`;
    maps.append(mapFigure(snapshot.name, snapshotAreas(snapshot as never), "kinds", theme, snapshot.blockBytes, caption));
  }
  if (data.diff !== null) {
    maps.append(
      mapFigure(`${data.diff.before} → ${data.diff.after}`, diffAreas(data.diff as never), "diff", theme, data.snapshots[0]?.blockBytes ?? null, "what the run changed, block by block"),
    );
  }
  heap.append(maps, legend("kinds", theme));
  if (data.diff !== null) heap.append(legend("diff", theme));
  const statRows: [string, string][] = [
    ["used", "used"],
    ["free", "free"],
    ["longest free run", "max_free_bytes"],
  ];
  heap.append(
    table(
      ["", ...data.snapshots.map((s) => s.name)],
      statRows.map(([label, key]) => [label, ...data.snapshots.map((s) => figure(s.stats, key))]),
      [false, ...data.snapshots.map(() => true)],
    ),
  );

  renderTimeline(data.timeline);

  const lines = section("Lines");
  if (data.lines.length === 0) lines.append(element("p", "No per-line figures."));
  else {
    lines.append(
      table(
        ["file", "line", "hits", "allocated", "net", "largest", "source"],
        data.lines.map((l) => [
          l.file,
          l.line,
          l.hits,
          `${l.estimated > 0 ? "≈" : ""}${formatBytes(l.allocated)}`,
          `${l.net < 0 ? "−" : "+"}${formatBytes(Math.abs(l.net))}`,
          formatBytes(l.largest),
          l.source,
        ]),
        [false, true, true, true, true, true, false],
      ),
    );
  }
  for (const note of data.notes) lines.append(element("p", note, "caption"));

  if (data.output.length > 0) {
    const output = section("Output");
    output.append(element("pre", data.output));
  }
  document.body.dataset["ready"] = "true";
}

// Imported by unit tests under Node, where there is no page.
if (typeof document !== "undefined") main();
