import type { Digest } from '../../cache/digest.js';
import type { ElementCounts } from '../../cache/records.js';
import type { Progress } from '../define/define-step.js';
import { fromRanges, toRanges } from './index-ranges.js';
import { retryDelay, type RetryPolicy } from './retry-policy.js';
import type { ElementResult, MapProgress, PlannedElements, StepError } from './run-protocol.js';

/** The failures a record keeps with their errors; the count covers the rest. */
const FAILURES_KEPT = 100;

type Failure = MapProgress['failures'][number];

/** An element between attempts: when its next one is due, and how the last one failed. */
interface Waiting {
  index: number;
  at: number;
  error: StepError;
  logs?: Digest;
}

/**
 * A map's elements while it runs, for the run core: what is left to hand out, what waits to be tried
 * again, what is in flight, and how each ended. Each element is tried by its step's retry policy,
 * exactly as a plain step is; a failure is final only when the policy says so.
 */
export class MapWork {
  readonly total: number;
  /** Found cached when the map was looked up (less what an earlier generation executed). */
  private readonly cached: number;
  private readonly pending: number[];
  private readonly waiting: Waiting[] = [];
  /** Chunks handed out and not yet reported. */
  private inFlight = 0;
  private readonly executed: number[];
  /** Computed by another run while this one waited. */
  private reused = 0;
  private readonly failed: number[];
  private readonly failures: Failure[];
  /** The first element that finally failed for what it ran on, not for itself (see ErrorClass.infrastructure). */
  private unavailable: { index: number; error: StepError } | undefined;
  /** Attempts started per element (absent: none yet). */
  private readonly attempts = new Map<number, number>();
  private readonly extra: Pick<ElementCounts, 'keys' | 'reasons' | 'kept'>;

  /**
   * From the map's look-up; `carried` is an earlier generation's work (Temporal's continue-as-new): what it
   * executed is now cached but counts as executed, what failed finally is not tried again in this run.
   */
  constructor(elements: PlannedElements & { keys?: Digest }, carried: MapProgress | undefined) {
    const executedBefore = carried === undefined ? [] : fromRanges(carried.executed);
    const failedBefore = new Set(carried === undefined ? [] : fromRanges(carried.failed));
    this.total = elements.total;
    this.cached = Math.max(0, elements.cached - executedBefore.length);
    this.pending = fromRanges(elements.run).filter((i) => !failedBefore.has(i));
    this.executed = executedBefore;
    this.failed = [...failedBefore];
    this.failures = carried?.failures ?? [];
    this.unavailable = carried?.unavailable;
    for (const [count, ranges] of Object.entries(carried?.attempts ?? {})) for (const i of fromRanges(ranges)) this.attempts.set(i, Number(count));
    const { keys, reasons, kept } = elements;
    this.extra = { ...(keys === undefined ? {} : { keys }), ...(reasons === undefined ? {} : { reasons }), ...(kept === undefined ? {} : { kept }) };
  }

  /** Elements ready to hand out now. */
  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Every element has ended: none pending, waiting to be tried again, or in flight. */
  get done(): boolean {
    return this.pending.length === 0 && this.waiting.length === 0 && this.inFlight === 0;
  }

  get failedCount(): number {
    return this.failed.length;
  }

  /** The next chunk: up to `size` elements, each with the number of the attempt it now starts. */
  take(size: number): { indices: number[]; attempts: number[] } {
    const indices = this.pending.splice(0, Math.max(1, size));
    const attempts = indices.map((i) => {
      const attempt = (this.attempts.get(i) ?? 0) + 1;
      this.attempts.set(i, attempt);
      return attempt;
    });
    this.inFlight++;
    return { indices, attempts };
  }

  /**
   * A chunk's results. A failure the policy retries waits for its turn (the returned time, the earliest
   * retry this chunk added); any other is final. `retrying` false (the run is cancelled) makes every failure final.
   */
  report(results: readonly ElementResult[], policy: RetryPolicy, salt: string, now: number, retrying: boolean): number | undefined {
    this.inFlight--;
    let earliest: number | undefined;
    for (const result of results) {
      if (result.status === 'executed') this.executed.push(result.index);
      else if (result.status === 'cached') this.reused++;
      else {
        const error = result.error ?? { code: 'STEP_FAILED', message: 'failed' };
        const attempt = this.attempts.get(result.index) ?? 1;
        const delay = retrying ? retryDelay(policy, attempt, { code: error.code, retryable: result.retryable }, `${salt}[${result.index}]`) : undefined;
        if (delay === undefined) this.fail(result.index, error, result.logs, result.infrastructure === true);
        else {
          this.waiting.push({ index: result.index, at: now + delay, error, ...(result.logs === undefined ? {} : { logs: result.logs }) });
          earliest = Math.min(earliest ?? Infinity, now + delay);
        }
      }
    }
    return earliest;
  }

