import { hostname } from 'node:os';
import type { RunRecord, StepRunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import type { RunHeader } from '../core/run-protocol.js';
import { runUsage } from '../core/usage.js';
import type { Prices } from '../cost/price-table.js';
import type { ResolvedPipeline } from '../validate/validate.js';

/** The fields of a run's header fixed when it starts, by the process that starts it. */
export type RunStart = Omit<RunHeader, 'status' | 'finishedAt' | 'durationMs'>;

/** A step the run never got to: how the `running` record starts, and what an unfinished one still shows. */
function notReached(id: string, step: string, upstream: readonly string[] | undefined): StepRunRecord {
  return { id, step, status: 'pending', reasonCodes: [], reason: 'not reached', outputs: {}, ...(upstream === undefined ? {} : { upstream: [...upstream] }) };
}

/**
 * Keeps a run's record true in the store while it runs: the `running` record first (every step
 * pending), each finished step journalled as the core hands it over, the whole record at the end.
 * A recorder that did not see the whole run (a Temporal activity) reads the rest back from the store.
 */
export class RunRecorder {
  private readonly known = new Map<string, StepRunRecord>();

  constructor(
    private readonly store: Store,
    private readonly runId: string,
  ) {}

  /** Writes the `running` record of a run this process starts, every step pending; returns its fixed header. */
  async open(run: {
    pipeline: ResolvedPipeline;
    startedAt: string;
    engine: 'local' | 'temporal';
    overrides: readonly string[];
    /** The pipeline file, when the run was loaded from one. */
    source?: string | undefined;
    /** The price table the run's usage is priced by (see engine/cost/price-table.ts). */
    prices?: Prices | undefined;
  }): Promise<RunStart> {
    const header: RunStart = {
      format: 'flywheel.run/v1',
      runId: this.runId,
      pipeline: run.pipeline.name,
      startedAt: run.startedAt,
      host: hostname(),
      pid: process.pid,
      engine: run.engine,
      ...(run.source === undefined ? {} : { source: run.source }),
      overrides: [...run.overrides],
      ...(run.prices === undefined ? {} : { prices: run.prices }),
    };
    await this.store.putRun({ ...header, status: 'running', steps: run.pipeline.nodes.map((n) => notReached(n.id, n.step.id, n.upstream)) });
    return header;
  }

  async append(steps: readonly StepRunRecord[]): Promise<void> {
    await this.store.appendRunSteps(this.runId, steps);
    for (const step of steps) this.known.set(step.id, step);
  }

  /**
   * Writes the final record: `steps` over what was saved before, for the pipeline's `nodes` in order. Returns it
   * even when the store cannot take it (`onSaveFailed` hears why), so the outcome is still reported.
   */
  async close(
    header: RunHeader,
    nodes: ReadonlyArray<{ id: string; step: string; upstream?: readonly string[] }>,
    steps: readonly StepRunRecord[],
    onSaveFailed?: (error: unknown) => void,
  ): Promise<RunRecord> {
    for (const step of steps) this.known.set(step.id, step);
    if (nodes.some((n) => !this.known.has(n.id))) {
      const saved = await this.store.getRun(this.runId);
      for (const step of saved?.steps ?? []) if (!this.known.has(step.id)) this.known.set(step.id, step);
    }
    const all = nodes.map((n) => this.known.get(n.id) ?? notReached(n.id, n.step, n.upstream));
    const record: RunRecord = { ...header, usage: runUsage(all), steps: all };
    try {
      await this.store.putRun(record);
    } catch (error) {
      if (onSaveFailed === undefined) throw error;
      onSaveFailed(error);
    }
    return record;
  }
}
