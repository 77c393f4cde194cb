import type { RunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import { lastFinishedRun } from './run-history.js';

/** The run that reasons are relative to, indexed by step id. */
export interface LastRun {
  run: RunRecord | undefined;
  steps: Map<string, RunRecord['steps'][number]>;
}

function indexLastRun(run: RunRecord | undefined): LastRun {
  return { run, steps: new Map((run?.steps ?? []).map((s) => [s.id, s])) };
}

/** Runs whose last run is remembered at once: a worker serves many runs, each asking many times. */
const REMEMBERED = 64;

/**
 * The last finished run before each run, read from the store once per run and only when a miss needs
 * explaining (a fully cached run never reads it). A worker keeps one for every look-up it serves; a
 * local run or a plan has its own.
 */
export class LastRuns {
  private readonly loaded = new Map<string, Promise<LastRun>>();

  of(store: Store, pipeline: string, runId: string | undefined): Promise<LastRun> {
    const id = `${store.description}\0${pipeline}\0${runId ?? ''}`;
    let last = this.loaded.get(id);
    if (last === undefined) {
      last = lastFinishedRun(store, pipeline, runId).then(indexLastRun);
      if (this.loaded.size >= REMEMBERED) this.loaded.delete(this.loaded.keys().next().value as string);
      this.loaded.set(id, last);
    }
    return last;
  }
}
