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

/** `GET /api/runs/<runId>`: the record, and the status to show (a running record whose process is gone is `interrupted`). */
export interface RunResponse {
  run: RunRecord;
  shownStatus: ShownStatus;
}

/** `GET /api/compare/<runA>/<runB>`: step by step, and the sections the runs' pipeline adds (`extensions.compare`). */
export interface CompareResponse {
  comparison: RunComparison;
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
  /** Which file the offsets count in: the live file while the step runs, then the stored log. */
  source: 'blob' | 'live' | 'none';
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
