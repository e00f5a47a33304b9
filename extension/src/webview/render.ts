/**
 * Pure heap map renderer: areas of block bytes + options → an RGBA pixel buffer. One
 * `cell × cell` square per block (plus a 1-pixel gap from zoom 4 up), rows of `columns`
 * blocks, each area starting on a new row with one empty row between areas.
 *
 * It touches no DOM, so it runs in tests and benchmarks as is. The hot loop writes 32-bit
 * pixels through a Uint32Array view with precomputed palettes: 524,288 blocks at zoom 1 is
 * one pass of half a million stores.
 */
import { DIFF_NAMES, FREE, KIND_NAMES, TAIL, type AreaBytes } from "./model";

/** An RGB colour. */
export type Rgb = readonly [number, number, number];

/** The editor's colour theme kind: free blocks are dark on dark themes, light on light ones. */
export type Theme = "dark" | "light";

/** Free blocks per theme: a shade just off the page, so allocations stand out on either. */
export const FREE_COLOURS: Record<Theme, Rgb> = {
  dark: [52, 58, 68],
  light: [222, 226, 232],
};

/** Head colours of the dump letters, in legend order (h = . T L D S A F B M, then m). */
export const KIND_COLOURS: Record<string, Rgb> = {
  h: [150, 150, 150],
  "=": [110, 110, 110],
  ".": [52, 58, 68],
  T: [255, 159, 64],
  L: [75, 192, 92],
  D: [153, 102, 255],
  S: [54, 162, 235],
  A: [255, 205, 86],
  F: [255, 99, 200],
  B: [0, 200, 200],
  M: [200, 80, 60],
  m: [255, 255, 255],
};

/** Any letter not in the contract (a future firmware's): drawn loud so it gets noticed. */
export const UNKNOWN_COLOUR: Rgb = [255, 0, 0];

/** Tails are drawn in their head's colour at this brightness, so allocations stay visible. */
export const TAIL_SHADE = 0.7;

/** Rainbow mode cycles allocations through these colours (free stays free colour). */
export const RAINBOW_COLOURS: readonly Rgb[] = [
  [230, 25, 75],
  [60, 180, 75],
  [255, 225, 25],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
];

/** Diff code colours (dark themes): 0 free in both, 1 same, 2 allocated, 3 freed, 4 changed kind. */
export const DIFF_COLOURS: readonly Rgb[] = [
  [52, 58, 68],
  [95, 110, 135],
  [40, 200, 64],
  [235, 60, 50],
  [255, 170, 0],
];

/** Diff code colours on light themes: the unchanged codes light, the changes saturated. */
export const DIFF_COLOURS_LIGHT: readonly Rgb[] = [
  [222, 226, 232],
  [168, 178, 196],
  [20, 160, 50],
  [215, 45, 35],
  [220, 140, 0],
];

/** The diff palette of a theme. */
export function diffColours(theme: Theme): readonly Rgb[] {
  return theme === "light" ? DIFF_COLOURS_LIGHT : DIFF_COLOURS;
}

/** Tail shade of a colour (rounded the same way the renderer does it). */
export function shade(colour: Rgb): Rgb {
  return [
    Math.round(colour[0] * TAIL_SHADE),
    Math.round(colour[1] * TAIL_SHADE),
    Math.round(colour[2] * TAIL_SHADE),
  ];
}

/** Packs an opaque colour for a little-endian Uint32 view of RGBA bytes. */
function pack(colour: Rgb): number {
  return ((255 << 24) | (colour[2] << 16) | (colour[1] << 8) | colour[0]) >>> 0;
}

/** Fully transparent: blocks not drawn (hidden free) and the gaps show the page behind. */
const TRANSPARENT = 0;

interface Palettes {
  head: Uint32Array;
  tail: Uint32Array;
}

function buildPalettes(): Palettes {
  const head = new Uint32Array(256).fill(pack(UNKNOWN_COLOUR));
  const tail = new Uint32Array(256).fill(pack(shade(UNKNOWN_COLOUR)));
  for (const [letter, colour] of Object.entries(KIND_COLOURS)) {
    head[letter.charCodeAt(0)] = pack(colour);
    tail[letter.charCodeAt(0)] = pack(shade(colour));
  }
  return { head, tail };
}

