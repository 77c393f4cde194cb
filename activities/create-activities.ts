import { hostname } from 'node:os';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { CacheKey } from '../cache/digest.js';
import type { OutputRecord, ReasonCode, RunRecord, StepRunRecord } from '../cache/records.js';
import { lookUpResult } from '../engine/cache-lookup.js';
import { decide, indexLastRun, type LastRun } from '../engine/decide.js';
import { executeStep } from '../engine/execute-step.js';
import { externalState } from '../engine/external-state.js';
import { nodeKey } from '../engine/node-key.js';
import { storeResult } from '../engine/store-result.js';
import { lastFinishedRun } from '../engine/run-history.js';
import type { ResolvedNode, ResolvedPipeline } from '../engine/validate.js';
import {
  taskQueueName,
  type OpenedRun,
  type Outputs,
  type RecordRunRequest,
  type ResolveRequest,
  type ResolveResult,
  type RunContext,
  type StepExecutionInput,
  type StepExecutionResult,
  type StepHeartbeat,
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

/** Cache results handed back per look-up: keeps every activity result far below Temporal's payload limit. */
const MAX_RESOLVED_PER_CALL = 250;

/** Outside state for a key, with failures as non-retryable activity failures. */
async function externalStateOf(node: ResolvedNode, upstreamOutputs: (nodeId: string) => Record<string, OutputRecord> | undefined): Promise<unknown> {
  try {
    return await externalState(node, upstreamOutputs);
  } catch (error) {
    throw toApplicationFailure(error);
  }
}

function failWith(type: string, message: string, fix: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true, details: [{ fix }] });
}

