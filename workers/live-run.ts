import type { RunRecord } from '../cache/records.js';
import { findRunWorkflow, queryProgress, withTemporal } from './temporal-client.js';

/**
 * A run the store still lists as running, overlaid with the workflow's live step states: the store
 * holds what earlier generations saved, the `progress` query what is happening now. `flywheel show`
 * and the run view both read a Temporal run this way.
 */
export async function liveRun(run: RunRecord): Promise<RunRecord> {
  return withTemporal(async (connection) => {
    const handle = await findRunWorkflow(connection, run.runId);
    if (handle === undefined) return run;
    const progress = await queryProgress(handle).catch(() => undefined);
    if (progress === undefined) return run;
    const live = new Map(progress.steps.map((s) => [s.id, s]));
    return {
      ...run,
      steps: run.steps.map((s) => {
        const now = live.get(s.id);
        return now === undefined || now.status === 'pending' || (s.status !== 'pending' && s.status !== 'running')
          ? s
          : { ...s, status: now.status, reason: now.reason || s.reason, ...(now.declined === undefined ? {} : { declined: now.declined }) };
      }),
    };
  });
}
