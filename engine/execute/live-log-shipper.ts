// A running step's log on a store with no file to append to (S3): shipped in segments, so `flywheel logs
// --follow` and the run view can follow a step on any worker while it runs. One shipper per step and
// process, shared by every capture of it (a map's elements write through one), so segments go out every
// few seconds while there are new lines, never one per line or per element. Bounded in delay (FLUSH_MS
// at first, growing with the step's age to at most a minute, so a 12-hour fine-tune ships about three
// thousand segments, not twenty thousand) and in cost (a segment at most SEGMENT_MAX_BYTES, a step's
// shipped bytes at most its log's cap; what is over the cap is in the stored log when the step ends).
import { randomBytes } from 'node:crypto';
import type { Store } from '../../cache/store.js';

/** The first flush delay; FLYWHEEL_LIVE_LOG_FLUSH_MS changes it (tests). */
const FLUSH_MS = Number(process.env.FLYWHEEL_LIVE_LOG_FLUSH_MS ?? '') || 2000;
const MAX_FLUSH_MS = 60_000;
/** The delay grows by one millisecond per this many milliseconds of age: 2 s at first, 1 min after 12 hours. */
const AGE_PER_DELAY_MS = 720;
export const SEGMENT_MAX_BYTES = 256 * 1024;

export interface LiveLogSink {
  line(text: string): void;
  /**
   * This capture is done with it. What is buffered still ships on its timer: the map's next element,
   * often a moment later, writes into the same segment instead of costing a request of its own.
   */
  release(): void;
}

class Shipper {
  private readonly started = Date.now();
  private readonly writer = `${process.pid}-${randomBytes(3).toString('hex')}`;
  private buffered: string[] = [];
  private bufferedBytes = 0;
  private shippedBytes = 0;
  private overCap = false;
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  holders = 0;

  /** Nothing buffered or waiting to ship. */
  get idle(): boolean {
    return this.buffered.length === 0 && this.timer === undefined;
  }

  constructor(
    private readonly id: string,
    private readonly store: Store & Required<Pick<Store, 'putLogSegment'>>,
    private readonly runId: string,
    private readonly stepId: string,
    private readonly capBytes: number,
  ) {}

  line(text: string): void {
    if (this.overCap) return;
    const bytes = Buffer.byteLength(text) + 1;
    if (this.shippedBytes + this.bufferedBytes + bytes > this.capBytes) {
      this.overCap = true;
      this.buffered.push(`${new Date().toISOString()} WARN  … live log over its cap: the rest is in the stored log capBytes=${this.capBytes}`);
      this.ship();
      return;
    }
    this.buffered.push(text);
    this.bufferedBytes += bytes;
    if (this.bufferedBytes >= SEGMENT_MAX_BYTES) this.ship();
    else this.timer ??= setTimeout(() => this.ship(), Math.min(MAX_FLUSH_MS, Math.max(FLUSH_MS, (Date.now() - this.started) / AGE_PER_DELAY_MS))).unref();
  }

  /** Ships what is buffered as one segment, after the segments before it (in order, one at a time). */
  ship(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // Nobody writes to it any more: the next capture of the step starts another.
    if (this.holders === 0) shippers.delete(this.id);
    if (this.buffered.length === 0) return this.chain;
    const text = `${this.buffered.join('\n')}\n`;
    this.shippedBytes += this.bufferedBytes;
    this.buffered = [];
    this.bufferedBytes = 0;
    // Names sort by time, then writer, then its own order: readers list them after the last they read.
    const name = `${Date.now().toString().padStart(13, '0')}-${this.writer}-${String(this.sequence++).padStart(6, '0')}.log`;
    // A live view is a convenience: a segment the store cannot take is lost to it, never to the step.
    this.chain = this.chain.then(() => this.store.putLogSegment(this.runId, this.stepId, name, text).catch(() => undefined));
    return this.chain;
  }
}

const shippers = new Map<string, Shipper>();

/** The live log sink of a step in this process, on a store that takes segments; undefined on one that does not. */
export function liveLogSink(store: Store, runId: string, stepId: string, capBytes: number): LiveLogSink | undefined {
  if (store.putLogSegment === undefined) return undefined;
  const id = `${store.description}\0${runId}\0${stepId}`;
  let shipper = shippers.get(id);
  if (shipper === undefined) {
    shipper = new Shipper(id, store as Store & Required<Pick<Store, 'putLogSegment'>>, runId, stepId, capBytes);
    shippers.set(id, shipper);
  }
  const held = shipper;
  held.holders++;
  let released = false;
  return {
    line: (text) => held.line(text),
    release: () => {
      if (released) return;
      released = true;
      held.holders--;
      if (held.holders === 0 && held.idle) shippers.delete(id);
    },
  };
}
