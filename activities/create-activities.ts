import { hostname } from 'node:os';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { coreNode } from '../engine/drivers/core-node.js';
import type { ExecuteOutcome } from '../engine/core/outcome.js';
import type { CoreEvent, Outputs, Resolution } from '../engine/core/run-protocol.js';
import type { Store } from '../cache/store.js';
import { assembleCommand, executeCommand, executeElementsCommand } from '../engine/drivers/execute-command.js';
import { wasSuperseded } from '../engine/execute/execute-once.js';
import { LastRuns } from '../engine/records/last-run.js';
import { KeyResolver } from '../engine/drivers/resolve-key.js';
import { RunRecorder } from '../engine/records/run-recorder.js';
import { RunTrace, TRACED_CHUNKS } from '../engine/tracing/run-trace.js';
import { runSpan, stepSpan } from '../engine/tracing/trace-ids.js';
import { tracer, type SpanAttributes } from '../engine/tracing/tracing.js';
import type {
  AssembleInput,
  CloseRequest,
  ElementsInput,
  ElementsResult,
  FailureDetails,
  OpenedRun,
  ResolveRequest,
  ResolveResult,
  RunContext,
  SaveRequest,
  StepAttempt,
  StepExecutionInput,
  StepHeartbeat,
} from '../workflows/types.js';
import { attemptConfirmer, whileAlive } from './heartbeat.js';
import type { RunRuntime } from './run-runtime.js';
import { sharedExecutionActivities } from './shared-execution.js';
import type { ResolvedPipeline } from '../engine/validate/validate.js';

export interface ActivityDependencies {
  runtime: RunRuntime;
  logger: Logger;
  /** Needed by `runStep` only (it starts or joins step-execution workflows): the cpu worker passes one. */
  client?: Client;
}

/** A worker shutting down hands its work to another (Temporal retries it, resuming from the last heartbeat); a cancelled one stops. */
function throwIfStopped(ctx: Context, what: string): void {
  if (ctx.cancellationDetails?.workerShutdown)
    throw ApplicationFailure.create({ type: 'WORKER_SHUTDOWN', message: `the worker running ${what} shut down`, nonRetryable: false });
  if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`${what} was cancelled`);
}

/**
 * An attempt whose work this worker did not start because the server had given it to another delivery:
 * nothing waits for its answer, and a failure must not read as the step's.
 */
function throwIfSuperseded(outcome: Parameters<typeof wasSuperseded>[0], what: string): void {
  if (wasSuperseded(outcome))
    throw new CancelledFailure(`${what}: this attempt was handed to another delivery while the worker was unresponsive; it did not run`);
}

/**
 * Runs one of the run's own activities (opening, look-ups, saves, assembly, closing) while heartbeating, so
 * the call a lost or frozen worker held goes elsewhere after the heartbeat timeout. Runs started before
 * these were regular activities call them as local activities, which do not heartbeat.
 */
function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  if (ctx.info.isLocal || ctx.info.heartbeatTimeoutMs === undefined) return work();
  return whileAlive(ctx, ctx.info.heartbeatTimeoutMs, () => undefined, work);
}

/** A failed attempt: non-retryable for Temporal (the run core decides about another attempt), its outcome in the details. */
function failedAttempt(outcome: Extract<ExecuteOutcome, { kind: 'failed' }>): ApplicationFailure {
  const details: FailureDetails = { outcome };
  return ApplicationFailure.create({ type: outcome.error.code, message: outcome.error.message, nonRetryable: true, details: [details] });
}

/**
 * The activities behind the Temporal executor: thin adapters that load the worker's pipeline and store,
 * then carry out the run core's commands with the engine's one key resolver, one command executor and
 * one run recorder, exactly as the local executor does.
 */
/** Which worker served a span: its task queue, host and process. */
function workerAttributes(): SpanAttributes {
  const info = Context.current().info;
  return { 'flywheel.task_queue': info.taskQueue, 'flywheel.worker': `${hostname()}:${process.pid}`, 'flywheel.executor': 'temporal' };
}

