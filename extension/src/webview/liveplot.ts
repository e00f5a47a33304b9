/**
 * The heap map's live plot: a run's heap over time (`heaplens/timeline` samples), drawn
 * while the run goes on. Pure parts (the bounded store, the column binning) and one draw
 * function over a 2D canvas context; no DOM lookups, no messages.
 *
 * Memory stays bounded for hour-long runs the way the server's timeline does it: at most
 * `capacity` samples are kept; when full, every sample but the first becomes one of a pair
 * (the one with more heap in use, so peaks survive) and later samples are kept one per
 * group as large, so the kept samples cover the whole run evenly. The peak is kept exactly.
 */
import type { TimelineSample } from "../protocol";

/** Samples the plot keeps at most: a run of 27 minutes at 100 ms is drawn unthinned (the
 * server's report keeps 4,096; the plot is cheap enough for more, see BENCHMARKS.md). */
export const PLOT_CAPACITY = 16384;

export class SampleStore {
  private kept: TimelineSample[] = [];
  private stride = 1;
  private open = 0;
  private received = 0;
  private top: TimelineSample | null = null;

  constructor(private readonly capacity = PLOT_CAPACITY) {}

  push(sample: TimelineSample): void {
    this.received++;
    if (this.top === null || sample.used > this.top.used) this.top = sample;
    const last = this.kept.at(-1);
    if (last !== undefined && this.open > 0 && this.open < this.stride) {
      this.open++;
      if (sample.used >= last.used) this.kept[this.kept.length - 1] = sample;
      return;
    }
    if (this.kept.length >= this.capacity) {
      const thinned: TimelineSample[] = [this.kept[0]];
      for (let index = 1; index < this.kept.length; index += 2) {
        const first = this.kept[index];
        const second = this.kept[index + 1];
        thinned.push(second !== undefined && second.used >= first.used ? second : first);
      }
      this.kept = thinned;
      this.stride *= 2;
    }
    this.kept.push(sample);
    this.open = 1;
  }

  get samples(): readonly TimelineSample[] {
    return this.kept;
  }

  /** Samples received, thinned ones included. */
  get count(): number {
    return this.received;
  }

  /** The sample with the most heap in use. */
  get peak(): TimelineSample | null {
    return this.top;
  }
}

/** Colours of the plot (RGB; exact pixels, no anti-aliasing: every shape is a rectangle). */
export const PLOT_COLOURS = {
  used: [78, 140, 214] as const,
  free: [111, 191, 115] as const,
  peak: [229, 83, 75] as const,
  drop: [212, 167, 44] as const,
};

/** A drop of heap in use between two kept samples bigger than this is a collection. */
export const DROP_BYTES = 64;

export interface PlotResult {
  /** Columns drawn (at most the width). */
  columns: number;
  /** Where the peak marker sits (canvas pixels), and its figure. */
  peak: { x: number; y: number; used: number; tMs: number } | null;
  /** Collections seen as drops of heap in use. */
  drops: number;
}

function css(colour: readonly [number, number, number]): string {
  return `rgb(${colour[0]}, ${colour[1]}, ${colour[2]})`;
}

/**
 * Draws `samples` (time order) on a `width`×`height` area: heap in use as filled columns
 * (each column the most used in its slice of time), free heap as a 2-pixel mark per column,
 * each collection (a drop of heap in use) as a tick along the bottom, the peak as a square.
 * The vertical scale is the heap's size (used + free).
 */
export function drawPlot(
  context: CanvasRenderingContext2D,
  width: number,
  height: number,
  samples: readonly TimelineSample[],
  peak: TimelineSample | null,
): PlotResult {
  context.clearRect(0, 0, width, height);
  const first = samples[0];
  const last = samples.at(-1);
  if (first === undefined || last === undefined || width < 2 || height < 8) return { columns: 0, peak: null, drops: 0 };
  let heap = 0;
  for (const sample of samples) heap = Math.max(heap, sample.used + sample.free);
  const span = Math.max(1, last.tMs - first.tMs);
  const columnOf = (tMs: number) => Math.min(width - 1, Math.floor(((tMs - first.tMs) * (width - 1)) / span));
  const yOf = (bytes: number) => height - 1 - Math.round((bytes * (height - 8)) / Math.max(1, heap));
  // Bin: per column the most used and its free; a drop between consecutive samples.
  const used = new Float64Array(width).fill(-1);
  const free = new Float64Array(width).fill(-1);
  const dropAt = new Uint8Array(width);
  let drops = 0;
  let previous: TimelineSample | null = null;
  for (const sample of samples) {
    const column = columnOf(sample.tMs);
    if (sample.used > (used[column] ?? -1)) {
      used[column] = sample.used;
      free[column] = sample.free;
    }
    if (previous !== null && previous.used - sample.used > DROP_BYTES) {
      drops++;
      dropAt[column] = 1;
    }
    previous = sample;
  }
  // Fill the gaps between sampled columns with the last value (the heap stayed as it was).
  let columns = 0;
  let carryUsed = -1;
  let carryFree = -1;
  context.fillStyle = css(PLOT_COLOURS.used);
  for (let x = 0; x < width; x++) {
    if ((used[x] ?? -1) >= 0) {
      carryUsed = used[x] ?? 0;
      carryFree = free[x] ?? 0;
    } else {
      used[x] = carryUsed;
      free[x] = carryFree;
    }
    if (carryUsed < 0) continue;
    columns++;
    const top = yOf(carryUsed);
    context.fillRect(x, top, 1, height - top);
  }
  context.fillStyle = css(PLOT_COLOURS.free);
  for (let x = 0; x < width; x++) {
    const value = used[x] ?? -1;
    if (value < 0) continue;
    context.fillRect(x, yOf(value + (free[x] ?? 0)), 1, 2);
  }
  context.fillStyle = css(PLOT_COLOURS.drop);
  for (let x = 0; x < width; x++) if (dropAt[x] === 1) context.fillRect(x, height - 6, 1, 6);
  let peakMark: PlotResult["peak"] = null;
  if (peak !== null) {
    const x = columnOf(Math.max(first.tMs, Math.min(last.tMs, peak.tMs)));
    const y = yOf(peak.used);
    context.fillStyle = css(PLOT_COLOURS.peak);
    context.fillRect(Math.max(0, x - 2), Math.max(0, y - 2), 5, 5);
    peakMark = { x, y, used: peak.used, tMs: peak.tMs };
  }
  return { columns, peak: peakMark, drops };
}
