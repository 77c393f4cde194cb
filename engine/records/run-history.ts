import { randomBytes } from 'node:crypto';
import type { RunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';

/** Sortable by start time: `20261126T160759.123Z-3f9a1c`. */
export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '')}-${randomBytes(3).toString('hex')}`;
}

/** The most recent finished run of a pipeline (of any, without one): what plans and reasons are relative to. */
export async function lastFinishedRun(store: Store, pipeline: string | undefined, excludeRunId?: string): Promise<RunRecord | undefined> {
  for (const runId of await store.listRunIds()) {
    if (runId === excludeRunId) continue;
    const record = await store.getRun(runId).catch(() => undefined);
    if (record !== undefined && (pipeline === undefined || record.pipeline === pipeline) && record.status !== 'running') return record;
  }
  return undefined;
}

/** All readable run records, newest first, optionally of one pipeline. */
export async function listRuns(store: Store, pipeline?: string): Promise<RunRecord[]> {
  const records: RunRecord[] = [];
  for (const runId of await store.listRunIds()) {
    const record = await store.getRun(runId).catch(() => undefined);
    if (record && (pipeline === undefined || record.pipeline === pipeline)) records.push(record);
  }
  return records;
}
