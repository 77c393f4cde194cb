// The run view's JSON API (/api, ui/server/api.ts) as types: what each route answers. The server builds
// its answers with these types, and the browser app (ui/app) imports them with `import type`, so a
// change here that the app does not follow fails `npm run typecheck`.
import type { Digest } from '../../cache/digest.js';
import type { RunRecord, StepRunRecord } from '../../cache/records.js';
import type { ShownStatus } from '../../cache/process-alive.js';
import type { RunComparison } from '../../engine/records/compare-runs.js';
import type { CompareSection } from '../../engine/define/pipeline-extensions.js';

export type { ElementCounts, ElementReason, OutputRecord, RunRecord, RunStatus, StepRunRecord, StepStatus } from '../../cache/records.js';

/** What a step's record says its key was made of (for the run view's key panel). */
export type KeyComponents = NonNullable<StepRunRecord['components']>;
export type { ShownStatus } from '../../cache/process-alive.js';
export type { OutputComparison, RunComparison, StepChange, StepComparison } from '../../engine/records/compare-runs.js';
export type { CompareRow, CompareSection } from '../../engine/define/pipeline-extensions.js';
export type { RunSummary, RunsPage } from './runs-index.js';

/** `GET /api/runs/<runId>`: the record, the status to show (a running record whose process is gone is `interrupted`), and what it cost. */
export interface RunResponse {
  run: RunRecord;
  shownStatus: ShownStatus;
  /** Null for a record written before usage was kept. The event stream sends it as `event: cost` before each `event: run`. */
  cost: RunCost | null;
}

/**
 * What a run or a step spent, or what the cache saved it, as the run view shows it: worked out on the
 * server (ui/server/cost-view.ts) from the recorded usage and the run's price table.
 */
export interface CostSide {
  /** What was used, as the terminal names it: `96.0 GPU-h H200, CPU 256ms, pages 120`; '' when nothing was measured. */
  resources: string;
  /** The terminal's wording: `96.0 GPU-h H200, CPU 256ms = $336.00 (+ unpriced: count scored)`; '' when there is nothing to say. */
  text: string;
  /** With a price table: the amount, and as money (`$336.00`); null without one. */
  amount: number | null;
  money: string | null;
  /** Used but not in the price table, so `money` is a floor: `count scored`, `GPU NVIDIA A10G`. */
  unpriced: string[];
  /** The figure for a narrow place (a DAG node, the runs list): the money, else GPU-hours and tokens, else CPU time; '' for nothing. */
  short: string;
  /** Whether it is worth a place where space is short (a DAG node): a cent or more, GPU-hours or tokens. */
  notable: boolean;
  /** Tokens by model: `gpt-4.1-mini: 812k in / 96k out (1,204 calls)`. */
  tokens: string[];
}

/** A step's cost: what this run's executions of it consumed, and what the results it reused had cost. */
export interface StepCost {
  spent: CostSide | null;
  saved: CostSide | null;
}

/** A run's cost: its totals, the price table in effect, and each step's that recorded usage. */
export interface RunCost {
  spent: CostSide;
  saved: CostSide;
  /** The run's price table: its currency and the file it was read from. Null: resources only, no money. */
  prices: { currency: string; source: string } | null;
  /** By step id. */
  steps: Record<string, StepCost>;
}

/** A run's cost in the runs list: money when the run recorded prices, else GPU-hours and tokens (or CPU time). */
export interface RunSummaryCost {
  spent: string;
  saved: string;
  priced: boolean;
  /** The whole of it, as the terminal's cost line says it (for a tooltip). */
  detail: string;
}

/** Run A's and run B's cost side by side, and the change from A to B. */
export interface CompareCost {
  a: Pick<RunCost, 'spent' | 'saved' | 'prices'> | null;
  b: Pick<RunCost, 'spent' | 'saved' | 'prices'> | null;
  /** B less A: in money where both runs used one currency (`+$336.00`), else by resource (`+96.0 GPU-h, CPU -1.1s`); null unless both recorded usage. */
  change: { spent: string; saved: string } | null;
}

/** `GET /api/compare/<runA>/<runB>`: step by step, and the sections the runs' pipeline adds (`extensions.compare`). */
export interface CompareResponse {
  comparison: RunComparison;
  /** Null when neither run recorded usage. */
  cost: CompareCost | null;
  sections: CompareSection[];
  /** Why the pipeline added no sections (it failed to load or to compare), or null. */
  note: string | null;
}

/** `GET /api/runs/<runId>/steps/<stepId>/logs?offset=N`: a page of a step's log, whole lines. */
export interface LogsPage {
  text: string;
  offset: number;
  next: number;
  done: boolean;
  /**
   * Which file the offsets count in: the live file while the step runs (`segments`: the pieces workers ship
   * to S3, read on from `cursor`), then the stored log.
   */
  source: 'blob' | 'live' | 'segments' | 'none';
  /** For `segments`: the last one read, to pass back as `after`. */
  cursor?: string;
  /** A cached step's log is the one of the run that computed it: that run's id. */
  from?: string;
}

/** `GET /api/blobs/<digest>?view=lines`: a page of a text blob's lines. */
export interface LinesPage {
  lines: string[];
  offset: number;
  next: number;
  done: boolean;
}

/** `GET /api/blobs/<digest>?view=table`: a page of a CSV blob's rows, with its header. */
export interface TablePage {
  header: string[];
  rows: string[][];
  offset: number;
  next: number;
  done: boolean;
}

/** `GET /api/blobs/<digest>?view=dir`: the files of a directory output. */
export interface DirListing {
  entries: Array<{ path: string; digest: Digest; size: number }>;
}