const PALETTES = buildPalettes();
const RAINBOW_PACKED = Uint32Array.from(RAINBOW_COLOURS, pack);
const DIFF_PACKED: Record<Theme, Uint32Array> = {
  dark: Uint32Array.from(DIFF_COLOURS, pack),
  light: Uint32Array.from(DIFF_COLOURS_LIGHT, pack),
};
const ORPHAN_TAIL = pack(shade(KIND_COLOURS["h"] ?? UNKNOWN_COLOUR));

export interface RenderOptions {
  mode: MapMode;
  showFree: boolean;
  zoom: number;
  columns: number;
  /** Dark unless given. */
  theme?: Theme;
}

/** Where each area sits in the picture. */
export interface Layout {
  columns: number;
  zoom: number;
  /** Side of the coloured square of a block, in pixels (zoom minus the gap). */
  cell: number;
  width: number;
  height: number;
  areas: { firstRow: number; rows: number; blocks: number }[];
}

/** Pixel side of the drawn square for a zoom: from zoom 4 up, one pixel is left as a gap. */
export function cellSize(zoom: number): number {
  return zoom >= 4 ? zoom - 1 : zoom;
}

/** Clamps zoom and columns to sane ranges and computes every area's rows. */
export function layoutFor(areaBlocks: readonly number[], columns: number, zoom: number): Layout {
  const safeZoom = Math.min(16, Math.max(1, Math.floor(zoom) || 1));
  const safeColumns = Math.min(8192, Math.max(1, Math.floor(columns) || 64));
  const areas: Layout["areas"] = [];
  let row = 0;
  for (const blocks of areaBlocks) {
    const rows = Math.ceil(blocks / safeColumns);
    areas.push({ firstRow: row, rows, blocks });
    row += rows + 1; // one empty row between areas
  }
  const totalRows = Math.max(1, row - 1);
  return {
    columns: safeColumns,
    zoom: safeZoom,
    cell: cellSize(safeZoom),
    width: safeColumns * safeZoom,
    height: totalRows * safeZoom,
    areas,
  };
}

/**
 * The zoom (and blocks per row) that fits the whole heap into `width × height` pixels
 * as large as it can be: rows fill the width, and the rows a zoom needs must fit the
 * height. With `columns` fixed (> 0) only the zoom is chosen. Never below zoom 1 (the
 * picture then scrolls vertically), never wider than `width`.
 */
export function fitZoom(
  areaBlocks: readonly number[],
  width: number,
  height: number,
  columns = 0,
): { zoom: number; columns: number } {
  const usableWidth = Math.max(1, Math.floor(width));
  const usableHeight = Math.max(1, Math.floor(height));
  const columnsAt = (zoom: number) => (columns > 0 ? columns : Math.max(1, Math.floor(usableWidth / zoom)));
  for (let zoom = 16; zoom >= 1; zoom--) {
    const perRow = columnsAt(zoom);
    if (perRow * zoom > usableWidth) continue;
    if (layoutFor(areaBlocks, perRow, zoom).height <= usableHeight) return { zoom, columns: perRow };
  }
  return { zoom: 1, columns: columnsAt(1) };
}

/** The block under a pixel, or null over a gap row or past an area's end. */
export function blockAt(layout: Layout, x: number, y: number): { area: number; index: number } | null {
  if (x < 0 || y < 0 || x >= layout.width || y >= layout.height) return null;
  const column = Math.floor(x / layout.zoom);
  const row = Math.floor(y / layout.zoom);
  for (let area = 0; area < layout.areas.length; area++) {
    const entry = layout.areas[area];
    if (entry === undefined || row < entry.firstRow || row >= entry.firstRow + entry.rows) continue;
    const index = (row - entry.firstRow) * layout.columns + column;
    return index < entry.blocks ? { area, index } : null;
  }
  return null;
}

