/**
 * Pure decoration logic: groups `heaplens/decorations` lines by heat level, and drops the
 * decorations of lines the user edits (shifting the ones below when lines are added or
 * removed). The VS Code side only turns the result into `setDecorations` calls.
 */
import type { DecorationLine } from "./protocol";

/** Number of heat levels (0..5). */
export const LEVELS = 6;

/** Clamps a level from the wire to 0..5. */
export function clampLevel(level: number): number {
  if (!Number.isFinite(level)) return 0;
  return Math.min(LEVELS - 1, Math.max(0, Math.round(level)));
}

/** One decoration instance: a line, its after-line text and hover. */
export interface LineDecoration {
  line: number;
  text: string;
  hover: string | undefined;
}

/** Groups lines by level: index = level. Lines with a negative number are dropped. */
export function groupByLevel(lines: readonly DecorationLine[]): LineDecoration[][] {
  const groups: LineDecoration[][] = Array.from({ length: LEVELS }, () => []);
  for (const entry of lines) {
    if (!Number.isInteger(entry.line) || entry.line < 0) continue;
    groups[clampLevel(entry.level)]?.push({ line: entry.line, text: entry.text, hover: entry.hover ?? undefined });
  }
  return groups;
}

/** A text edit reduced to what matters here (0-based lines, as in VS Code). */
export interface LineEdit {
  startLine: number;
  endLine: number;
  /** Number of line breaks in the inserted text. */
  insertedLineBreaks: number;
}

/**
 * Applies edits (in the order VS Code reports them) to decorated lines: a decoration on a
 * line an edit touches is removed; lines below an edit move by the change in line count.
 */
export function applyEdits(lines: readonly DecorationLine[], edits: readonly LineEdit[]): DecorationLine[] {
  let current = [...lines];
  for (const edit of edits) {
    const delta = edit.insertedLineBreaks - (edit.endLine - edit.startLine);
    const next: DecorationLine[] = [];
    for (const entry of current) {
      if (entry.line >= edit.startLine && entry.line <= edit.endLine) continue;
      next.push(entry.line > edit.endLine ? { ...entry, line: entry.line + delta } : entry);
    }
    current = next;
  }
  return current;
}

/** Counts line breaks in inserted text (`\r\n`, `\n` or `\r`). */
export function countLineBreaks(text: string): number {
  return text.match(/\r\n|\r|\n/g)?.length ?? 0;
}

/** Gutter heat colours by level, for dark and light themes (level 0 = a faint mark). */
export const HEAT_COLOURS: { dark: string; light: string }[] = [
  { dark: "#5a5a5a", light: "#b0b0b0" },
  { dark: "#c9b94a", light: "#a08c00" },
  { dark: "#e0a030", light: "#c07800" },
  { dark: "#e87a2a", light: "#cc5500" },
  { dark: "#e8502a", light: "#c03010" },
  { dark: "#ff3030", light: "#d00000" },
];

/** An SVG gutter mark (a bar whose width grows with the level) as a data URI. */
export function gutterIconDataUri(level: number, colour: string): string {
  const width = 3 + clampLevel(level) * 2;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect x="2" y="1" width="${width}" height="14" rx="1" fill="${colour}"/></svg>`;
  return `data:image/svg+xml;base64,${btoa(svg)}`;
}
