import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { KeyComponents } from '../cache/cache-key.js';
import type { CacheKey } from '../cache/digest.js';
import type { OutputRecord, RunRecord, StepRunRecord } from '../cache/records.js';
import type { Store } from '../cache/store.js';
import { lookUpResult } from './cache-lookup.js';
import type { Progress } from './define-step.js';
import { FlywheelError } from './errors.js';
import { executeStep } from './execute-step.js';
import { externalState } from './external-state.js';
import { nodeKey } from './node-key.js';
import { storeResult } from './store-result.js';
import { decide, indexLastRun, type LastRun } from './decide.js';
import { lastFinishedRun, newRunId } from './run-history.js';
import type { ResolvedNode, ResolvedPipeline } from './validate.js';

export type RunEvent =
  | { type: 'run-started'; runId: string; pipeline: string; steps: string[] }
  | { type: 'step-running'; id: string; reason: string }
  | { type: 'step-waiting'; id: string; holder: string }
  | { type: 'step-progress'; id: string; progress: Progress }
  | { type: 'step-finished'; step: StepRunRecord }
  | { type: 'run-finished'; run: RunRecord };

export interface LocalRunOptions {
  store: Store;
  logger: Logger;
  /** Most steps executing at once. Default 4. */
  concurrency?: number;
  /** Node ids to re-run even when cached; their downstream re-runs only if outputs change. */
  force?: readonly string[];
  forceAll?: boolean;
  /** The `--set` arguments, kept in the run record. */
  overrides?: readonly string[];
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
  env?: NodeJS.ProcessEnv;
}

/** A key's result once computed; `sharedWith` names the run that computed it when another process did. */
interface Execution {
  outputs: Record<string, OutputRecord>;
  durationMs: number;
  sharedWith?: string;
}

