import { hostname } from 'node:os';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { Store } from '../cache/store.js';
import { taskQueueName } from '../engine/core/queues.js';
import type { Outputs, Resolution } from '../engine/core/run-protocol.js';
import type { Digest } from '../cache/digest.js';
import { indexLastRun, type LastRun } from '../engine/decide.js';
import { awaitKey, executeOnce, type ExecuteOutcome } from '../engine/execute-once.js';
import { keyOf, KeyResolver } from '../engine/resolve-key.js';
import { lastFinishedRun } from '../engine/run-history.js';
import { RunRecorder } from '../engine/run-recorder.js';
import type { ResolvedNode, ResolvedPipeline } from '../engine/validate.js';
import { coreNode } from '../engine/core-node.js';
import { assembleMap } from '../engine/map/assemble-map.js';
import { executeElements } from '../engine/map/execute-elements.js';
import type {
  AssembleInput,
  CloseRequest,
  ElementsInput,
  ElementsResult,
  Contended,
  KeyWait,
  OpenedRun,
  ResolveRequest,
  ResolveResult,
  RunContext,
  SaveRequest,
  StepExecutionInput,
  StepExecutionResult,
  StepHeartbeat,
} from '../workflows/types.js';
import { asNonRetryable, toApplicationFailure } from './failures.js';
import type { RunRuntime } from './run-runtime.js';
import { stepWorkflowId } from './step-workflow-id.js';

export interface ActivityDependencies {
  runtime: RunRuntime;
  logger: Logger;
  /** Needed by `runStep` only (it starts or joins step-execution workflows): the cpu worker passes one. */
  client?: Client;
}

function failWith(type: string, message: string, fix: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true, details: [{ fix }] });
}

function nodeOf(pipeline: ResolvedPipeline, id: string): ResolvedNode {
  return (
    pipeline.byId.get(id) ??
    failWith('KEY_MISMATCH', `the worker's pipeline ${pipeline.name} has no step ${id}`, 'deploy the same pipeline code to the workers as to the client')
  );
}

/** The innermost failure: an activity failure wraps the step's ApplicationFailure, which says what went wrong. */
function rootCause(error: Error | undefined): Error | undefined {
  let current = error;
  while (current !== undefined && !(current instanceof ApplicationFailure) && current.cause instanceof Error) current = current.cause;
  return current;
}

/**
 * Heartbeats at a steady pace so a lost worker is noticed and cancellation arrives (Temporal delivers it
 * in heartbeat responses) within seconds, even when the step reports nothing. The worker throttles what
 * is actually sent (see HEARTBEAT_THROTTLE in workers/run-worker.ts).
 */
function keepAlive(ctx: Context, heartbeatTimeoutMs: number, details: () => unknown): () => void {
  const timer = setInterval(() => ctx.heartbeat(details()), Math.max(500, Math.min(2000, Math.floor(heartbeatTimeoutMs / 3))));
  return () => clearInterval(timer);
}

/**
 * The activities behind the Temporal executor: thin adapters that load the worker's pipeline and store,
 * then call the engine's one key resolver, one execute-once and one run recorder, exactly as the local
 * executor does.
 */