/** Top-left pixel of a block (for tests and highlight boxes). */
export function blockOrigin(layout: Layout, area: number, index: number): { x: number; y: number } {
  const entry = layout.areas[area];
  const row = (entry?.firstRow ?? 0) + Math.floor(index / layout.columns);
  return { x: (index % layout.columns) * layout.zoom, y: row * layout.zoom };
}

/** Result of a render: RGBA bytes ready for `new ImageData(pixels, width, height)`. */
export interface Rendered {
  layout: Layout;
  pixels: Uint8ClampedArray<ArrayBuffer>;
}

/**
 * Draws every block, coloured by the mode (see [`MODES`]; its `source` says whether the area
 * bytes are dump letters or diff codes). `showFree: false` leaves free blocks transparent.
 */
export function render(areas: readonly AreaBytes[], options: RenderOptions): Rendered {
  const layout = layoutFor(
    areas.map((area) => area.blocks),
    options.columns,
    options.zoom,
  );
  const buffer = new ArrayBuffer(layout.width * layout.height * 4);
  const out = new Uint32Array(buffer);
  const colours = new Uint32Array(Math.max(...areas.map((area) => area.blocks), 0));
  const theme = options.theme ?? "dark";
  for (let area = 0; area < areas.length; area++) {
    const entry = areas[area];
    const placement = layout.areas[area];
    if (entry === undefined || placement === undefined) continue;
    const count = entry.blocks;
    MODES[options.mode].colouring(entry.bytes, count, options.showFree, colours, theme);
    paint(out, layout, placement.firstRow, colours, count);
  }
  return { layout, pixels: new Uint8ClampedArray(buffer) };
}

/** Fills `colours[0..count)` with each block's packed colour: one mode's colouring. */
type Colouring = (bytes: Uint8Array, count: number, showFree: boolean, colours: Uint32Array, theme: Theme) => void;

/** Colours allocations by their kind (head letter), tails a shade darker. */
function colourByKind(bytes: Uint8Array, count: number, showFree: boolean, colours: Uint32Array, theme: Theme): void {
  colourAllocations(bytes, count, showFree, colours, false, theme);
}

/** Colours allocations by cycling through the rainbow, so neighbours tell apart. */
function colourRainbow(bytes: Uint8Array, count: number, showFree: boolean, colours: Uint32Array, theme: Theme): void {
  colourAllocations(bytes, count, showFree, colours, true, theme);
}

function colourAllocations(
  bytes: Uint8Array,
  count: number,
  showFree: boolean,
  colours: Uint32Array,
  rainbow: boolean,
  theme: Theme,
): void {
  const free = showFree ? pack(FREE_COLOURS[theme]) : TRANSPARENT;
  const { head, tail } = PALETTES;
  let tailColour = ORPHAN_TAIL;
  let allocation = -1;
  for (let index = 0; index < count; index++) {
    const letter = bytes[index] ?? FREE;
    if (letter === TAIL) {
      colours[index] = tailColour;
    } else if (letter === FREE) {
      colours[index] = free;
      tailColour = ORPHAN_TAIL;
    } else if (rainbow) {
      allocation++;
      const colour = RAINBOW_PACKED[allocation % RAINBOW_PACKED.length] ?? TRANSPARENT;
      colours[index] = colour;
      tailColour = colour;
    } else {
      colours[index] = head[letter] ?? TRANSPARENT;
      tailColour = tail[letter] ?? ORPHAN_TAIL;
    }
  }
}

/** Colours diff codes (the area bytes of a diff). */
function colourDiff(bytes: Uint8Array, count: number, showFree: boolean, colours: Uint32Array, theme: Theme): void {
  const palette = DIFF_PACKED[theme];
  const freeBoth = showFree ? (palette[0] ?? TRANSPARENT) : TRANSPARENT;
  for (let index = 0; index < count; index++) {
    const code = bytes[index] ?? 0;
    colours[index] = code === 0 ? freeBoth : (palette[code] ?? pack(UNKNOWN_COLOUR));
  }
}

/**
 * One entry of a mode's legend: a swatch (two colours: head and tail; or a strip of several
 * colours), a code and a name.
 */
export interface LegendEntry {
  colour: Rgb;
  tail?: Rgb;
  /** A strip of colours, for a cycle (rainbow mode). */
  colours?: readonly Rgb[];
  code: string;
  name: string;
}