/** Limits how many steps execute at once; cache look-ups do not take a slot. */
class Slots {
  private waiting: Array<() => void> = [];
  private free: number;
  constructor(size: number) {
    this.free = Math.max(1, size);
  }
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

function errorInfo(error: unknown): { code: string; message: string } {
  if (error instanceof FlywheelError) return { code: error.code, message: error.message };
  const e = (typeof error === 'object' && error !== null ? error : {}) as { name?: string; message?: string };
  return { code: e.name === 'ZodError' ? 'STEP_INVALID_DATA' : 'STEP_FAILED', message: e.message ?? `non-Error value thrown: ${String(error)}` };
}

/**
 * Runs a validated pipeline in this process: steps in dependency order, independent branches in
 * parallel, each step cached by its key. Identical keys execute once across processes sharing a store.
 * Resolves with the run record (also saved in the store); a failed step fails the run, never throws.
 *
 * @example
 * ```ts
 * import { createLogger, openStore, runLocal, validatePipeline } from 'flywheel';
 * import pipeline from './pipelines/example.js';
 *
 * const run = await runLocal(validatePipeline(pipeline, { 'word-frequencies': { top: 5 } }), {
 *   store: openStore(),            // .flywheel/ or FLYWHEEL_STORE
 *   logger: createLogger(),
 *   concurrency: 2,
 *   onEvent: (e) => e.type === 'step-finished' && console.log(e.step.id, e.step.status, e.step.reason),
 * });
 * process.exitCode = run.status === 'succeeded' ? 0 : 1;
 * ```
 */
export async function runLocal(pipeline: ResolvedPipeline, options: LocalRunOptions): Promise<RunRecord> {
  const { store } = options;
  const runId = newRunId();
  const startedAt = new Date();
  const log = options.logger.child({ pipeline: pipeline.name, runId });
  const emit = options.onEvent ?? (() => undefined);
  const force = new Set(options.force ?? []);
  const forcedHow = (id: string): 'all' | 'step' | undefined => (options.forceAll ? 'all' : force.has(id) ? 'step' : undefined);
  const slots = new Slots(options.concurrency ?? 4);
  const abort = new AbortController();
  const onOuterAbort = (): void => abort.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });

  // The last run only explains misses: a fully cached run never reads it.
  let lastRun: Promise<LastRun> | undefined;
  const loadLastRun = (): Promise<LastRun> => (lastRun ??= lastFinishedRun(store, pipeline.name, runId).then(indexLastRun));
  const results = new Map<string, StepRunRecord>();
  const outputsOf = (id: string): Record<string, OutputRecord> | undefined => results.get(id)?.outputs;
  const inFlight = new Map<CacheKey, Promise<Execution>>();

  const record = (status: RunRecord['status']): RunRecord => ({
    format: 'flywheel.run/v1',
    runId,
    pipeline: pipeline.name,
    status,
    startedAt: startedAt.toISOString(),
    ...(status === 'running' ? {} : { finishedAt: new Date().toISOString(), durationMs: Date.now() - startedAt.getTime() }),
    host: hostname(),
    pid: process.pid,
    overrides: [...(options.overrides ?? [])],
    steps: pipeline.nodes.map(
      (n) => results.get(n.id) ?? { id: n.id, step: n.step.id, status: 'pending', reasonCodes: [], reason: 'not reached', outputs: {} },
    ),
  });
  await store.putRun(record('running'));
  emit({ type: 'run-started', runId, pipeline: pipeline.name, steps: pipeline.nodes.map((n) => n.id) });
  log.info({ steps: pipeline.nodes.length, store: store.description }, 'run started');

  // Progress is saved after executed or failed steps (at most once a second), so the record of a
  // killed run still shows what finished; cached steps are cheap to rediscover and are not worth a write.
  let saving: Promise<void> = Promise.resolve();
  let lastSave = Date.now();
  const finish = (step: StepRunRecord): StepRunRecord => {
    results.set(step.id, step);
    emit({ type: 'step-finished', step });
    if ((step.status === 'executed' || step.status === 'failed') && Date.now() - lastSave >= 1000) {
      lastSave = Date.now();
      saving = saving.then(() => store.putRun(record('running'))).catch((error: unknown) => log.warn({ err: error }, 'could not save run progress'));
    }
    return step;
  };

  /** Executes a key once per process; other nodes with the same key share the promise. */
  const executeOnce = (node: ResolvedNode, key: CacheKey, components: KeyComponents, stepLog: Logger): { shared: boolean; work: Promise<Execution>; attempts: () => number } => {
    const existing = inFlight.get(key);
    if (existing) return { shared: true, work: existing, attempts: () => 0 };
    let attempts = 0;
    const work = (async (): Promise<Execution> => {
      const release = await slots.acquire();
      try {
        const lock = await store
          .lockKey(key, (holder) => emit({ type: 'step-waiting', id: node.id, holder }), abort.signal)
          .catch((error: unknown) => {
            if (abort.signal.aborted) throw new FlywheelError('STEP_CANCELLED', `step ${node.id} was cancelled while waiting for another process computing the same key`, { retryable: false });
            throw error;
          });
        try {
          // Another process may have produced it while we waited for the lock.
          if (node.step.cache !== false && forcedHow(node.id) === undefined) {
            const again = await lookUpResult(store, key, node.maxAgeMs, { repair: true });
            if (again.hit) return { outputs: again.entry.outputs, durationMs: again.entry.durationMs, sharedWith: again.entry.runId };
          }
          const started = Date.now();
          const { outputs } = await executeStep(node, {
            store,
            runId,
            log: stepLog,
            signal: abort.signal,
            upstreamOutputs: outputsOf,
            upstreamKey: (id) => results.get(id)?.cacheKey,
            onProgress: (progress) => emit({ type: 'step-progress', id: node.id, progress }),
            onAttemptFailed: (attempt, error) => {
              attempts = attempt;
              stepLog.warn({ attempt, err: error }, 'attempt failed; retrying');
            },
          });
          attempts += 1;
          const durationMs = Date.now() - started;
          if (node.step.cache !== false) {
            await storeResult(store, node, { format: 'flywheel.action/v1', key, step: node.step.id, createdAt: new Date().toISOString(), durationMs, runId, outputs, components }, outputsOf, options.env ?? process.env);
          }
          return { outputs, durationMs };
        } finally {
          await lock.release();
        }
      } finally {
        release();
      }
    })();
    work.catch(() => (attempts += 1));
    inFlight.set(key, work);
    return { shared: false, work, attempts: () => attempts };
  };

  const settle = async (node: ResolvedNode): Promise<StepRunRecord> => {
    const base = { id: node.id, step: node.step.id };
    const upstream = node.upstream.map((id) => results.get(id));
    const blocked = node.upstream.filter((_, i) => upstream[i]?.status !== 'executed' && upstream[i]?.status !== 'cached');
    if (blocked.length > 0) {
      const cancelled = abort.signal.aborted;
      return finish({ ...base, status: 'skipped', reasonCodes: [cancelled ? 'cancelled' : 'upstream-failed'], reason: cancelled ? 'run cancelled' : `upstream ${blocked.join(', ')} did not succeed`, outputs: {} });
    }
    if (abort.signal.aborted) return finish({ ...base, status: 'skipped', reasonCodes: ['cancelled'], reason: 'run cancelled', outputs: {} });

    const { key, components } = nodeKey(node, outputsOf, options.env, await externalState(node, outputsOf));
    const decision = await decide(node, key, components, { store, forced: forcedHow(node.id), repair: true, lastRun: loadLastRun });
    if (decision.hit) {
      // No child logger for a hit: creating a thousand of them is a visible share of a cached run.
      log.debug({ stepId: node.id, cacheKey: key, cacheHit: true }, 'cache hit');
      return finish({ ...base, status: 'cached', cacheKey: key, reasonCodes: ['cache-hit'], reason: decision.reason, components, outputs: decision.entry.outputs, durationMs: 0, savedMs: decision.entry.durationMs });
    }
    const why = decision.why;
    if (decision.rejected) log.warn({ stepId: node.id, cacheKey: key, cacheHit: false, reason: why.reason }, 'cache entry rejected');

    const stepLog = log.child({ stepId: node.id, cacheKey: key });
    const startedAt = new Date().toISOString();
    emit({ type: 'step-running', id: node.id, reason: why.reason });
    stepLog.info({ cacheHit: false, reason: why.reason }, 'step started');
    const t0 = Date.now();
    const execution = executeOnce(node, key, components, stepLog);
    try {
      const { shared, work } = execution;
      const done = await work;
      if (shared || done.sharedWith !== undefined) {
        const by = done.sharedWith === undefined ? 'another step of this run' : `run ${done.sharedWith}`;
        return finish({ ...base, status: 'cached', cacheKey: key, reasonCodes: ['shared-execution'], reason: `computed once by ${by} while this step waited`, components, outputs: done.outputs, durationMs: Date.now() - t0, savedMs: done.durationMs });
      }
      stepLog.info({ durationMs: done.durationMs }, 'step executed');
      return finish({ ...base, status: 'executed', cacheKey: key, reasonCodes: why.codes, reason: why.reason, components, outputs: done.outputs, startedAt, durationMs: Date.now() - t0, attempts: execution.attempts() });
    } catch (error) {
      const info = errorInfo(error);
      stepLog.error({ err: error, code: info.code }, 'step failed');
      const attempts = execution.attempts();
      return finish({ ...base, status: 'failed', cacheKey: key, reasonCodes: why.codes, reason: why.reason, components, outputs: {}, startedAt, durationMs: Date.now() - t0, error: info, ...(attempts > 0 ? { attempts } : {}) });
    }
  };

  // Each node awaits its upstream promises; Promise chaining gives dependency order and parallel branches.
  const settled = new Map<string, Promise<StepRunRecord>>();
  for (const node of pipeline.nodes) {
    const ups = node.upstream.map((id) => settled.get(id) as Promise<StepRunRecord>);
    settled.set(
      node.id,
      Promise.all(ups)
        .then(() => settle(node))
        // A bug or an unexpected store error fails this step (and skips its downstream), never the whole run record.
        .catch((error: unknown) => finish({ id: node.id, step: node.step.id, status: 'failed', reasonCodes: [], reason: 'internal error', outputs: {}, error: errorInfo(error) })),
    );
  }
  await Promise.all(settled.values());
  await saving;
  options.signal?.removeEventListener('abort', onOuterAbort);

  const failed = [...results.values()].some((s) => s.status === 'failed' || s.status === 'skipped');
  const final = record(failed ? 'failed' : 'succeeded');
  // The outcome is reported even when the store cannot take the record (e.g. it just went away).
  await store.putRun(final).catch((error: unknown) => log.error({ err: error }, `could not save the run record in ${store.description}`));
  log.info({ status: final.status, durationMs: final.durationMs }, 'run finished');
  emit({ type: 'run-finished', run: final });
  return final;
}