export function createActivities(deps: ActivityDependencies) {
  const { runtime } = deps;
  const lastRuns = new Map<string, Promise<LastRun>>();
  const lastRunOf = (context: RunContext, store: Store, pipeline: string): Promise<LastRun> => {
    let last = lastRuns.get(context.runId);
    if (last === undefined) {
      last = lastFinishedRun(store, pipeline, context.runId).then(indexLastRun);
      if (lastRuns.size > 64) lastRuns.delete(lastRuns.keys().next().value as string);
      lastRuns.set(context.runId, last);
    }
    return last;
  };
  const load = async (context: RunContext): Promise<{ pipeline: ResolvedPipeline; store: Store }> => {
    try {
      return { pipeline: await runtime.pipeline(context), store: runtime.store(context.store) };
    } catch (error) {
      throw toApplicationFailure(error);
    }
  };
  /** The node, its key checked against the one the run resolved: a mismatch means other code on this worker. */
  const keyedNode = async (input: StepExecutionInput) => {
    const { pipeline, store } = await load(input.context);
    const node = nodeOf(pipeline, input.nodeId);
    const upstream = (id: string) => input.upstream[id];
    const { key, components } = await keyOf(node, upstream, process.env).catch((error: unknown) => {
      throw asNonRetryable(toApplicationFailure(error));
    });
    if (key !== input.cacheKey) {
      failWith(
        'KEY_MISMATCH',
        `this worker computes key ${key.slice(0, 12)} for step ${node.id}, the run planned ${input.cacheKey.slice(0, 12)}`,
        'deploy the same pipeline code and declared env values to every worker',
      );
    }
    return { pipeline, store, node, key, components, upstream };
  };

  return {
    /** Validates the pipeline on the worker and returns the DAG to schedule; the first generation writes the `running` record. */
    async openRun(context: RunContext, options: { startedAt: string; writeRecord: boolean }): Promise<OpenedRun> {
      const { pipeline, store } = await load(context);
      if (options.writeRecord)
        await new RunRecorder(store, context.runId).open({ pipeline, startedAt: options.startedAt, engine: 'temporal', overrides: context.setArgs });
      return {
        pipeline: pipeline.name,
        host: hostname(),
        pid: process.pid,
        nodes: pipeline.nodes.map((n) => ({
          ...coreNode(n),
          queue: n.resources.queue ?? 'cpu',
          ...(n.timeoutMs === undefined ? {} : { timeoutMs: n.timeoutMs }),
          ...(n.heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs: n.heartbeatTimeoutMs }),
          retries: n.resources.retries ?? 0,
        })),
      };
    },

    /** Journals the records the run core handed over, then resolves a batch of keys with the engine's resolver. */
    async resolveSteps(request: ResolveRequest): Promise<ResolveResult> {
      const { pipeline, store } = await load(request.context);
      if (request.save.length > 0) await new RunRecorder(store, request.context.runId).append(request.save);
      const resolver = new KeyResolver({
        store,
        pipeline,
        env: process.env,
        force: request.options.force,
        forceAll: request.options.forceAll,
        repair: true,
        lastRun: () => lastRunOf(request.context, store, pipeline.name),
      });
      const resolutions: Resolution[] = [];
      await resolver.resolveBatch(
        request.ids,
        (id) => request.known[id],
        (resolution) => resolutions.push(resolution),
      );
      return { resolutions };
    },

    async saveSteps(request: SaveRequest): Promise<void> {
      const { store } = await load(request.context);
      await new RunRecorder(store, request.context.runId).append(request.steps);
    },

    /** Writes the final record: the steps the core still held, over what earlier saves journalled. */
    async closeRun(request: CloseRequest): Promise<void> {
      const { store } = await load(request.context);
      await new RunRecorder(store, request.context.runId).close(request.header, request.nodes, request.steps);
    },

    /**
     * Executes one step on the queue its resources name, once for every process sharing the store
     * (inputs from the store, outputs into it, heartbeats carrying progress). When another process
     * holds the key it returns at once: the run then waits through the key's shared workflow.
     */
    async executeStep(input: StepExecutionInput): Promise<StepExecutionResult | Contended> {
      const ctx = Context.current();
      const { info } = ctx;
      const { pipeline, store, node, key, components, upstream } = await keyedNode(input);
      const log = deps.logger.child({ pipeline: pipeline.name, runId: input.context.runId, stepId: node.id, cacheKey: key, attempt: info.attempt });
      let last: StepHeartbeat = (info.heartbeatDetails as StepHeartbeat | undefined) ?? (input.resume === undefined ? {} : { details: input.resume });
      if (last.details !== undefined) log.info({ fraction: last.fraction }, 'resuming from the checkpoint of a lost attempt');
      const stop = keepAlive(ctx, input.heartbeatTimeoutMs, () => last);
      let outcome: ExecuteOutcome;
      try {
        outcome = await executeOnce({
          node,
          key,
          components,
          lookAgain: input.lookAgain,
          runId: input.context.runId,
          upstream,
          upstreamKey: (id) => input.upstreamKeys[id],
          store,
          env: process.env,
          log,
          signal: ctx.cancellationSignal,
          wait: false,
          waitedFor: input.waitedFor,
          onProgress: (progress) => {
            last = { ...progress, details: progress.details ?? last.details };
            ctx.heartbeat(last);
          },
          resume: last.details,
          firstAttempt: info.attempt,
        });
      } catch (error) {
        throw toApplicationFailure(error); // the store failed us, not the step: Temporal may retry
      } finally {
        stop();
      }
      switch (outcome.kind) {
        case 'contended':
          return { contended: outcome.holder, ...(last.details === undefined ? {} : { resume: last.details }) };
        case 'reused':
          return { outputs: outcome.outputs, durationMs: outcome.durationMs, computedBy: outcome.computedBy, attempts: 0 };
        case 'executed':
          // executeOnce logged the end, into the step's captured log (`logs`) too.
          return {
            outputs: outcome.outputs,
            durationMs: outcome.durationMs,
            computedBy: input.context.runId,
            attempts: outcome.attempts,
            ...(outcome.logs === undefined ? {} : { logs: outcome.logs }),
          };
        case 'failed':
          // Another worker takes the step over, resuming from the last heartbeat's checkpoint.
          if (ctx.cancellationDetails?.workerShutdown)
            throw ApplicationFailure.create({ type: 'WORKER_SHUTDOWN', message: `the worker running step ${node.id} shut down`, nonRetryable: false });
          if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`step ${node.id} was cancelled`);
          if (outcome.logs === undefined) log.error({ code: outcome.error.code, err: outcome.error.message, shared: outcome.shared }, 'step failed');
          // The step's own retries already happened; Temporal's attempts are for lost workers.
          throw ApplicationFailure.create({
            type: outcome.error.code,
            message: outcome.error.message,
            nonRetryable: true,
            details: [
              {
                attempts: outcome.attempts,
                ...(outcome.error.fix === undefined ? {} : { fix: outcome.error.fix }),
                ...(outcome.logs === undefined ? {} : { logs: outcome.logs }),
              },
            ],
          });
      }
    },

    /**
     * Executes a chunk of a map's invocations on the step's queue, several at once, each once across
     * every process sharing the store; a failed element is reported, never thrown. Retried after a lost
     * worker, the chunk finds what it finished as results (reported as cached) and runs the rest.
     */
    async executeElements(input: ElementsInput): Promise<ElementsResult> {
      const ctx = Context.current();
      const { pipeline, store } = await load(input.context);
      const node = nodeOf(pipeline, input.nodeId);
      const log = deps.logger.child({ pipeline: pipeline.name, runId: input.context.runId, stepId: node.id, attempt: ctx.info.attempt });
      let done = 0;
      const stop = keepAlive(ctx, input.heartbeatTimeoutMs, () => ({ message: `${done}/${input.indices.length} elements of this chunk` }));
      try {
        const results = await executeElements({
          node,
          key: input.cacheKey,
          indices: input.indices,
          lookAgain: input.lookAgain,
          runId: input.context.runId,
          upstream: input.upstream,
          upstreamKeys: input.upstreamKeys,
          store,
          env: process.env,
          log,
          signal: ctx.cancellationSignal,
          parallel: input.parallel,
          onResult: () => void done++,
        });
        if (ctx.cancellationDetails?.workerShutdown)
          throw ApplicationFailure.create({ type: 'WORKER_SHUTDOWN', message: `the worker running map ${node.id} shut down`, nonRetryable: false });
        if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`map ${node.id} was cancelled`);
        const count = (status: string): number => results.filter((r) => r.status === status).length;
        log.info({ elements: results.length, executed: count('executed'), reused: count('cached'), failed: count('failed') }, 'map chunk done');
        return { results };
      } catch (error) {
        throw error instanceof CancelledFailure ? error : toApplicationFailure(error);
      } finally {
        stop();
      }
    },

    /** Stores a map's collection from its invocations' results (on the cpu worker, next to the run). */
    async assembleMap(input: AssembleInput): Promise<{ outputs: Outputs; keys: Digest }> {
      const { pipeline, store } = await load(input.context);
      const node = nodeOf(pipeline, input.nodeId);
      try {
        return await assembleMap({
          node,
          key: input.cacheKey,
          components: input.components,
          leftOut: input.leftOut,
          durationMs: input.durationMs,
          runId: input.context.runId,
          upstream: input.upstream,
          store,
          env: process.env,
        });
      } catch (error) {
        throw toApplicationFailure(error);
      }
    },

    /** Waits (on the cpu queue, heartbeating) for another process holding a key: its result, its failure, or a free key. */
    async awaitKey(input: StepExecutionInput): Promise<KeyWait> {
      const ctx = Context.current();
      const { store, node, key } = await keyedNode(input);
      const stop = keepAlive(ctx, input.heartbeatTimeoutMs, () => undefined);
      try {
        const waited = await awaitKey({ node, key, store, signal: ctx.cancellationSignal, waitedFor: input.waitedFor, lookAgain: input.lookAgain });
        if (waited.kind === 'reused')
          return { kind: 'reused', result: { outputs: waited.outputs, durationMs: waited.durationMs, computedBy: waited.computedBy, attempts: 0 } };
        if (waited.kind === 'failed') {
          if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`waiting for step ${node.id} was cancelled`);
          return { kind: 'failed', error: { code: waited.error.code, message: waited.error.message } };
        }
        return { kind: 'free' };
      } finally {
        stop();
      }
    },

    /**
     * Starts the key's step-execution workflow or joins the one running (signal-with-start), and waits
     * for it while heartbeating. Cancelled, it tells the execution it no longer waits.
     */
    async runStep(input: StepExecutionInput): Promise<StepExecutionResult> {
      const client = deps.client ?? failWith('WORKER_MISCONFIGURED', 'runStep needs a Temporal client', 'run it on the cpu worker');
      const ctx = Context.current();
      const handle = await client.workflow.signalWithStart('stepExecutionWorkflow', {
        workflowId: stepWorkflowId(input.context.store, input.cacheKey),
        taskQueue: taskQueueName(input.context.queuePrefix, 'cpu'),
        args: [input],
        signal: 'subscribe',
        signalArgs: [input.context.runId],
      });
      const stop = keepAlive(ctx, input.heartbeatTimeoutMs, () => undefined);
      try {
        return (await Promise.race([handle.result(), ctx.cancelled])) as StepExecutionResult;
      } catch (error) {
        if (ctx.cancellationSignal.aborted) {
          await handle.signal('unsubscribe', input.context.runId).catch(() => undefined);
          throw error;
        }
        if (error instanceof WorkflowFailedError) {
          const cause = rootCause(error.cause);
          // The shared execution failed: every waiting run sees it; the next run starts a fresh execution.
          if (cause instanceof ApplicationFailure) throw asNonRetryable(cause);
          if (cause instanceof TerminatedFailure || cause instanceof TimeoutFailure || cause instanceof CancelledFailure) {
            throw ApplicationFailure.create({
              type: 'STEP_EXECUTION_LOST',
              message: `the execution of step ${input.nodeId} ended early (${cause.message}); trying again`,
              nonRetryable: false,
            });
          }
        }
        throw error;
      } finally {
        stop();
      }
    },
  };
}

export type FlywheelActivities = ReturnType<typeof createActivities>;
