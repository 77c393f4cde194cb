// The server's JSON API (ui/server/): its answers' types come from where the server defines them, so the
// app reads what the store records and the server sends, never a copy of it.
export type {
  CompareCost,
  CompareResponse,
  CompareRow,
  CompareSection,
  CostSide,
  DirListing,
  ElementCounts,
  ElementReason,
  KeyComponents,
  LinesPage,
  LogsPage,
  OutputComparison,
  OutputRecord,
  RunComparison,
  RunCost,
  RunRecord,
  RunResponse,
  RunStatus,
  RunSummary,
  RunSummaryCost,
  RunsPage,
  ShownStatus,
  StepComparison,
  StepCost,
  StepRunRecord,
  StepStatus,
  TablePage,
} from '../../server/api-types';

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
  logs: (runId: string, stepId: string, offset: number, after?: string) =>
    `/api/runs/${q(runId)}/steps/${q(stepId)}/logs?offset=${offset}${after === undefined ? '' : `&after=${q(after)}`}`,
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
