/**
 * HeapLens's one unit system, for every surface the client draws (status bar, heap map):
 * binary units (`1.5 KiB`), exact bytes with thousands separators where precision matters
 * (`96.0 KiB (98,305 bytes)`). The server writes the same forms in its own text.
 */

/** `1234567` → `1,234,567`. */
export function thousands(value: number): string {
  if (!Number.isFinite(value)) return "?";
  const digits = String(Math.trunc(Math.abs(value)));
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return value < 0 ? `−${grouped}` : grouped;
}

/** A byte count with a binary unit, one decimal from 1 KiB up (`1.5 KiB`, `512 B`). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "?";
  const magnitude = Math.abs(bytes);
  const sign = bytes < 0 ? "−" : "";
  if (magnitude < 1024) return `${sign}${magnitude} B`;
  if (magnitude < 1024 * 1024) return `${sign}${(magnitude / 1024).toFixed(1)} KiB`;
  return `${sign}${(magnitude / (1024 * 1024)).toFixed(1)} MiB`;
}

/** `96.0 KiB (98,305 bytes)`; under 1 KiB just `512 B`. */
export function kibAndBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "?";
  return Math.abs(bytes) < 1024 ? formatBytes(bytes) : `${formatBytes(bytes)} (${thousands(bytes)} bytes)`;
}

/** `1 block`, `2 blocks`, `1,537 blocks`. */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${thousands(count)} ${count === 1 ? one : many}`;
}

/** The local wall-clock time of an RFC 3339 timestamp, `HH:MM:SS` (the text itself if unreadable). */
export function clockTime(rfc3339: string): string {
  const time = new Date(rfc3339);
  if (Number.isNaN(time.getTime())) return rfc3339;
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(time.getHours())}:${two(time.getMinutes())}:${two(time.getSeconds())}`;
}

/** The last segment of a URI or path (`parrot.py` of `file:///w/parrot.py`), decoded. */
export function fileName(uri: string): string {
  const last = uri.split(/[/\\]/).pop() ?? uri;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}
