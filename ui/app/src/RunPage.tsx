import { RunCostLine } from './Cost';
import { duration, when } from './format';
import { Dag } from './Dag';
import { Link } from './Link';
import { navigate, paths } from './router';
import { StatusBadge } from './StatusBadge';
import { StepPanel } from './StepPanel';
import { useRun } from './useRun';

/** `/runs/<runId>` and `/runs/<runId>/steps/<stepId>`: the run's DAG, and the chosen step beside it. */
export function RunPage({ runId, stepId }: { runId: string; stepId: string | null }) {
  const loaded = useRun(runId);
  if (loaded.state === 'loading') return <p className="muted">loading run {runId}…</p>;
  if (loaded.state === 'error')
    return (
      <p className="error">
        Run {runId}: {loaded.error}
      </p>
    );
  const { run, cost, live } = loaded;
  const count = (status: string) => run.steps.filter((s) => s.status === status).length;
  const saved = run.steps.reduce((sum, s) => sum + (s.status === 'cached' ? (s.savedMs ?? 0) : 0), 0);
  const step = stepId === null ? undefined : run.steps.find((s) => s.id === stepId);
  const declined = run.steps.filter((s) => s.declined !== undefined).map((s) => s.id);
  return (
    <section className="run">
      <div className="run-head">
        <h1>
          {run.pipeline} <span className="mono muted">{run.runId}</span> <StatusBadge status={run.status} />
          {live && <span className="live">● live</span>}
        </h1>
        <div className="facts">
          <span>started {when(run.startedAt)}</span>
          <span>duration {duration(run.durationMs)}</span>
          <span>
            {count('executed')} executed · {count('cached')} cached · {count('failed')} failed · {count('skipped')} skipped
            {declined.length > 0 && (
              <span className="declined-count">
                {' '}
                · {declined.length} declined ({declined.join(', ')})
              </span>
            )}
          </span>
          {saved > 0 && <span>saved {duration(saved)}</span>}
          {run.engine !== undefined && <span>engine {run.engine}</span>}
          <span>host {run.host}</span>
          {run.overrides.length > 0 && (
            <span>
              overrides <code>{run.overrides.join(' ')}</code>
            </span>
          )}
        </div>
        {cost !== null && <RunCostLine cost={cost} />}
      </div>
      <div className={step === undefined ? 'run-body' : 'run-body with-panel'}>
        <Dag run={run} costs={cost?.steps ?? {}} selected={stepId} onSelect={(id) => navigate(paths.step(run.runId, id))} />
        {stepId !== null &&
          (step === undefined ? (
            <aside className="panel">
              <p className="error">No step {stepId} in this run.</p>
              <Link to={paths.run(run.runId)}>close</Link>
            </aside>
          ) : (
            <StepPanel run={run} step={step} cost={cost?.steps[step.id]} />
          ))}
      </div>
    </section>
  );
}
