import type { Logger } from 'pino';
import { classifyError } from '../cache/errors.js';
import type { RunRecord } from '../cache/records.js';
import type { Store } from '../cache/store.js';
import { feeder, RunCore } from './core/run-core.js';
import type { CoreCommand, CoreEvent, RunEvent } from './core/run-protocol.js';
import { indexLastRun, type LastRun } from './decide.js';
import { executeOnce, type ExecuteOutcome } from './execute-once.js';
import { KeyResolver } from './resolve-key.js';
import { lastFinishedRun, newRunId } from './run-history.js';
import { RunRecorder } from './run-recorder.js';
import type { ResolvedNode, ResolvedPipeline } from './validate.js';
import { coreNode } from './core-node.js';
import { assembleMap } from './map/assemble-map.js';
import { executeElements } from './map/execute-elements.js';

export type { RunEvent } from './core/run-protocol.js';

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

/** What an execution says to the core. */
function outcomeEvent(id: string, runId: string, outcome: ExecuteOutcome): CoreEvent {
  switch (outcome.kind) {
    case 'executed':
      return {
        type: 'executed',
        id,
        outputs: outcome.outputs,
        durationMs: outcome.durationMs,
        computedBy: runId,
        attempts: outcome.attempts,
        ...(outcome.logs === undefined ? {} : { logs: outcome.logs }),
      };
    case 'reused':
      return { type: 'executed', id, outputs: outcome.outputs, durationMs: outcome.durationMs, computedBy: outcome.computedBy, attempts: 0 };
    case 'failed':
      return {
        type: 'failed',
        id,
        error: { code: outcome.error.code, message: outcome.error.message },
        attempts: outcome.attempts,
        ...(outcome.logs === undefined ? {} : { logs: outcome.logs }),
      };
    case 'contended':
      return { type: 'failed', id, error: { code: 'STEP_FAILED', message: `internal: a waiting claim came back held by ${outcome.holder.description}` } };
  }
}

