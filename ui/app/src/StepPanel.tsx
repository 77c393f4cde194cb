import type { ElementCounts, RunRecord, StepCost, StepRunRecord } from './api';
import { CostFigure, TokenLines } from './Cost';
import { duration, shortDigest, when } from './format';
import { JsonTree } from './JsonTree';
import { Link } from './Link';
import { OutputPreview } from './OutputPreview';
import { ReasonChips } from './ReasonChips';
import { paths } from './router';
import { DeclinedBadge, StatusBadge } from './StatusBadge';
import { StepLogs } from './StepLogs';

/**
 * `/runs/<runId>/steps/<stepId>`: why the step ran (or whose result it reused), whether it declined to act,
 * what it spent and what the cache saved, what its key is made of, its logs and its outputs.
 */
export function StepPanel({ run, step, cost }: { run: RunRecord; step: StepRunRecord; cost: StepCost | undefined }) {
  const c = step.components;
  const outputs = Object.entries(step.outputs);
  return (
    <aside className="panel" aria-label={`step ${step.id}`}>
      <div className="panel-head">
        <h2>
          {step.id} <span className="muted">{step.step}</span> <StatusBadge status={step.status} />
          {step.declined !== undefined && <DeclinedBadge reason={step.declined} />}
        </h2>
        <Link to={paths.run(run.runId)} className="close" title="close">
          ×
        </Link>
      </div>
      <dl className="facts-list">
        <dt>why</dt>
        <dd className="reason">
          {step.reason} <ReasonChips codes={step.reasonCodes} />
        </dd>
        {step.declined !== undefined && (
          <>
            <dt>decision</dt>
            <dd className="declined-reason">
              declined{step.status === 'cached' ? ' (when the reused result was computed)' : ''}: {step.declined}
            </dd>
          </>
        )}
        {step.computedBy !== undefined && (
          <>
            <dt>result</dt>
            <dd>
              reused from run <Link to={paths.run(step.computedBy)}>{step.computedBy}</Link>
              {step.computedBy !== run.runId && (
                <>
                  {' '}
                  (<Link to={paths.compare(step.computedBy, run.runId)}>compare</Link>)
                </>
              )}
            </dd>
          </>
        )}
        <dt>started</dt>
        <dd>{when(step.startedAt)}</dd>
        <dt>{step.status === 'cached' ? 'saved' : 'duration'}</dt>
        <dd>{duration(step.status === 'cached' ? step.savedMs : step.durationMs)}</dd>
        {cost?.spent != null && (
          <>
            <dt>spent</dt>
            <dd className="step-cost" data-cost="spent">
              <CostFigure side={cost.spent} nothing="nothing measurable" />
              <TokenLines side={cost.spent} />
            </dd>
          </>
        )}
        {cost?.saved != null && (
          <>
            <dt>cost saved</dt>
            <dd className="step-cost" data-cost="saved">
              <CostFigure side={cost.saved} nothing="nothing measurable" />
              {step.status !== 'cached' && <span className="muted"> (by the results it reused)</span>}
              <TokenLines side={cost.saved} />
            </dd>
          </>
        )}
        {step.attempts !== undefined && (
          <>
            <dt>attempts</dt>
            <dd>{step.attempts}</dd>
          </>
        )}
        {step.cacheKey !== undefined && (
          <>
            <dt>cache key</dt>
            <dd className="mono" title={step.cacheKey}>
              {shortDigest(step.cacheKey)}
            </dd>
          </>
        )}
        {step.elements !== undefined && (
          <>
            <dt>elements</dt>
            <dd>
              {step.elements.executed} executed, {step.elements.cached} cached, {step.elements.failed} failed of {step.elements.total}
              {step.elements.leftOut !== undefined && <> · left out {step.elements.leftOut}</>}
            </dd>
          </>
        )}
      </dl>
      {step.warning !== undefined && <p className="warning">{step.warning}</p>}
      {step.error !== undefined && (
        <div className="error-box">
          <strong>{step.error.code}</strong>
          <pre>{step.error.message}</pre>
        </div>
      )}
      {step.elements !== undefined && <ElementDetails elements={step.elements} />}
      {step.elements?.failures !== undefined && step.elements.failures.length > 0 && (
        <details>
          <summary>{step.elements.failures.length} failed elements</summary>
          <ul>
            {step.elements.failures.map((f) => (
              <li key={f.index}>
                #{f.index} {f.code}: {f.message}
                {f.attempts !== undefined && <span className="muted"> (after {f.attempts} attempts)</span>}
                {f.logs !== undefined && (
                  <>
                    {' '}
                    <a className="element-log" href={`/api/blobs/${f.logs}?view=raw&name=element-${f.index}.log`} target="_blank" rel="noreferrer">
                      log
                    </a>
                  </>
                )}
              </li>
            ))}
          </ul>
        </details>
      )}

      {c !== undefined && (
        <>
          <h3>Config</h3>
          <div className="json-tree">
            <JsonTree value={c.config} open={3} />
          </div>
          <h3>Key components</h3>
          <table className="grid components">
            <tbody>
              <tr>
                <th>version</th>
                <td colSpan={2}>{c.version}</td>
              </tr>
              {Object.entries(c.inputs).map(([name, input]) => (
                <tr key={`in:${name}`}>
                  <th>input {name}</th>
                  <td>{input === null ? <span className="muted">none</span> : <code>{input.from}</code>}</td>
                  <td className="mono" title={input?.digest}>
                    {input === null ? '' : shortDigest(input.digest)}
                    {input?.fileName !== undefined && <span className="muted"> {input.fileName}</span>}
                  </td>
                </tr>
              ))}
              {Object.entries(c.env).map(([name, value]) => (
                <tr key={`env:${name}`}>
                  <th>env {name}</th>
                  <td colSpan={2} className="mono">
                    {value ?? <span className="muted">unset</span>}
                  </td>
                </tr>
              ))}
              {c.map !== undefined && (
                <tr>
                  <th>map</th>
                  <td colSpan={2}>
                    over <code>{c.map.over}</code>, batch size {c.map.batchSize}
                  </td>
                </tr>
              )}
              {c.external !== undefined && (
                <tr>
                  <th>outside state</th>
                  <td colSpan={2}>
                    <JsonTree value={c.external} open={1} />
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </>
      )}

      <h3>Logs</h3>
      <StepLogs runId={run.runId} stepId={step.id} running={step.status === 'running' || (run.status === 'running' && step.status === 'pending')} />

      <h3>Outputs</h3>
      {outputs.length === 0 ? (
        <p className="muted">No outputs{step.status === 'executed' || step.status === 'cached' ? '' : ' (the step has no result)'}.</p>
      ) : (
        outputs.map(([name, output]) => <OutputPreview key={name} name={name} output={output} />)
      )}
    </aside>
  );
}

/** A map's elements: why those that ran had to, which kept a result of other code, which took more than one attempt. */
function ElementDetails({ elements }: { elements: ElementCounts }) {
  const { reasons = [], kept, retried = {} } = elements;
  if (reasons.length === 0 && kept === undefined && Object.keys(retried).length === 0) return null;
  return (
    <ul className="element-reasons" aria-label="element reasons">
      {reasons.map((r) => (
        <li key={r.reason}>
          {r.count} of {elements.total} elements: {r.reason} <span className="muted">({r.indices})</span> <ReasonChips codes={r.codes} />
        </li>
      ))}
      {kept !== undefined && (
        <li className="warning">
          {kept.count} of {elements.total} elements kept from other code: {kept.reason} <span className="muted">({kept.indices})</span>
        </li>
      )}
      {Object.entries(retried).map(([attempts, indices]) => (
        <li key={`retried-${attempts}`}>
          {attempts} attempts: {/^\d+$/.test(indices) ? 'element' : 'elements'} <span className="mono">{indices}</span>
        </li>
      ))}
    </ul>
  );
}