function nodeOf(pipeline: ResolvedPipeline, id: string): ResolvedNode {
  return pipeline.byId.get(id) ?? failWith('KEY_MISMATCH', `the worker's pipeline ${pipeline.name} has no step ${id}`, 'deploy the same pipeline code to the workers as to the client');
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
 * The activities behind the Temporal executor: thin adapters over the engine (the same look-up,
 * key and execution code as the local executor), built from their dependencies.
 */
export function createActivities(deps: ActivityDependencies) {
  const { runtime } = deps;
  const lastRuns = new Map<string, Promise<LastRun>>();
  const lastRunOf = (context: RunContext, pipeline: string): Promise<LastRun> => {
    let last = lastRuns.get(context.runId);
    if (last === undefined) {
      last = lastFinishedRun(runtime.store(context.store), pipeline, context.runId).then(indexLastRun);
      if (lastRuns.size > 64) lastRuns.delete(lastRuns.keys().next().value as string);
      lastRuns.set(context.runId, last);
    }
    return last;
  };
  const load = async (context: RunContext) => {
    try {
      return { pipeline: await runtime.pipeline(context), store: runtime.store(context.store) };
    } catch (error) {
      throw toApplicationFailure(error);
    }
  };

  return {
    /** Validates the pipeline on the worker and returns the DAG to schedule; the first generation writes the `running` record. */
    async openRun(context: RunContext, options: { startedAt: string; writeRecord: boolean }): Promise<OpenedRun> {
      const { pipeline, store } = await load(context);
      if (options.writeRecord) {
        const steps: StepRunRecord[] = pipeline.nodes.map((n) => ({ id: n.id, step: n.step.id, status: 'pending', reasonCodes: [], reason: 'not reached', outputs: {} }));
        await store.putRun({ format: 'flywheel.run/v1', runId: context.runId, pipeline: pipeline.name, status: 'running', startedAt: options.startedAt, host: hostname(), pid: process.pid, engine: 'temporal', overrides: context.setArgs, steps });
      }
      return {
        pipeline: pipeline.name,
        nodes: pipeline.nodes.map((n) => ({
          id: n.id,
          upstream: n.upstream,
          queue: n.resources.queue ?? 'cpu',
          ...(n.timeoutMs === undefined ? {} : { timeoutMs: n.timeoutMs }),
          ...(n.heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs: n.heartbeatTimeoutMs }),
          retries: n.resources.retries ?? 0,
        })),
      };
    },

    /** Computes keys and looks up the cache for every candidate whose inputs are known, following hits downstream. */
    async resolveSteps(request: ResolveRequest): Promise<ResolveResult> {
      const { pipeline, store } = await load(request.context);
      const known = new Map<string, Outputs>(Object.entries(request.known));
      const force = new Set(request.options.force);
      const result: ResolveResult = { hits: [], misses: [] };
      for (const id of request.nodeIds) {
        const node = nodeOf(pipeline, id);
        if (!node.upstream.every((u) => known.has(u))) continue;
        const knownOutputs = (u: string): Record<string, OutputRecord> | undefined => known.get(u) as Record<string, OutputRecord> | undefined;
        const external = await externalStateOf(node, knownOutputs);
        const { key, components } = nodeKey(node, knownOutputs, process.env, external);
        const outside = external === undefined ? {} : { external };
        const forced = request.options.forceAll ? 'all' : force.has(id) ? 'step' : undefined;
        const decision = await decide(node, key, components, { store, forced, repair: true, lastRun: () => lastRunOf(request.context, pipeline.name) });
        if (decision.hit) {
          known.set(id, decision.entry.outputs);
          result.hits.push({ id, step: node.step.id, status: 'cached', cacheKey: key, reasonCodes: ['cache-hit'], reason: decision.reason, outputs: decision.entry.outputs, durationMs: 0, savedMs: decision.entry.durationMs, ...outside });
        } else {
          result.misses.push({ id, cacheKey: key, reasonCodes: decision.why.codes, reason: decision.why.reason, ...outside });
        }
        if (result.hits.length + result.misses.length >= MAX_RESOLVED_PER_CALL) break;
      }
      return result;
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
            throw ApplicationFailure.create({ type: 'STEP_EXECUTION_LOST', message: `the execution of step ${input.nodeId} ended early (${cause.message}); trying again`, nonRetryable: false });
          }
        }
        throw error;
      } finally {
        stop();
      }
    },

    /** Executes one step on the queue its resources name: inputs from the store, outputs into it, heartbeats carrying progress. */
    async executeStep(input: StepExecutionInput): Promise<StepExecutionResult> {
      const ctx = Context.current();
      const { info } = ctx;
      const { pipeline, store } = await load(input.context);
      const node = nodeOf(pipeline, input.nodeId);
      const upstreamOutputs = (id: string): Record<string, OutputRecord> | undefined => input.upstream[id] as Record<string, OutputRecord> | undefined;
      const { key, components } = nodeKey(node, upstreamOutputs, process.env, await externalStateOf(node, upstreamOutputs));
      if (key !== input.cacheKey) {
        failWith('KEY_MISMATCH', `this worker computes key ${key.slice(0, 12)} for step ${node.id}, the run planned ${input.cacheKey.slice(0, 12)}`, 'deploy the same pipeline code and declared env values to every worker');
      }
      const log = deps.logger.child({ pipeline: pipeline.name, runId: input.context.runId, stepId: node.id, cacheKey: key, attempt: info.attempt });
      let last: StepHeartbeat = (info.heartbeatDetails as StepHeartbeat | undefined) ?? {};
      if (last.details !== undefined) log.info({ fraction: last.fraction }, 'resuming from the checkpoint of a lost attempt');
      const stop = keepAlive(ctx, input.heartbeatTimeoutMs, () => last);
      try {
        const lock = await store.lockKey(key, (holder) => log.info({ holder }, 'waiting for another process computing the same key'), ctx.cancellationSignal);
        try {
          if (!input.ignoreCache && node.step.cache !== false) {
            const found = await lookUpResult(store, key, node.maxAgeMs, { repair: true });
            if (found.hit) return { outputs: found.entry.outputs, durationMs: found.entry.durationMs, computedBy: found.entry.runId, attempts: 0 };
          }
          log.info({ cacheHit: false }, 'step started');
          const started = Date.now();
          const { outputs, attempts } = await executeStep(node, {
            store,
            runId: input.context.runId,
            log,
            signal: ctx.cancellationSignal,
            upstreamOutputs,
            upstreamKey: (id) => input.upstreamKeys[id] as CacheKey | undefined,
            onProgress: (progress) => {
              last = { ...progress, details: progress.details ?? last.details };
              ctx.heartbeat(last);
            },
            onAttemptFailed: (attempt, error) => log.warn({ attempt, err: error }, 'attempt failed; retrying'),
            resume: last.details,
            firstAttempt: info.attempt,
          });
          const durationMs = Date.now() - started;
          if (node.step.cache !== false) {
            await storeResult(store, node, { format: 'flywheel.action/v1', key, step: node.step.id, createdAt: new Date().toISOString(), durationMs, runId: input.context.runId, outputs, components }, upstreamOutputs, process.env);
          }
          log.info({ durationMs }, 'step executed');
          return { outputs, durationMs, computedBy: input.context.runId, attempts };
        } finally {
          await lock.release();
        }
      } catch (error) {
        if (ctx.cancellationDetails?.workerShutdown) {
          // Another worker takes the step over, resuming from the last heartbeat's checkpoint.
          throw ApplicationFailure.create({ type: 'WORKER_SHUTDOWN', message: `the worker running step ${node.id} shut down`, nonRetryable: false });
        }
        if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`step ${node.id} was cancelled`);
        const failure = toApplicationFailure(error);
        log.error({ err: error, code: failure.type }, 'step failed');
        // The step's own retries already happened in executeStep; Temporal's attempts are for lost workers.
        throw asNonRetryable(failure);
      } finally {
        stop();
      }
    },

    /** Saves the run record: outcomes merged over what earlier generations saved, key components recomputed. */
    async recordRun(request: RecordRunRequest): Promise<void> {
      const { pipeline, store } = await load(request.context);
      const existing = await store.getRun(request.context.runId).catch(() => undefined);
      const previous = new Map((existing?.steps ?? []).map((s) => [s.id, s]));
      const given = new Map(request.outcomes.map((o) => [o.id, o]));
      const outputsOf = (id: string): Record<string, OutputRecord> | undefined => (given.get(id) ?? previous.get(id))?.outputs as Record<string, OutputRecord> | undefined;
      const steps: StepRunRecord[] = pipeline.nodes.map((n) => {
        const outcome = given.get(n.id);
        if (outcome === undefined) return previous.get(n.id) ?? { id: n.id, step: n.step.id, status: 'pending', reasonCodes: [], reason: 'not reached', outputs: {} };
        const { external, ...recorded } = outcome;
        const step = { ...recorded, step: n.step.id, reasonCodes: outcome.reasonCodes as ReasonCode[] } as StepRunRecord;
        // The outside state travelled with the outcome: the record is built without reading it again.
        if (outcome.cacheKey !== undefined && n.upstream.every((u) => outputsOf(u) !== undefined)) step.components = nodeKey(n, outputsOf, process.env, external).components;
        return step;
      });
      const finished = request.status !== 'running';
      const record: RunRecord = {
        format: 'flywheel.run/v1',
        runId: request.context.runId,
        pipeline: pipeline.name,
        status: request.status,
        startedAt: request.startedAt,
        ...(finished ? { finishedAt: new Date().toISOString(), durationMs: Math.max(0, Date.now() - Date.parse(request.startedAt)) } : {}),
        host: existing?.host ?? hostname(),
        pid: existing?.pid ?? process.pid,
        engine: 'temporal',
        overrides: request.context.setArgs,
        steps,
      };
      await store.putRun(record);
    },
  };
}

export type FlywheelActivities = ReturnType<typeof createActivities>;