/**
 * Runs a validated pipeline in this process: the run core decides, this driver carries its commands out
 * with promises (look-ups in parallel, executions up to `concurrency`). Identical keys execute once
 * across processes sharing a store. Resolves with the run record (also saved in the store); a failed
 * step fails the run, never throws.
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
  const env = options.env ?? process.env;
  const runId = newRunId();
  const log = options.logger.child({ pipeline: pipeline.name, runId });
  const emit = options.onEvent ?? (() => undefined);
  const recorder = new RunRecorder(store, runId);
  const header = await recorder.open({ pipeline, startedAt: new Date().toISOString(), engine: 'local', overrides: options.overrides ?? [] });
  log.info({ steps: pipeline.nodes.length, store: store.description }, 'run started');

  // The last run only explains misses: a fully cached run never reads it.
  let lastRun: Promise<LastRun> | undefined;
  const resolver = new KeyResolver({
    store,
    pipeline,
    env,
    force: options.force ?? [],
    forceAll: options.forceAll ?? false,
    repair: true,
    lastRun: () => (lastRun ??= lastFinishedRun(store, pipeline.name, runId).then(indexLastRun)),
  });
  const core = new RunCore(pipeline.nodes.map(coreNode), {
    mode: 'run',
    header,
    now: Date.now,
    recordRunning: true,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
  });
  const abort = new AbortController();

  return new Promise<RunRecord>((resolve, reject) => {
    const feed = (event: CoreEvent | 'start'): void => {
      try {
        send(event);
      } catch (error) {
        reject(error as Error); // a bug in the core or this driver: never leave the caller waiting
      }
    };

    const onOuterAbort = (): void => {
      abort.abort(options.signal?.reason);
      feed({ type: 'cancel' });
    };
    options.signal?.addEventListener('abort', onOuterAbort, { once: true });

    const execute = async (command: Extract<CoreCommand, { type: 'execute' }>): Promise<void> => {
      const node = pipeline.byId.get(command.id);
      if (node === undefined) throw new Error(`internal: no node ${command.id}`);
      const stepLog = log.child({ stepId: command.id, cacheKey: command.key });
      const outcome = await executeOnce({
        node,
        key: command.key,
        components: command.components,
        lookAgain: command.lookAgain,
        runId,
        upstream: (id) => command.upstream[id],
        upstreamKey: (id) => command.upstreamKeys[id],
        store,
        env,
        log: stepLog,
        signal: abort.signal,
        wait: true,
        onWait: (holder) => feed({ type: 'waiting', id: command.id, holder }),
        onProgress: (progress) => feed({ type: 'progress', id: command.id, progress }),
      }).catch((error: unknown): ExecuteOutcome => ({ kind: 'failed', error: classifyError(error), attempts: 0, shared: false }));
      // An execution logs its own end (into its captured log too); a shared failure or an error around it does not.
      if (outcome.kind === 'failed' && outcome.logs === undefined)
        stepLog.error({ code: outcome.error.code, err: outcome.error.message, shared: outcome.shared }, 'step failed');
      feed(outcomeEvent(command.id, runId, outcome));
    };

    const nodeOf = (id: string): ResolvedNode => {
      const node = pipeline.byId.get(id);
      if (node === undefined) throw new Error(`internal: no node ${id}`);
      return node;
    };

    // Each chunk is one invocation here: the core hands them out one by one under --concurrency.
    const executeChunk = async (command: Extract<CoreCommand, { type: 'execute-elements' }>): Promise<void> => {
      const results = await executeElements({
        node: nodeOf(command.id),
        key: command.key,
        indices: command.indices,
        lookAgain: command.lookAgain,
        runId,
        upstream: command.upstream,
        upstreamKeys: command.upstreamKeys,
        store,
        env,
        log: log.child({ stepId: command.id }),
        signal: abort.signal,
        parallel: command.parallel,
      }).catch((error: unknown) => {
        const { code, message } = classifyError(error);
        return command.indices.map((index) => ({ index, status: 'failed' as const, error: { code, message } }));
      });
      feed({ type: 'elements-done', id: command.id, results, parallel: command.parallel });
    };

    const assemble = async (command: Extract<CoreCommand, { type: 'assemble' }>): Promise<void> => {
      try {
        const { outputs, keys } = await assembleMap({ ...command, node: nodeOf(command.id), runId, store, env });
        log.info({ stepId: command.id, durationMs: command.durationMs }, 'map assembled');
        feed({ type: 'assembled', id: command.id, outputs, keys });
      } catch (error) {
        const { code, message } = classifyError(error);
        log.error({ stepId: command.id, code, err: message }, 'map could not be assembled');
        feed({ type: 'failed', id: command.id, error: { code, message } });
      }
    };

    const carryOut = (command: CoreCommand): void => {
      switch (command.type) {
        case 'notify':
          if (command.event.type === 'step-running') log.info({ stepId: command.event.id, cacheHit: false, reason: command.event.reason }, 'step started');
          emit(command.event);
          break;
        case 'resolve':
          resolver
            .resolveBatch(
              command.ids,
              (id) => core.outputsOf(id),
              (resolution) => {
                if (resolution.kind === 'hit') log.debug({ stepId: resolution.id, cacheKey: resolution.key, cacheHit: true }, 'cache hit');
                if ((resolution.kind === 'miss' || resolution.kind === 'map') && resolution.rejected) {
                  // An entry past its maxAge is routine; a missing or corrupt blob is worth a warning.
                  const routine = resolution.codes.every((code) => code === 'expired');
                  log[routine ? 'info' : 'warn'](
                    { stepId: resolution.id, cacheKey: resolution.key, cacheHit: false, reason: resolution.reason },
                    'cache entry rejected',
                  );
                }
                feed({ type: 'resolved', resolution });
              },
            )
            .then(
              () => feed({ type: 'resolve-done', batch: command.batch }),
              (error: unknown) => {
                const { code, message } = classifyError(error);
                feed({ type: 'resolve-failed', batch: command.batch, error: { code, message } });
              },
            );
          break;
        case 'execute':
          execute(command).catch((error: unknown) =>
            feed({ type: 'failed', id: command.id, error: { code: 'STEP_FAILED', message: `internal error: ${classifyError(error).message}` } }),
          );
          break;
        case 'execute-elements':
          void executeChunk(command);
          break;
        case 'assemble':
          void assemble(command);
          break;
        case 'save':
          // A killed run's record still shows what finished; a store that cannot take it costs only that.
          recorder.append(command.steps).then(
            () => feed({ type: 'saved', ok: true }),
            (error: unknown) => {
              log.warn({ err: error }, 'could not save run progress');
              feed({ type: 'saved', ok: false });
            },
          );
          break;
        case 'finish':
          options.signal?.removeEventListener('abort', onOuterAbort);
          recorder
            .close(command.header, command.nodes, command.steps, (error) => log.error({ err: error }, `could not save the run record in ${store.description}`))
            .then((record) => {
              log.info({ status: record.status, durationMs: record.durationMs }, 'run finished');
              emit({ type: 'run-finished', run: record });
              resolve(record);
            }, reject);
          break;
      }
    };

    const send = feeder(core, carryOut);
    if (options.signal?.aborted) onOuterAbort(); // cancelled before it began: the core starts nothing
    feed('start');
  });
}
