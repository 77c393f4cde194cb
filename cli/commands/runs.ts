import { shownStatus } from '../../cache/process-alive.js';
import { declinedSteps, type RunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import { formatDuration } from '../../engine/durations.js';
import { recordedUsage } from '../../engine/cost/describe-usage.js';
import { listRuns } from '../../engine/records/run-history.js';
import { elementLines } from '../terminal/map-elements.js';
import { UsageError } from '../../cache/errors.js';
import { declinedNote, runSummary } from '../terminal/run-summary.js';
import { pricesOf, runCostBrief, runCostLine, stepUsageLines } from '../terminal/cost-text.js';

export async function runsCommand(args: { pipeline: string | undefined; limit: number; json: boolean }, store: Store): Promise<number> {
  const runs = (await listRuns(store, args.pipeline)).slice(0, args.limit);
  const pinned = await store.listPinned();
  if (args.json) {
    const rows = runs.map((r) => ({
      runId: r.runId,
      pipeline: r.pipeline,
      status: shownStatus(r),
      startedAt: r.startedAt,
      durationMs: r.durationMs ?? null,
      pinned: pinned.has(r.runId),
      /** Steps that ran but decided not to act (`ctx.decline`). */
      declined: declinedSteps(r.steps),
      /** What the run spent and the cache saved it (null: a run from before usage was kept). */
      usage: recordedUsage(r) ?? null,
    }));
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  if (runs.length === 0) {
    process.stdout.write(`no runs in ${store.description}\n`);
    return 0;
  }
  for (const r of runs) {
    const count = (status: string): number => r.steps.filter((s) => s.status === status).length;
    const declined = declinedNote(r.steps);
    const cost = runCostBrief(r);
    process.stdout.write(
      `${r.runId}  ${r.pipeline.padEnd(16)} ${shownStatus(r).padEnd(11)} ${formatDuration(r.durationMs ?? 0).padStart(8)}  ${count('executed')} executed, ${count('cached')} cached, ${count('failed')} failed${declined === '' ? '' : ` · ${declined}`}${cost === '' ? '' : ` · ${cost}`}${pinned.has(r.runId) ? '  [pinned]' : ''}\n`,
    );
  }
  return 0;
}

/** The run with this id, or a usage error that says how to find one. */
export async function requireRun(store: Store, runId: string): Promise<RunRecord> {
  const run = await store.getRun(runId);
  if (run === undefined) throw new UsageError(`no run ${runId} in ${store.description}`, 'list runs with `flywheel runs`');
  return run;
}

export async function showCommand(args: { runId: string; json: boolean }, store: Store): Promise<number> {
  const stored = await requireRun(store, args.runId);
  // A Temporal run in progress: the workflow knows more than the last saved record.
  const run = stored.engine === 'temporal' && stored.status === 'running' ? await (await import('../../workers/live-run.js')).liveRun(stored) : stored;
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ ...(runSummary(run) as object), startedAt: run.startedAt, overrides: run.overrides, record: run }, null, 2)}\n`);
    return 0;
  }
  const lines = [`run ${run.runId} of ${run.pipeline}: ${shownStatus(run)}, started ${run.startedAt}, took ${formatDuration(run.durationMs ?? 0)}`];
  if (run.overrides.length > 0) lines.push(`  overrides: ${run.overrides.join(' ')}`);
  const cost = runCostLine(run);
  if (cost !== undefined) lines.push(`  ${cost}`);
  if (run.prices !== undefined) lines.push(`  priced by ${run.prices.source}`);
  for (const s of run.steps) {
    lines.push(`  ${s.status.padEnd(8)} ${s.id}  ${formatDuration(s.durationMs ?? 0)}  ${s.reason}`);
    // One attempt goes without saying, but for a failure: it says whether retries were made.
    if (s.attempts !== undefined && (s.attempts > 1 || s.status === 'failed')) lines.push(`           attempts ${s.attempts}`);
    if (s.declined !== undefined) lines.push(`           declined: ${s.declined}`);
    if (s.warning !== undefined) lines.push(`           warning: ${s.warning}`);
    if (s.cacheKey) lines.push(`           key ${s.cacheKey}`);
    for (const [name, o] of Object.entries(s.outputs)) lines.push(`           ${name}: ${o.kind} ${o.digest} (${o.size} bytes)`);
    if (s.error) lines.push(`           error ${s.error.code}: ${s.error.message}`);
    if (s.elements) lines.push(...elementLines(s.elements, '           '));
    lines.push(...stepUsageLines(s, pricesOf(run), '           '));
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export async function pinCommand(args: { runId: string; pinned: boolean }, store: Store): Promise<number> {
  await requireRun(store, args.runId);
  await store.setPinned(args.runId, args.pinned);
  process.stdout.write(`${args.pinned ? 'pinned' : 'unpinned'} ${args.runId}\n`);
  return 0;
}
