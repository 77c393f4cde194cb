import type { CompareRow, CompareSection } from './api';
import { compact } from './format';

const BASE = new Set(['kind', 'node', 'step', 'output', 'rows']);

function num(v: number | null, scale: 'rate' | 'number'): string {
  if (v === null) return '–';
  return scale === 'rate' ? `${(v * 100).toFixed(1)}%` : v.toFixed(3);
}

function delta(row: CompareRow): string {
  if (row.delta === null) return '–';
  const sign = row.delta > 0 ? '+' : '';
  const text = row.scale === 'rate' ? `${sign}${(row.delta * 100).toFixed(1)} pt` : `${sign}${row.delta.toFixed(3)}`;
  if (row.deltaCi === null) return text;
  const [lo, hi] = row.deltaCi;
  return `${text} [${num(lo, row.scale)}, ${num(hi, row.scale)}]`;
}

/** A field that holds a value per run ({a, b}) reads "a → b"; anything else as JSON. */
function pairText(value: unknown): string {
  if (value !== null && typeof value === 'object' && 'a' in value && 'b' in value) {
    const { a, b } = value as { a: unknown; b: unknown };
    return JSON.stringify(a) === JSON.stringify(b) ? compact(b, 200) : `${compact(a, 100)} → ${compact(b, 100)}`;
  }
  return compact(value, 200);
}

/** The sections the runs' pipeline adds to a comparison (`extensions.compare`; the flagship's metrics, judge, mirroring, deploy). */
export function Sections({ sections }: { sections: readonly CompareSection[] }) {
  if (sections.length === 0) return null;
  return (
    <>
      <h2>Metrics</h2>
      {sections.map((s) => (
        <div key={`${s.node}.${s.output}.${s.kind}`} className="section">
          <h3>
            {s.node}{' '}
            <span className="muted">
              ({s.step}.{s.output}) · {s.kind}
            </span>
          </h3>
          <table className="grid">
            <tbody>
              {Object.entries(s)
                .filter(([k]) => !BASE.has(k))
                .map(([k, v]) => (
                  <tr key={k}>
                    <th>{k}</th>
                    <td className="mono">{pairText(v)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
          {s.rows !== undefined && s.rows.length > 0 && (
            <table className="grid metrics">
              <thead>
                <tr>
                  <th>slice</th>
                  <th>metric</th>
                  <th className="num">A</th>
                  <th className="num">B</th>
                  <th className="num">change [95% CI]</th>
                </tr>
              </thead>
              <tbody>
                {s.rows.map((r) => (
                  <tr key={`${r.slice}/${r.metric}`}>
                    <td>{r.slice}</td>
                    <td>{r.metric}</td>
                    <td className="num">{num(r.a, r.scale)}</td>
                    <td className="num">{num(r.b, r.scale)}</td>
                    <td className={`num ${r.delta === null || r.delta === 0 ? '' : r.delta > 0 ? 'up' : 'down'}`}>{delta(r)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      ))}
    </>
  );
}
