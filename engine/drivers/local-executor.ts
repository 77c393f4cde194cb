import { loadPrices } from '../cost/price-table.js';
import { trustFromEnv } from '../../cache/trust-config.js';
import type { Logger } from 'pino';
import type { RunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import { coreNode } from './core-node.js';
import { outcomeEvent } from '../core/outcome.js';
import { feeder, RunCore } from '../core/run-core.js';
import type { CoreCommand, CoreEvent, RunEvent } from '../core/run-protocol.js';
import { assembleCommand, executeCommand, executeElementsCommand } from './execute-command.js';
import { nodeOf } from '../keys/node-key.js';
import { KeyResolver } from './resolve-key.js';
import { newRunId } from '../records/run-history.js';
import { RunRecorder } from '../records/run-recorder.js';
import type { ResolvedPipeline } from '../validate/validate.js';
import { RunTrace } from '../tracing/run-trace.js';
import { startTracing } from '../tracing/tracing.js';

export type { RunEvent } from '../core/run-protocol.js';

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
  /** The pipeline file the run was loaded from, kept in the run record (`compare` finds the pipeline's extensions there). */
  source?: string;
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs a validated pipeline in this process: the run core decides, this driver carries its commands out
 * with promises (look-ups in parallel, executions up to `concurrency`, timers for retries). Identical
 * keys execute once across processes sharing a store. Resolves with the run record (also saved in the
 * store); a failed step fails the run, never throws.
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
  // A signing or trusted key that cannot be read stops the run before anything starts.
  if (trustFromEnv(env).signer?.ephemeral === true)
    options.logger.warn(
      { fix: 'give this machine a signing key: flywheel keys generate, then FLYWHEEL_SIGNING_KEY=<its .key>' },
      'FLYWHEEL_TRUSTED_KEYS is set without FLYWHEEL_SIGNING_KEY: what this run computes is signed by a key of its own process, so later runs that trust only the listed keys compute it again',
    );
  const runId = newRunId();
  const log = options.logger.child({ pipeline: pipeline.name, runId });
  const emit = options.onEvent ?? (() => undefined);
  const recorder = new RunRecorder(store, runId);
  const header = await recorder.open({
    pipeline,
    startedAt: new Date().toISOString(),
    engine: 'local',
    overrides: options.overrides ?? [],
    source: options.source,
    prices: loadPrices(env),
  });
  log.info({ steps: pipeline.nodes.length, store: store.description }, 'run started');
  // OTEL_* set: the run is one trace (engine/tracing); otherwise every span is a no-op.
  const trace = new RunTrace(await startTracing(env), { pipeline: pipeline.name, runId, executor: 'local' });
  const resolver = new KeyResolver({ store, pipeline, env, force: options.force ?? [], forceAll: options.forceAll ?? false, runId, log });
  const core = new RunCore(pipeline.nodes.map(coreNode), {
    mode: 'run',
    header,
    now: Date.now,
    recordRunning: true,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
  });
  const abort = new AbortController();
  const timers: NodeJS.Timeout[] = []; // retries' waits, cleared when the run ends

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
    // This process resolved every key it executes, from the same code: no key needs checking again.
    const context = { runId, store, env, signal: abort.signal, key: 'trust' as const };

    const carryOut = (command: CoreCommand): void => {
      switch (command.type) {
        case 'notify':
          if (command.event.type === 'step-running') log.info({ stepId: command.event.id, cacheHit: false, reason: command.event.reason }, 'step started');
          if (command.event.type === 'step-finished') trace.finished(command.event.step);
          emit(command.event);
          break;
        case 'resolve':
          trace.resolving(command.ids);
          void resolver.resolveCommand(
            command,
            (id) => core.outputsOf(id),
            (event) => {
              if (event.type === 'resolved') trace.resolved(event.resolution);
              feed(event);
            },
          );
          break;
        case 'execute': {
          const span = trace.executing(command.id, command.attempt);
          void executeCommand(nodeOf(pipeline, command.id), command, {
            ...context,
            log: log.child({ stepId: command.id, cacheKey: command.key }),
            wait: true,
            onWait: (holder) => feed({ type: 'waiting', id: command.id, holder }),
            onProgress: (progress) => feed({ type: 'progress', id: command.id, progress }),
            ...(span === undefined ? {} : { span }),
          }).then((outcome) => {
            if (outcome.kind === 'failed') span?.fail(outcome.error);
            span?.end();
            feed(outcomeEvent(command.id, runId, outcome));
          });
          break;
        }
        case 'execute-elements': {
          // Each chunk is one element here: the core hands them out one by one under --concurrency. The first
          // chunks get a span (their elements' own spans are not drawn: the chunk is the unit of a map's trace).
          const span = trace.executingElements(command.id, command.indices);
          void executeElementsCommand(nodeOf(pipeline, command.id), command, { ...context, log: log.child({ stepId: command.id }) }).then((results) => {
            trace.elementsDone(command.id, span, results);
            feed({ type: 'elements-done', id: command.id, results, parallel: command.parallel });
          });
          break;
        }
        case 'assemble':
          void assembleCommand(nodeOf(pipeline, command.id), command, { ...context, log }).then(feed);
          break;
        case 'wait':
          timers.push(setTimeout(() => feed({ type: 'tick' }), command.delayMs));
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
          timers.forEach(clearTimeout);
          recorder
            .close(command.header, command.nodes, command.steps, (error) => log.error({ err: error }, `could not save the run record in ${store.description}`))
            .then(async (record) => {
              log.info({ status: record.status, durationMs: record.durationMs }, 'run finished');
              await trace.end(record);
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
