/**
 * Turns wire snapshots and diffs into byte arrays the renderer walks, and answers "what is
 * this block?" for the tooltip. No heap statistics are computed here: those come from the
 * server. The only structure used is the contract's: an allocation is a head letter
 * followed by its `=` tails.
 */
import type { AllocationLine, DiffResult, Snapshot, SnapshotSummary } from "../protocol";

/** Dump letter codes used below. */
export const FREE = 0x2e; // '.'
export const TAIL = 0x3d; // '='

/** One area ready to draw: one byte per block (a dump letter, or a diff code). */
export interface AreaBytes {
  address: string;
  blocks: number;
  bytes: Uint8Array;
}

/** Decodes base64 to bytes without Node's Buffer so it runs in the webview too. */
export function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

/**
 * Decodes every area. A `kinds` string shorter than `blocks` is padded with free blocks and a
 * longer one cut, so a malformed message can never make the renderer read out of bounds.
 */
function decodeAreas(areas: { address: string; blocks: number; data: string }[], pad: number): AreaBytes[] {
  return areas.map((area) => {
    const blocks = Math.max(0, Math.floor(area.blocks));
    let decoded: Uint8Array;
    try {
      decoded = decodeBase64(area.data);
    } catch {
      decoded = new Uint8Array(0);
    }
    const bytes = new Uint8Array(blocks).fill(pad);
    bytes.set(decoded.subarray(0, blocks));
    return { address: area.address, blocks, bytes };
  });
}

export function snapshotAreas(snapshot: Snapshot): AreaBytes[] {
  return decodeAreas(
    snapshot.areas.map((area) => ({ address: area.address, blocks: area.blocks, data: area.kinds })),
    FREE,
  );
}

export function diffAreas(diff: DiffResult): AreaBytes[] {
  return decodeAreas(
    diff.areas.map((area) => ({ address: area.address, blocks: area.blocks, data: area.codes })),
    0,
  );
}

/** Human names of the dump letters (the contract's `by_kind` names, described). */
export const KIND_NAMES: Record<string, string> = {
  h: "other object or raw buffer",
  "=": "tail",
  ".": "free",
  T: "tuple",
  L: "list",
  D: "dict",
  S: "str or bytes",
  A: "bytearray or array",
  F: "float",
  B: "function (bytecode)",
  M: "module",
  m: "marked (mid-GC)",
};

/** Names of the diff codes. */
export const DIFF_NAMES = ["free in both", "same allocation", "allocated", "freed", "changed kind"];

/** The allocation a block belongs to. */
export interface Allocation {
  /** Block index of the head. */
  head: number;
  /** Length in blocks (head plus tails). */
  blocks: number;
  /** Dump letter of the head (`=` for tails with no head in this area). */
  letter: string;
}

/**
 * Finds the allocation containing `index` by walking back to its head and forward over its
 * tails. Returns null for a free block.
 */
export function allocationAt(bytes: Uint8Array, index: number): Allocation | null {
  if (index < 0 || index >= bytes.length || bytes[index] === FREE) return null;
  let head = index;
  while (head > 0 && bytes[head] === TAIL) head--;
  if (bytes[head] === FREE) head++;
  let end = index + 1;
  while (end < bytes.length && bytes[end] === TAIL) end++;
  return { head, blocks: end - head, letter: String.fromCharCode(bytes[head] ?? TAIL) };
}

/** Adds a byte offset to a hex address (no `0x`); returns `0x…` lowercase hex. */
export function addressPlus(areaAddress: string, offset: number): string {
  try {
    return `0x${(BigInt(`0x${areaAddress}`) + BigInt(offset)).toString(16)}`;
  } catch {
    return "?";
  }
}

/** Hex with at least `width` digits and a `0x` prefix. */
export function hex(value: number, width = 8): string {
  return `0x${value.toString(16).padStart(width, "0")}`;
}

/** Where an allocation was made: a 0-based line, in `uri` when it is another file than the run's. */
export interface AllocationSite {
  line: number;
  uri?: string;
}

/** Index of allocation lines by area and byte offset of the allocation's head. */
export function allocationLineIndex(lines: AllocationLine[] | undefined): Map<string, AllocationSite> {
  const index = new Map<string, AllocationSite>();
  for (const entry of lines ?? []) {
    const uri = entry.uri ?? undefined;
    index.set(`${entry.area}:${entry.offset}`, uri === undefined ? { line: entry.line } : { line: entry.line, uri });
  }
  return index;
}

/** The last path segment of a URI, for labels (`file:///p/lib/ssd1306.py` → `ssd1306.py`). */
export function uriName(uri: string): string {
  return decodeURIComponent(uri.slice(uri.lastIndexOf("/") + 1));
}

/** Each side's dump letters of a diff's blocks, for tooltips that name both kinds. */
export function diffKinds(diff: DiffResult): { before: AreaBytes[]; after: AreaBytes[] } {
  const side = (pick: (area: DiffResult["areas"][number]) => string) =>
    decodeAreas(
      diff.areas.map((area) => ({ address: area.address, blocks: area.blocks, data: pick(area) })),
      FREE,
    );
  return { before: side((area) => area.kindsBefore), after: side((area) => area.kindsAfter) };
}

/** The name of the kind of block `index` (with its letter), or "free". */
export function kindAt(bytes: Uint8Array | undefined, index: number): string {
  const allocation = bytes === undefined ? null : allocationAt(bytes, index);
  if (allocation === null) return "free";
  return `${KIND_NAMES[allocation.letter] ?? "unknown"} (${allocation.letter})`;
}

/** A group of the snapshot list: one run's snapshots, one document's dumps, or the captures. */
export interface SnapshotGroup {
  key: string;
  summaries: SnapshotSummary[];
}

/** The group a snapshot belongs to. */
function groupKey(summary: SnapshotSummary): string {
  if (summary.runId !== null) return `run:${summary.runId}`;
  if (summary.file !== null) return `file:${summary.file}`;
  return "captures";
}

/**
 * Groups the list (oldest first) by run, by dump document, and the manual captures
 * together; groups are ordered by their newest snapshot, the newest group first, and keep
 * their snapshots oldest first (a run reads before → after → after gc).
 */
export function groupSnapshots(list: readonly SnapshotSummary[]): SnapshotGroup[] {
  const groups = new Map<string, SnapshotGroup & { newest: number }>();
  list.forEach((summary, index) => {
    const key = groupKey(summary);
    const group = groups.get(key) ?? { key, summaries: [], newest: index };
    group.summaries.push(summary);
    group.newest = index;
    groups.set(key, group);
  });
  return [...groups.values()].sort((a, b) => b.newest - a.newest).map(({ key, summaries }) => ({ key, summaries }));
}
