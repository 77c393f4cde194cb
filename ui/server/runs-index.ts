import { shownStatus, type ShownStatus } from '../../cache/process-alive.js';
import { declinedSteps, type RunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import type { RunSummaryCost } from './api-types.js';
import { summaryCost } from './cost-view.js';

/** One row of the runs list. */
export interface RunSummary {
  runId: string;
  pipeline: string;
  /** As every command shows it: `interrupted` for a local run whose process died. */
  status: ShownStatus;
  startedAt: string;
  durationMs?: number;
  engine?: 'local' | 'temporal';
  steps: number;
  executed: number;
  cached: number;
  failed: number;
  skipped: number;
  /** The steps that ran but decided not to act (`ctx.decline`), by id. */
  declined: string[];
  /** Compute time the cached steps saved (their original executions' durations). */
  savedMs: number;
  /** What the run spent and the cache saved it (money with a price table); null for a record from before usage was kept. */
  cost: RunSummaryCost | null;
}

export interface RunsQuery {
  pipeline?: string | undefined;
  status?: string | undefined;
  q?: string | undefined;
  limit: number;
  /** Only runs older than this one (the previous page's `next`). */
  before?: string | undefined;
}

export interface RunsPage {
  runs: RunSummary[];
  next: string | null;
  pipelines: string[];
}

interface Indexed {
  summary: RunSummary;
  /** Lower-case text `q` matches: run id, pipeline, step ids, overrides. */
  haystack: string;
  /** Finished runs never change; a running one is read again. */
  final: boolean;
}

export function summarize(run: RunRecord): RunSummary {
  let executed = 0;
  let cached = 0;
  let failed = 0;
  let skipped = 0;
  let savedMs = 0;
  for (const s of run.steps) {
    if (s.status === 'executed') executed++;
    else if (s.status === 'cached') {
      cached++;
      savedMs += s.savedMs ?? 0;
    } else if (s.status === 'failed') failed++;
    else if (s.status === 'skipped') skipped++;
  }
  return {
    runId: run.runId,
    pipeline: run.pipeline,
    status: shownStatus(run),
    startedAt: run.startedAt,
    ...(run.durationMs === undefined ? {} : { durationMs: run.durationMs }),
    ...(run.engine === undefined ? {} : { engine: run.engine }),
    steps: run.steps.length,
    executed,
    cached,
    failed,
    skipped,
    declined: declinedSteps(run.steps),
    savedMs,
    cost: summaryCost(run),
  };
}

/** How many records are read at once while filling a page. */
const READ_BATCH = 32;
/** How long a listing of run ids is reused (a page and the next, a burst of filters). */
const IDS_TTL_MS = 1000;

/**
 * The runs list over a store of any size: run ids sort by start time, so a page walks the sorted ids
 * from a cursor and reads only the records it needs; summaries are kept by run id (a finished run
 * never changes), so later pages and other filters read nothing again. A background pass indexes the
 * rest, for the list of pipelines and fast filtered pages.
 */
export class RunsIndex {
  private readonly indexed = new Map<string, Indexed>();
  private ids: { at: number; ids: Promise<string[]> } | undefined;
  private warming: Promise<void> | undefined;

  constructor(private readonly store: Store) {}

  private runIds(): Promise<string[]> {
    const now = Date.now();
    if (this.ids === undefined || now - this.ids.at > IDS_TTL_MS) {
      const ids = this.store.listRunIds();
      ids.catch(() => (this.ids = undefined));
      this.ids = { at: now, ids };
    }
    return this.ids.ids;
  }

  /** The summary of one run, from memory when final; undefined when unreadable or gone. */
  private async entry(runId: string): Promise<Indexed | undefined> {
    const known = this.indexed.get(runId);
    if (known?.final) return known;
    const run = await this.store.getRun(runId).catch(() => undefined);
    if (run === undefined) {
      this.indexed.delete(runId);
      return undefined;
    }
    const summary = summarize(run);
    const haystack = [run.runId, run.pipeline, ...run.steps.map((s) => s.id), ...run.overrides].join('\n').toLowerCase();
    const indexed = { summary, haystack, final: run.status !== 'running' };
    this.indexed.set(runId, indexed);
    return indexed;
  }

  /** Indexes every run in the background (once), a batch at a time. */
  warm(): Promise<void> {
    this.warming ??= (async () => {
      const ids = await this.runIds();
      for (let i = 0; i < ids.length; i += READ_BATCH) await Promise.all(ids.slice(i, i + READ_BATCH).map((id) => this.entry(id)));
    })().catch(() => {
      this.warming = undefined;
    });
    return this.warming;
  }

  async page(query: RunsQuery): Promise<RunsPage> {
    const ids = await this.runIds();
    // Ids are newest first; `before` is exclusive.
    let start = 0;
    if (query.before !== undefined) {
      start = lowerBoundDescending(ids, query.before);
      if (ids[start] === query.before) start++;
    }
    const q = query.q?.trim().toLowerCase() || undefined;
    const matches = (e: Indexed): boolean =>
      (query.pipeline === undefined || e.summary.pipeline === query.pipeline) &&
      (query.status === undefined || e.summary.status === query.status) &&
      (q === undefined || e.haystack.includes(q));
    const runs: RunSummary[] = [];
    let more = false;
    for (let i = start; i < ids.length && !more; i += READ_BATCH) {
      const batch = await Promise.all(ids.slice(i, i + READ_BATCH).map((id) => this.entry(id)));
      for (const e of batch) {
        if (e === undefined || !matches(e)) continue;
        if (runs.length === query.limit) {
          more = true;
          break;
        }
        runs.push(e.summary);
      }
    }
    const pipelines = [...new Set([...this.indexed.values()].map((e) => e.summary.pipeline))].sort();
    return { runs, next: more ? (runs.at(-1)?.runId ?? null) : null, pipelines };
  }
}

/** The first index in descending `ids` whose id is <= `id`. */
function lowerBoundDescending(ids: readonly string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ids[mid] as string) > id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
