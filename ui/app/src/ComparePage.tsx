import { api, type CompareCost, type CompareResponse, type RunRecord } from './api';
import { CostFigure } from './Cost';
import { diffConfig } from './diff';
import { bytes, shortDigest } from './format';
import { Link } from './Link';
import { ReasonChips } from './ReasonChips';
import { paths } from './router';
import { Sections } from './Sections';
import { DeclinedBadge, StatusBadge } from './StatusBadge';
import { useJson } from './useJson';

/** `/compare/<runA>/<runB>`: what B changed relative to A — overrides, configs, steps that re-ran and why, outputs, metrics. */
export function ComparePage({ a, b }: { a: string; b: string }) {
  const loaded = useJson<CompareResponse>(api.compare(a, b));
  const runA = useJson<{ run: RunRecord }>(api.run(a));
  const runB = useJson<{ run: RunRecord }>(api.run(b));
  if (loaded.state === 'loading') return <p className="muted">comparing…</p>;
  if (loaded.state === 'error')
    return (
      <p className="error">
        Compare {a} → {b}: {loaded.error}
      </p>
    );
  const { comparison, cost, sections, note } = loaded.data;
  const recordA = runA.state === 'ok' ? runA.data.run : null;
  const recordB = runB.state === 'ok' ? runB.data.run : null;
  // A step declined in either run is shown even when its result is the same: the decision is what to see.
  const changed = comparison.steps.filter((s) => s.change !== 'same' || s.declinedA !== null || s.declinedB !== null);
  const declined = (ids: string[], run: string) => (ids.length === 0 ? [] : [`${ids.length} declined in ${run} (${ids.join(', ')})`]);
  const outputs = comparison.steps.flatMap((s) => s.outputs.filter((o) => o.change !== 'identical').map((o) => ({ step: s.id, ...o })));
  const configChanges = comparison.steps.flatMap((s) => {
    const before = recordA?.steps.find((x) => x.id === s.id)?.components?.config;
    const after = recordB?.steps.find((x) => x.id === s.id)?.components?.config;
    if (before === undefined || after === undefined) return [];
    return diffConfig(before, after).map((c) => ({ step: s.id, ...c }));
  });
  return (
    <section className="compare">
      <h1>
        {comparison.pipeline}: <Link to={paths.run(a)}>{a}</Link> → <Link to={paths.run(b)}>{b}</Link>
      </h1>
      <p className="facts">
        {[
          ...Object.entries(comparison.counts)
            .filter(([, n]) => n > 0)
            .map(([change, n]) => `${n} ${change}`),
          ...declined(comparison.declined.a, 'A'),
          ...declined(comparison.declined.b, 'B'),
        ].join(' · ')}
      </p>

      {cost !== null && <CostTable cost={cost} />}

      <h2>Configuration</h2>
      {recordA !== null && recordB !== null && (
        <table className="grid kv">
          <tbody>
            <tr>
              <th>overrides A</th>
              <td className="mono">{recordA.overrides.join(' ') || '(none)'}</td>
            </tr>
            <tr>
              <th>overrides B</th>
              <td className="mono">{recordB.overrides.join(' ') || '(none)'}</td>
            </tr>
          </tbody>
        </table>
      )}
      {configChanges.length === 0 ? (
        <p className="muted">No step's config differs.</p>
      ) : (
        <table className="grid config-diff">
          <thead>
            <tr>
              <th>step</th>
              <th>path</th>
              <th>A</th>
              <th>B</th>
            </tr>
          </thead>
          <tbody>
            {configChanges.map((c) => (
              <tr key={`${c.step}:${c.path}`}>
                <td>{c.step}</td>
                <td className="mono">{c.path}</td>
                <td className="mono old">{c.a ?? '(absent)'}</td>
                <td className="mono new">{c.b ?? '(absent)'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Steps</h2>
      {changed.length === 0 ? (
        <p className="muted">Every step has the same result in both runs.</p>
      ) : (
        <table className="grid steps-diff">
          <thead>
            <tr>
              <th>step</th>
              <th>change</th>
              <th>A</th>
              <th>B</th>
              <th>why</th>
            </tr>
          </thead>
          <tbody>
            {changed.map((s) => (
              <tr key={s.id} data-step={s.id}>
                <td>
                  <Link to={paths.step(b, s.id)}>{s.id}</Link>
                </td>
                <td>
                  {s.change}
                  {s.earlyCutoff && (
                    <span className="chip" title="re-ran and produced the same bytes: nothing below re-ran for it">
                      early cutoff
                    </span>
                  )}
                </td>
                <td>
                  {s.statusA === null ? '–' : <StatusBadge status={s.statusA} />}
                  {s.declinedA !== null && <DeclinedBadge reason={s.declinedA} />}
                </td>
                <td>
                  {s.statusB === null ? '–' : <StatusBadge status={s.statusB} />}
                  {s.declinedB !== null && <DeclinedBadge reason={s.declinedB} />}
                </td>
                <td>
                  {s.reason} <ReasonChips codes={s.codes} />
                  {s.declinedA !== null && <div className="declined-reason">declined in A: {s.declinedA}</div>}
                  {s.declinedB !== null && <div className="declined-reason">declined in B: {s.declinedB}</div>}
                  {s.error !== null && (
                    <div className="bad">
                      {s.error.code}: {s.error.message}
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Outputs that changed</h2>
      {outputs.length === 0 ? (
        <p className="muted">Every output is byte for byte the same.</p>
      ) : (
        <table className="grid">
          <thead>
            <tr>
              <th>step</th>
              <th>output</th>
              <th>change</th>
              <th>A</th>
              <th>B</th>
            </tr>
          </thead>
          <tbody>
            {outputs.map((o) => (
              <tr key={`${o.step}.${o.name}`}>
                <td>{o.step}</td>
                <td>{o.name}</td>
                <td>{o.change}</td>
                <td className="mono">{o.a === null ? '–' : `${shortDigest(o.a.digest)} ${bytes(o.a.size)}`}</td>
                <td className="mono">{o.b === null ? '–' : `${shortDigest(o.b.digest)} ${bytes(o.b.size)}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <Sections sections={sections} />
      {note !== null && <p className="muted">{note}</p>}
    </section>
  );
}

/** What each run spent and what the cache saved it, and the change from A to B. */
function CostTable({ cost }: { cost: CompareCost }) {
  const rows = [
    { key: 'spent', label: 'spent', nothing: 'nothing measurable' },
    { key: 'saved', label: 'saved by the cache', nothing: 'nothing' },
  ] as const;
  const unpriced = cost.a?.prices == null || cost.b?.prices == null;
  return (
    <>
      <h2>Cost</h2>
      <table className="grid cost-compare">
        <thead>
          <tr>
            <th />
            <th>A</th>
            <th>B</th>
            <th className="num">change</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.key} data-cost={row.key}>
              <th>{row.label}</th>
              <td>{cost.a === null ? <span className="muted">not recorded</span> : <CostFigure side={cost.a[row.key]} nothing={row.nothing} />}</td>
              <td>{cost.b === null ? <span className="muted">not recorded</span> : <CostFigure side={cost.b[row.key]} nothing={row.nothing} />}</td>
              <td className={`num change ${changeClass(cost.change?.[row.key], row.key)}`}>{cost.change?.[row.key] ?? '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {unpriced && <p className="cost-hint">resources only where a run had no price table (FLYWHEEL_PRICES or flywheel.prices.json gives money)</p>}
    </>
  );
}

/** Spending more is bad and saving more good: the change's colour. */
function changeClass(change: string | undefined, key: 'spent' | 'saved'): string {
  if (change === undefined) return '';
  const more = /(^|\s)\+/.test(change);
  const less = /(^|\s)-/.test(change);
  // No change, or more of one resource and less of another: no colour.
  if (more === less) return '';
  return more === (key === 'saved') ? 'up' : 'down';
}
