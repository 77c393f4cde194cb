import { useEffect, useState } from 'react';
import { api, getJson, type LinesPage, type TablePage } from './api';
import { compact } from './format';

const LIMIT = 50;

interface Page {
  header: string[];
  rows: string[][];
  offset: number;
  next: number | null;
  done: boolean;
}

/** JSON Lines: one row per line, a column per top-level key of the lines on the page. */
function fromLines(page: LinesPage): Page {
  const parsed = page.lines.map((line) => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      return line;
    }
  });
  const objects = parsed.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v));
  if (!objects) return { header: ['line'], rows: page.lines.map((l) => [l]), offset: page.offset, next: page.next, done: page.done };
  const header = [...new Set(parsed.flatMap((v) => Object.keys(v as object)))];
  const rows = parsed.map((v) => header.map((k) => (k in (v as object) ? compact((v as Record<string, unknown>)[k], 120) : '')));
  return { header, rows, offset: page.offset, next: page.next, done: page.done };
}

/** A JSONL (`view=lines`) or CSV (`view=table`) blob as a table, one page of 50 rows at a time from the server. */
export function PagedRows({ digest, name, view }: { digest: string; name: string; view: 'lines' | 'table' }) {
  const [offsets, setOffsets] = useState<number[]>([0]);
  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState<string | null>(null);
  const offset = offsets[offsets.length - 1]!;

  useEffect(() => {
    const abort = new AbortController();
    const url = api.blob(digest, view, { name, offset, limit: LIMIT });
    const load = view === 'lines' ? getJson<LinesPage>(url, abort.signal).then(fromLines) : getJson<TablePage>(url, abort.signal);
    load.then(
      (p) => {
        setPage(p);
        setError(null);
      },
      (e: unknown) => !abort.signal.aborted && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => abort.abort();
  }, [digest, name, view, offset]);

  if (error !== null) return <p className="error">{error}</p>;
  if (page === null) return <p className="muted">loading…</p>;
  return (
    <div className="paged">
      <div className="table-scroll">
        <table className="grid preview-table">
          <thead>
            <tr>
              {page.header.map((h, i) => (
                <th key={i}>{h}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {page.rows.map((row, r) => (
              <tr key={r}>
                {row.map((cell, c) => (
                  <td key={c}>{cell}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="pager">
        <button type="button" disabled={offsets.length === 1} onClick={() => setOffsets(offsets.slice(0, -1))}>
          ← previous
        </button>
        <span className="muted">
          page {offsets.length} · {page.rows.length} rows
        </span>
        <button type="button" disabled={page.done || page.next === null} onClick={() => setOffsets([...offsets, page.next!])}>
          next →
        </button>
      </div>
    </div>
  );
}
