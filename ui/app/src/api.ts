// The server's JSON API (ui/server/). Types mirror cache/records.ts and engine/compare-runs.ts: the app
// reads what the store records, shown as it is.

export type StepStatus = 'executed' | 'cached' | 'failed' | 'skipped' | 'running' | 'pending';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface OutputRecord {
  kind: 'file' | 'dir' | 'json';
  digest: string;
  size: number;
  fileName?: string;
}

export interface InputComponent {
  from: string;
  digest: string;
  fileName?: string;
}

export interface KeyComponents {
  step: string;
  version: string;
  config: unknown;
  inputs: Record<string, InputComponent | null>;
  env: Record<string, string | null>;
  external?: unknown;
  map?: { over: string; batchSize: number };
}

export interface ElementCounts {
  total: number;
  executed: number;
  cached: number;
  failed: number;
  batchSize?: number;
  executedIndices?: string;
  failures?: Array<{ index: number; code: string; message: string; logs?: string; attempts?: number }>;
  leftOut?: string;
  /** Why the elements that ran had to, grouped (code changed, changed, added, failed last time, ...). */
  reasons?: ElementReason[];
  /** Elements whose cached result of other code was kept (onCodeChange: 'warn'). */
  kept?: ElementReason;
  /** Attempts → the elements (ranges) that made that many. */
  retried?: Record<string, string>;
}

export interface ElementReason {
  codes: string[];
  reason: string;
  count: number;
  indices: string;
}

export interface StepRunRecord {
  id: string;
  step: string;
  status: StepStatus;
  cacheKey?: string;
  reasonCodes: string[];
  reason: string;
  components?: KeyComponents;
  outputs: Record<string, OutputRecord>;
  startedAt?: string;
  durationMs?: number;
  savedMs?: number;
  attempts?: number;
  error?: { code: string; message: string };
  warning?: string;
  elements?: ElementCounts;
  upstream?: string[];
  computedBy?: string;
  logs?: string;
}

export interface RunRecord {
  runId: string;
  pipeline: string;
  status: RunStatus;
  startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  host: string;
  engine?: 'local' | 'temporal';
  overrides: string[];
  steps: StepRunRecord[];
}

export interface RunSummary {
  runId: string;
  pipeline: string;
  status: RunStatus;
  startedAt: string;
  durationMs?: number;
  engine?: string;
  steps: number;
  executed: number;
  cached: number;
  failed: number;
  skipped: number;
  savedMs: number;
}

export interface RunsPage {
  runs: RunSummary[];
  next: string | null;
  pipelines: string[];
}

export interface OutputComparison {
  name: string;
  kind: string;
  change: 'identical' | 'changed' | 'only-in-a' | 'only-in-b';
  a: { digest: string; size: number } | null;
  b: { digest: string; size: number } | null;
}

export interface StepComparison {
  id: string;
  step: string;
  change: 'same' | 'reran' | 'new' | 'removed' | 'failed' | 'skipped' | 'not-run';
  codes: string[];
  reason: string;
  statusA: StepStatus | null;
  statusB: StepStatus | null;
  earlyCutoff: boolean;
  outputs: OutputComparison[];
  error: { code: string; message: string } | null;
}

export interface RunComparison {
  pipeline: string;
  steps: StepComparison[];
  counts: Record<string, number>;
}

/** A flagship section (steps/flow-agent/compare-sections.ts): shown generically, metric rows as a table. */
export interface Section {
  kind: string;
  node: string;
  step: string;
  output: string;
  rows?: MetricRow[];
  [field: string]: unknown;
}

export interface MetricRow {
  slice: string;
  metric: string;
  scale: 'rate' | 'number';
  a: number | null;
  b: number | null;
  delta: number | null;
  deltaCi: [number, number] | null;
}

export interface CompareResponse {
  comparison: RunComparison;
  sections: Section[];
}

export interface LogsPage {
  text: string;
  offset: number;
  next: number;
  done: boolean;
  /** Which file the offsets count in: the live file while the step runs, then the stored log. */
  source?: 'blob' | 'live' | 'none';
}

export interface LinesPage {
  lines: string[];
  offset: number;
  next: number | null;
  done: boolean;
}

export interface TablePage {
  header: string[];
  rows: string[][];
  offset: number;
  next: number | null;
  done: boolean;
}

export interface DirListing {
  entries: Array<{ path: string; digest: string; size: number }>;
}

export async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  const response = await fetch(url, signal === undefined ? {} : { signal });
  if (!response.ok) {
    const text = await response.text().catch(() => '');
    throw new Error(`${response.status} ${response.statusText}${text === '' ? '' : `: ${text.slice(0, 300)}`}`);
  }
  return (await response.json()) as T;
}

const q = encodeURIComponent;

export const api = {
  runs: (params: { pipeline: string; status: string; q: string; before?: string | null }) => {
    const search = new URLSearchParams({ limit: '50' });
    if (params.pipeline !== '') search.set('pipeline', params.pipeline);
    if (params.status !== '') search.set('status', params.status);
    if (params.q !== '') search.set('q', params.q);
    if (params.before != null) search.set('before', params.before);
    return `/api/runs?${search.toString()}`;
  },
  run: (runId: string) => `/api/runs/${q(runId)}`,
  events: (runId: string) => `/api/runs/${q(runId)}/events`,
  logs: (runId: string, stepId: string, offset: number) => `/api/runs/${q(runId)}/steps/${q(stepId)}/logs?offset=${offset}`,
  compare: (a: string, b: string) => `/api/compare/${q(a)}/${q(b)}`,
  blob: (digest: string, view: 'raw' | 'lines' | 'table' | 'dir', options: { name?: string; offset?: number; limit?: number; download?: boolean } = {}) => {
    const search = new URLSearchParams({ view });
    if (options.name !== undefined) search.set('name', options.name);
    if (options.offset !== undefined) search.set('offset', String(options.offset));
    if (options.limit !== undefined) search.set('limit', String(options.limit));
    if (options.download === true) search.set('download', '1');
    return `/api/blobs/${q(digest)}?${search.toString()}`;
  },
};
