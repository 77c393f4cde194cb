import { useEffect, useState } from 'react';
import { api, getJson, type RunSummary, type RunsPage } from './api';
import { duration, when } from './format';
import { Link } from './Link';
import { navigate, paths } from './router';
import { StatusBadge } from './StatusBadge';

const STATUSES = ['running', 'succeeded', 'failed', 'cancelled'];

interface Filters {
  pipeline: string;
  status: string;
  q: string;
}

function readFilters(search: string): Filters {
  const params = new URLSearchParams(search);
  return { pipeline: params.get('pipeline') ?? '', status: params.get('status') ?? '', q: params.get('q') ?? '' };
}

/** The filters live in the address (`/?pipeline=chain&status=failed`), so a filtered list can be shared. */
function writeFilters(filters: Filters): void {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value !== '') params.set(name, value);
  const search = params.toString();
  navigate(search === '' ? '/' : `/?${search}`, { replace: true });
}

/** `/`: every run, newest first, filtered on the server and paged with its `next` cursor. */
export function RunsList({ search }: { search: string }) {
  const filters = readFilters(search);
  const [text, setText] = useState(filters.q);
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [pipelines, setPipelines] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [picked, setPicked] = useState<string[]>([]);

  // The text box asks the server once typing pauses.
  useEffect(() => {
    if (text === filters.q) return;
    const timer = setTimeout(() => writeFilters({ ...filters, q: text }), 250);
    return () => clearTimeout(timer);
  }, [text, filters.q, filters.pipeline, filters.status]);

  useEffect(() => {
    const abort = new AbortController();
    setLoading(true);
    getJson<RunsPage>(api.runs(filters), abort.signal).then(
      (page) => {
        setRuns(page.runs);
        setNext(page.next);
        setPipelines(page.pipelines);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (abort.signal.aborted) return;
        setError(e instanceof Error ? e.message : String(e));
        setLoading(false);
      },
    );
    return () => abort.abort();
  }, [filters.pipeline, filters.status, filters.q]);

  const loadMore = () => {
    if (next === null) return;
    setLoading(true);
    getJson<RunsPage>(api.runs({ ...filters, before: next })).then(
      (page) => {
        setRuns((shown) => [...shown, ...page.runs]);
        setNext(page.next);
        setLoading(false);
      },
      (e: unknown) => {
        setError(e instanceof Error ? e.message : String(e));
        setLoading(false);
      },
    );
  };

  const togglePick = (runId: string) => setPicked((current) => (current.includes(runId) ? current.filter((r) => r !== runId) : [...current, runId].slice(-2)));

  return (
    <section className="runs">
      <div className="filters">
        <select aria-label="pipeline" value={filters.pipeline} onChange={(e) => writeFilters({ ...filters, pipeline: e.target.value })}>
          <option value="">all pipelines</option>
          {pipelines.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <select aria-label="status" value={filters.status} onChange={(e) => writeFilters({ ...filters, status: e.target.value })}>
          <option value="">any status</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <input type="search" placeholder="search runs, steps, overrides…" value={text} onChange={(e) => setText(e.target.value)} aria-label="search" />
        <button
          type="button"
          disabled={picked.length !== 2}
          onClick={() => {
            // Older run first: A is the baseline.
            const [x, y] = picked as [string, string];
            const older = runs.findIndex((r) => r.runId === x) > runs.findIndex((r) => r.runId === y);
            navigate(older ? paths.compare(x, y) : paths.compare(y, x));
          }}
          title="tick two runs to compare them"
        >
          Compare {picked.length}/2
        </button>
      </div>
      {error !== null && <p className="error">{error}</p>}
      <table className="grid runs-table">
        <thead>
          <tr>
            <th />
            <th>run</th>
            <th>pipeline</th>
            <th>status</th>
            <th>started</th>
            <th className="num">duration</th>
            <th className="num">executed</th>
            <th className="num">cached</th>
            <th className="num">failed</th>
            <th className="num">saved</th>
            <th className="num" title="what the run spent · what the cache saved it (money where the run had a price table)">
              cost
            </th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => (
            <tr key={run.runId} data-run={run.runId}>
              <td>
                <input type="checkbox" aria-label={`pick ${run.runId}`} checked={picked.includes(run.runId)} onChange={() => togglePick(run.runId)} />
              </td>
              <td className="mono">
                <Link to={paths.run(run.runId)}>{run.runId}</Link>
                {run.engine === 'temporal' && <span className="chip">temporal</span>}
              </td>
              <td>{run.pipeline}</td>
              <td>
                <StatusBadge status={run.status} />
                {run.declined.length > 0 && (
                  <span className="chip declined" title={`declined to act: ${run.declined.join(', ')}`}>
                    {run.declined.length} declined
                  </span>
                )}
              </td>
              <td>{when(run.startedAt)}</td>
              <td className="num">{duration(run.durationMs)}</td>
              <td className="num">{run.executed}</td>
              <td className="num">{run.cached}</td>
              <td className="num">{run.failed > 0 ? <span className="bad">{run.failed}</span> : 0}</td>
              <td className="num">{run.savedMs > 0 ? duration(run.savedMs) : '–'}</td>
              <td className="num run-cost" title={run.cost === null ? 'recorded before usage was kept' : run.cost.detail}>
                {run.cost === null ? (
                  '–'
                ) : (
                  <>
                    <span className={run.cost.priced ? 'money-sm' : ''}>{run.cost.spent || '–'}</span>
                    {run.cost.saved !== '' && <span className="muted"> · saved {run.cost.saved}</span>}
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!loading && runs.length === 0 && error === null && <p className="muted">No runs match. Run a pipeline with `flywheel run`, then reload.</p>}
      <div className="more">
        {loading ? (
          <span className="muted">loading…</span>
        ) : (
          next !== null && (
            <button type="button" onClick={loadMore}>
              Load more
            </button>
          )
        )}
      </div>
    </section>
  );
}