export function createActivities(deps: ActivityDependencies) {
  const { runtime } = deps;
  const lastRuns = new LastRuns();
  const load = runtime.load.bind(runtime);
  const logFor = (pipeline: ResolvedPipeline, context: RunContext, fields: Record<string, unknown>): Logger =>
    deps.logger.child({ pipeline: pipeline.name, runId: context.runId, ...fields });

  /** One look-up round with the engine's resolver, in a span of the run's trace: `resolveSteps`, or a look-ahead after a step. */
  const resolveRound = async (
    pipeline: ResolvedPipeline,
    store: Store,
    context: RunContext,
    round: Pick<ResolveRequest, 'options' | 'ids' | 'known'>,
  ): Promise<Resolution[]> => {
    const log = logFor(pipeline, context, {});
    const resolver = new KeyResolver({ store, pipeline, env: process.env, ...round.options, runId: context.runId, lastRuns, log });
    const resolutions: Resolution[] = [];
    const span = tracer().startSpan('resolve keys', {
      parent: runSpan(context.runId),
      attributes: { ...workerAttributes(), 'flywheel.steps': round.ids },
    });
    try {
      await resolver.resolveRound(
        round.ids,
        (id) => round.known[id],
        (resolution) => resolutions.push(resolution),
      );
    } finally {
      span.setAttributes({ 'flywheel.cache.hits': resolutions.filter((r) => r.kind === 'hit').length });
      span.end();
    }
    return resolutions;
  };

  /**
   * The steps below one that has just produced `outputs`, looked up on this worker (see
   * workflows/look-ahead.ts). A look-ahead that fails returns nothing: the run then asks by activity.
   */
  const lookAhead = async (
    input: StepExecutionInput,
    loaded: { pipeline: ResolvedPipeline; store: Store },
    outputs: Outputs,
    log: Logger,
  ): Promise<Pick<StepAttempt, 'lookedAhead'>> => {
    const request = input.lookAhead;
    if (request === undefined) return {};
    const known = { ...request.known, [input.command.id]: outputs };
    try {
      const resolutions = await resolveRound(loaded.pipeline, loaded.store, input.context, { ...request, known });
      return { lookedAhead: { resolutions } };
    } catch (error) {
      log.warn({ err: error }, 'could not look up the steps below; the run looks them up itself');
      return {};
    }
  };

  return {
    /** Validates the pipeline on the worker and returns the DAG to schedule; the first generation writes the `running` record. */
    openRun: (context: RunContext, options: { startedAt: string; writeRecord: boolean }): Promise<OpenedRun> =>
      heartbeating(async () => {
        const { pipeline, store } = await load(context);
        if (options.writeRecord)
          await new RunRecorder(store, context.runId).open({
            pipeline,
            startedAt: options.startedAt,
            engine: 'temporal',
            overrides: context.setArgs,
            source: context.pipelinePath,
            prices: context.prices,
          });
        const nodes = pipeline.nodes.map((n) => ({
          ...coreNode(n),
          queue: n.resources.queue ?? 'cpu',
          ...(n.timeoutMs === undefined ? {} : { timeoutMs: n.timeoutMs }),
          ...(n.heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs: n.heartbeatTimeoutMs }),
        }));
        return { pipeline: pipeline.name, host: hostname(), pid: process.pid, nodes };
      }),

    /** Journals the records the run core handed over, then resolves a round of keys with the engine's resolver. */
    resolveSteps: (request: ResolveRequest): Promise<ResolveResult> =>
      heartbeating(async () => {
        const { pipeline, store } = await load(request.context);
        if (request.save.length > 0) await new RunRecorder(store, request.context.runId).append(request.save);
        return { resolutions: await resolveRound(pipeline, store, request.context, request) };
      }),

    saveSteps: (request: SaveRequest): Promise<void> =>
      heartbeating(async () => {
        const { store } = await load(request.context);
        await new RunRecorder(store, request.context.runId).append(request.steps);
      }),

    /** Writes the final record: the steps the core still held, over what earlier saves journalled. */
    closeRun: (request: CloseRequest): Promise<void> =>
      heartbeating(async () => {
        const { store } = await load(request.context);
        const record = await new RunRecorder(store, request.context.runId).close(request.header, request.nodes, request.steps);
        // The run core lives in the workflow: the run's root and step spans are drawn here, from the record.
        await RunTrace.drawn(tracer(), record);
      }),

    /**
     * Executes one attempt of a step on the queue its resources name, once for every process sharing the
     * store (inputs from the store, outputs into it, heartbeats carrying progress). When another process
     * holds the key it returns at once: the run then waits through the key's shared workflow.
     */
    async executeStep(input: StepExecutionInput): Promise<StepAttempt> {
      const ctx = Context.current();
      const { command, context } = input;
      const { pipeline, store, node } = await load(context, command.id);
      const log = logFor(pipeline, context, { stepId: node.id, cacheKey: command.key, attempt: command.attempt, delivery: ctx.info.attempt });
      let last: StepHeartbeat = (ctx.info.heartbeatDetails as StepHeartbeat | undefined) ?? (input.resume === undefined ? {} : { details: input.resume });
      if (last.details !== undefined) log.info({ fraction: last.fraction }, 'resuming from the checkpoint of a lost attempt');
      const span = tracer().startSpan(`execute ${node.id}`, {
        parent: stepSpan(context.runId, node.id),
        attributes: { ...workerAttributes(), 'flywheel.attempt': command.attempt, 'flywheel.delivery': ctx.info.attempt },
      });
      const outcome = await whileAlive(
        ctx,
        input.heartbeatTimeoutMs,
        () => last,
        () =>
          executeCommand(node, command, {
            confirmAttempt: attemptConfirmer(ctx, input.heartbeatTimeoutMs, () => last, log),
            runId: context.runId,
            store,
            env: process.env,
            log,
            signal: ctx.cancellationSignal,
            wait: false,
            key: 'verify',
            waitedFor: input.waitedFor,
            onProgress: (progress) => {
              last = { ...progress, details: progress.details ?? last.details };
              ctx.heartbeat(last);
            },
            ...(last.details === undefined ? {} : { resume: last.details }),
            span,
          }),
      ).catch((error: unknown) => {
        span.end(); // a lost heartbeat or cancellation: the attempt's span ends with it
        throw error;
      });
      if (outcome.kind === 'failed') span.fail(outcome.error);
      span.end();
      throwIfSuperseded(outcome, `step ${node.id}`);
      if (outcome.kind === 'contended') return { ...outcome, ...(last.details === undefined ? {} : { resume: last.details }) };
      if (outcome.kind !== 'failed') {
        const outputs = outcome.outputs;
        return {
          ...outcome,
          ...(await whileAlive(
            ctx,
            input.heartbeatTimeoutMs,
            () => last,
            () => lookAhead(input, { pipeline, store }, outputs, log),
          )),
        };
      }
      throwIfStopped(ctx, `step ${node.id}`);
      throw failedAttempt(outcome);
    },

    /**
     * Executes a chunk of a map's elements on the step's queue, several at once, each once across
     * every process sharing the store; a failed element is reported, never thrown. Handed to another
     * worker after a lost one, the chunk finds what it finished as results (reported as cached) and runs the rest.
     */
    async executeElements(input: ElementsInput): Promise<ElementsResult> {
      const ctx = Context.current();
      const { command, context } = input;
      const { pipeline, store, node } = await load(context, command.id);
      const log = logFor(pipeline, context, { stepId: node.id, delivery: ctx.info.attempt });
      let done = 0;
      // The first chunks of a map get a span, the others none (a 10,000-element map stays readable).
      const first = command.indices[0] ?? 0;
      const span =
        first < TRACED_CHUNKS
          ? tracer().startSpan(`elements ${first}-${command.indices.at(-1) ?? first}`, {
              parent: stepSpan(context.runId, node.id),
              attributes: workerAttributes(),
            })
          : undefined;
      const progress = () => ({ message: `${done}/${command.indices.length} elements of this chunk` });
      const work = () =>
        whileAlive(ctx, input.heartbeatTimeoutMs, progress, () =>
          executeElementsCommand(node, command, {
            confirmAttempt: attemptConfirmer(ctx, input.heartbeatTimeoutMs, progress, log),
            runId: context.runId,
            store,
            env: process.env,
            log,
            signal: ctx.cancellationSignal,
            key: 'verify',
            onResult: () => void done++,
          }),
        );
      const begun = Date.now();
      const results = await work().finally(() => span?.end());
      const durationMs = Date.now() - begun;
      throwIfStopped(ctx, `map ${node.id}`);
      for (const result of results) throwIfSuperseded(result, `map ${node.id}`);
      const count = (status: string): number => results.filter((r) => r.status === status).length;
      log.info({ elements: results.length, executed: count('executed'), reused: count('cached'), failed: count('failed') }, 'map chunk done');
      return { results, durationMs };
    },

    /** Stores a map's collection from its elements' results (on the cpu worker, next to the run): the event for the run core. */
    assembleMap: (input: AssembleInput): Promise<CoreEvent> =>
      heartbeating(async () => {
        const { pipeline, store, node } = await load(input.context, input.command.id);
        return assembleCommand(node, input.command, {
          runId: input.context.runId,
          store,
          env: process.env,
          log: logFor(pipeline, input.context, {}),
          key: 'verify',
        });
      }),

    ...sharedExecutionActivities(runtime, deps.client),
  };
}

export type FlywheelActivities = ReturnType<typeof createActivities>;