  private fail(index: number, error: StepError, logs: Digest | undefined, infrastructure = false): void {
    this.failed.push(index);
    if (infrastructure) this.unavailable ??= { index, error };
    if (this.failures.length >= FAILURES_KEPT) return;
    const attempts = this.attempts.get(index) ?? 1;
    this.failures.push({ index, code: error.code, message: error.message, ...(logs === undefined ? {} : { logs }), ...(attempts > 1 ? { attempts } : {}) });
  }

  /** Moves the retries that are due to the front of the hand-out; returns whether any were. */
  due(now: number): boolean {
    const ready = this.waiting.filter((w) => w.at <= now);
    if (ready.length === 0) return false;
    this.waiting.splice(0, this.waiting.length, ...this.waiting.filter((w) => w.at > now));
    this.pending.unshift(...ready.map((w) => w.index));
    return true;
  }

  /** When the next waiting retry is due, if one waits. */
  nextRetryAt(): number | undefined {
    return this.waiting.length === 0 ? undefined : Math.min(...this.waiting.map((w) => w.at));
  }

  /** The run is cancelled: nothing more is handed out, and elements waiting to be tried again end with their last failure. */
  stop(): void {
    this.pending.length = 0;
    for (const w of this.waiting.splice(0)) this.fail(w.index, w.error, w.logs);
  }

  /**
   * An element that could not run for what it ran on (a store out of reach, a full disk, a lost worker),
   * if any: the map is then not assembled without it, since a clean run would have included it.
   */
  get failedByInfrastructure(): { index: number; error: StepError } | undefined {
    return this.unavailable;
  }

  /** The elements that finally failed, in order: the stored collection leaves them out. */
  leftOut(): number[] {
    return [...this.failed].sort((a, b) => a - b);
  }

  /** The first few failures, for a message. */
  firstFailures(count: number): Failure[] {
    return [...this.failures].sort((a, b) => a.index - b.index).slice(0, count);
  }

  /** `412/10,000 elements, 3 failed`: for live views. */
  progress(): Progress {
    const done = this.cached + this.executed.length + this.reused + this.failed.length;
    const failed = this.failed.length === 0 ? '' : `, ${this.failed.length.toLocaleString('en-US')} failed`;
    const retrying = this.waiting.length === 0 ? '' : `, ${this.waiting.length.toLocaleString('en-US')} retrying`;
    return {
      fraction: this.total === 0 ? 1 : done / this.total,
      message: `${done.toLocaleString('en-US')}/${this.total.toLocaleString('en-US')} elements${failed}${retrying}`,
    };
  }

  /** The counts a record keeps (see ElementCounts). */
  counts(batchSize: number, keys: Digest | undefined): ElementCounts {
    const retried = byAttempts([...this.attempts].filter(([, attempts]) => attempts > 1));
    const allKeys = keys ?? this.extra.keys;
    return {
      total: this.total,
      executed: this.executed.length,
      cached: this.cached + this.reused,
      failed: this.failed.length,
      ...(batchSize > 1 ? { batchSize } : {}),
      ...(allKeys === undefined ? {} : { keys: allKeys }),
      ...(this.executed.length === 0 ? {} : { executedIndices: toRanges(this.executed) }),
      ...(this.failures.length === 0 ? {} : { failures: [...this.failures].sort((a, b) => a.index - b.index) }),
      ...(this.failed.length === 0 ? {} : { leftOut: toRanges(this.failed) }),
      ...(this.extra.reasons === undefined ? {} : { reasons: this.extra.reasons }),
      ...(this.extra.kept === undefined ? {} : { kept: this.extra.kept }),
      ...(retried === undefined ? {} : { retried }),
    };
  }

  /** What the next generation of the run carries on from (elements waiting to retry start again there, their attempts counted). */
  snapshot(): MapProgress {
    // Elements tried more than once (the record still says so) and those between attempts, waiting or back
    // in the hand-out: their retries go on counting.
    const unfinished = new Set([...this.pending, ...this.waiting.map((w) => w.index)]);
    const attempts = byAttempts([...this.attempts].filter(([index, count]) => count > 1 || unfinished.has(index)));
    return {
      executed: toRanges(this.executed),
      failed: toRanges(this.failed),
      failures: this.failures,
      ...(attempts === undefined ? {} : { attempts }),
      ...(this.unavailable === undefined ? {} : { unavailable: this.unavailable }),
    };
  }
}

/** Elements grouped by how many attempts they made: `{ "2": "3,7-9" }`, or undefined for none. */
function byAttempts(entries: ReadonlyArray<[index: number, attempts: number]>): Record<string, string> | undefined {
  if (entries.length === 0) return undefined;
  const groups = new Map<number, number[]>();
  for (const [index, attempts] of entries) {
    const group = groups.get(attempts);
    if (group === undefined) groups.set(attempts, [index]);
    else group.push(index);
  }
  return Object.fromEntries([...groups].sort((a, b) => a[0] - b[0]).map(([n, list]) => [String(n), toRanges(list)]));
}