/** A drawing mode of the heap map. */
export interface ModeSpec {
  /** What its area bytes are: the shown snapshot's dump letters, or the loaded diff's codes. */
  source: "snapshot" | "diff";
  /** What the legend says, above its swatches. */
  caption: string;
  colouring: Colouring;
  legend: readonly LegendEntry[];
}

const KIND_LEGEND: LegendEntry[] = ["h", "=", ".", "T", "L", "D", "S", "A", "F", "B", "M"].flatMap((letter) => {
  const colour = KIND_COLOURS[letter];
  if (colour === undefined) return [];
  return [{ colour, ...(letter === "=" || letter === "." ? {} : { tail: shade(colour) }), code: letter, name: KIND_NAMES[letter] ?? letter }];
});

/**
 * Every mode, in the order the picker lists them. Adding a mode is one entry here (its
 * colouring, legend and data source); the page, the renderer and the option checks read
 * this table.
 */
export const MODES = {
  kinds: {
    source: "snapshot",
    caption: "Each block coloured by the kind of its allocation (tails a shade darker).",
    colouring: colourByKind,
    legend: KIND_LEGEND,
  },
  rainbow: {
    source: "snapshot",
    caption:
      "Rainbow: where one allocation ends and the next begins. Allocations take the colours of the strip " +
      "in address order, one colour each (its tail blocks too), starting again after the 8th, so neighbours " +
      "never share a colour. The colour says nothing about the kind: use the kinds mode for that.",
    colouring: colourRainbow,
    legend: [
      {
        colour: RAINBOW_COLOURS[0] ?? UNKNOWN_COLOUR,
        colours: RAINBOW_COLOURS,
        code: "1→8",
        name: "one allocation each, in address order, cycling",
      },
      { colour: FREE_COLOURS.dark, code: ".", name: "free" },
    ],
  },
  diff: {
    source: "diff",
    caption: "Block by block, the second snapshot (B) against the first (A).",
    colouring: colourDiff,
    legend: DIFF_COLOURS.map((colour, code) => ({ colour, code: String(code), name: DIFF_NAMES[code] ?? "" })),
  },
} as const satisfies Record<string, ModeSpec>;

/** A mode's legend with the theme's colours for free blocks and diff codes. */
export function legendFor(mode: MapMode, theme: Theme): LegendEntry[] {
  const spec: ModeSpec = MODES[mode];
  return spec.legend.map((entry, index) => {
    if (entry.code === ".") return { ...entry, colour: FREE_COLOURS[theme] };
    if (spec.source === "diff") return { ...entry, colour: diffColours(theme)[index] ?? entry.colour };
    return entry;
  });
}

/** Drawing modes of the heap map. */
export type MapMode = keyof typeof MODES;

/** Whether `value` names a mode. */
export function isMapMode(value: unknown): value is MapMode {
  return typeof value === "string" && Object.hasOwn(MODES, value);
}

/**
 * Copies block colours into the picture as `cell × cell` squares: writes the first pixel
 * line of each block row, then duplicates that line `cell - 1` times (copyWithin is far
 * cheaper than one small fill per block and line).
 */
function paint(out: Uint32Array, layout: Layout, firstRow: number, colours: Uint32Array, count: number): void {
  const { columns, zoom, cell, width } = layout;
  if (zoom === 1) {
    // Rows are contiguous in the output: one straight copy per area.
    out.set(colours.subarray(0, count), firstRow * width);
    return;
  }
  const rows = Math.ceil(count / columns);
  for (let row = 0; row < rows; row++) {
    const lineStart = (firstRow + row) * zoom * width;
    const first = row * columns;
    const last = Math.min(count, first + columns);
    let x = lineStart;
    for (let index = first; index < last; index++, x += zoom) {
      const colour = colours[index] ?? TRANSPARENT;
      for (let pixel = 0; pixel < cell; pixel++) out[x + pixel] = colour;
    }
    for (let line = 1; line < cell; line++) out.copyWithin(lineStart + line * width, lineStart, lineStart + width);
  }
}
