import { patched } from '@temporalio/workflow';
import { ELEMENT_CHUNKS } from './step-activities.js';

/** A chunk of cheap elements grows until one takes about this long: long enough to hide an activity's dispatch. */
const CHUNK_TARGET_MS = 2_000;
/** The most elements one activity takes: its results travel back in one payload. */
const MAX_CHUNK = 1_000;

/**
 * How many of a map's elements go out per activity. A cpu map starts at ELEMENT_CHUNKS.cpu and doubles
 * its chunks while they finish in under half the target time, so 10,000 elements costing a millisecond
 * each take a dozen activities instead of 200 (each activity's dispatch costs ~80 ms), while elements
 * costing seconds (an LLM call) stay at the starting size and report as often as before. It shrinks
 * back, never below the start, when chunks run long. A GPU map stays at one element per activity.
 *
 * Durations are the worker's, carried in each chunk's result, so the sizes come from the history alone
 * and a replay makes the same choices whatever its own clock says. Whether chunks adapt at all is
 * decided once per workflow run (see `forThisRun`): a run started by a version without this
 * keeps its fixed chunks to the end, on any worker.
 */
export class ElementChunks {
  private readonly sizes = new Map<string, number>();

  private constructor(
    private readonly queueOf: (id: string) => string | undefined,
    private readonly adaptive: boolean,
  ) {}

  /**
   * For the workflow run being started or replayed: called once, at the same point of every run, before
   * any chunk goes out. A run whose history has no `adaptive-element-chunks` marker there (started before
   * this existed) keeps the fixed size it was made with to its end, so one run has one behaviour (asked
   * at each hand-out, a run taken over by a new worker would switch mid-map, at a marker written mid-history).
   */
  static forThisRun(queueOf: (id: string) => string | undefined): ElementChunks {
    return new ElementChunks(queueOf, patched('adaptive-element-chunks'));
  }

  /** The next chunk's shape for map `id`. */
  next(id: string): { size: number; parallel: number } {
    if (this.queueOf(id) !== 'cpu') return ELEMENT_CHUNKS.gpu;
    if (!this.adaptive) return ELEMENT_CHUNKS.cpu;
    return { ...ELEMENT_CHUNKS.cpu, size: this.sizes.get(id) ?? ELEMENT_CHUNKS.cpu.size };
  }

  /** A chunk of `size` elements of map `id` took `durationMs`: the next ones are sized by it. */
  observe(id: string, size: number, durationMs: number): void {
    if (this.queueOf(id) !== 'cpu') return;
    const current = this.sizes.get(id) ?? ELEMENT_CHUNKS.cpu.size;
    // Only a full chunk says how long a chunk takes: the map's last one may be a remnant.
    if (size < current) return;
    if (durationMs < CHUNK_TARGET_MS / 2) this.sizes.set(id, Math.min(MAX_CHUNK, current * 2));
    else if (durationMs > CHUNK_TARGET_MS * 2) this.sizes.set(id, Math.max(ELEMENT_CHUNKS.cpu.size, Math.floor(current / 2)));
  }
}
