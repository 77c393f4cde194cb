import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { FlywheelActivities } from '../activities/create-activities.js';
import { PIPELINE_KEY, RUN_ID_KEY } from './search-attributes.js';
import {
  NON_RETRYABLE_TYPES,
  RUN_FAILED,
  taskQueueName,
  type DagNode,
  type Miss,
  type Outputs,
  type PipelineRunInput,
  type PipelineRunResult,
  type RunContext,
  type RunProgress,
  type StepOutcome,
  type StepStatus,
} from './types.js';

export const progressQuery = defineQuery<RunProgress>('progress');

/** Results handed to the workflow per look-up: keeps each activity result far below Temporal's payload limit. */
const DONE: ReadonlySet<StepStatus> = new Set(['executed', 'cached']);
const SETTLED: ReadonlySet<StepStatus> = new Set(['executed', 'cached', 'failed', 'skipped']);

/** Same shape as the local executor's ids (`20261126T160759.123Z-3f9a1c`), derived deterministically. */
function runIdFromWorkflow(): string {
  const info = workflowInfo();
  return `${info.startTime.toISOString().replace(/[-:]/g, '')}-${info.runId.replace(/-/g, '').slice(0, 6)}`;
}

function failureInfo(error: unknown): { code: string; message: string } {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure) return { code: cause.type ?? 'STEP_FAILED', message: cause.message };
  if (isCancellation(cause)) return { code: 'STEP_CANCELLED', message: 'the run was cancelled' };
  return { code: 'STEP_FAILED', message: (cause as Error | undefined)?.message ?? String(cause) };
}

/**
 * Interprets a pipeline's DAG: look-ups and hashing happen in (local) activities on the cpu worker (a GPU step's
 * cache hit never takes a GPU slot); misses go to the queue the step names, through a step-execution
 * workflow shared by every run needing the same key. Independent branches run in parallel up to the
 * concurrency cap. Long runs continue as new when Temporal suggests it, carrying only statuses and the
 * outputs later steps still read.
 */
export async function pipelineWorkflow(input: PipelineRunInput): Promise<PipelineRunResult> {
  const runId = input.runId ?? runIdFromWorkflow();
  const context: RunContext = { ...input.context, runId };
  const { options } = input;
  const cpu = taskQueueName(context.queuePrefix, 'cpu');
  const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_TYPES };
  // Look-ups and record writes are short: local activities on this worker, no task-queue round trip.
  const control = proxyLocalActivities<FlywheelActivities>({ startToCloseTimeout: '10m', retry });
  const waiting = proxyActivities<FlywheelActivities>({
    taskQueue: cpu,
    startToCloseTimeout: '3650d',
    heartbeatTimeout: options.heartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry,
  });

  const carried = input.carried;
  const generation = carried?.generation ?? 0;
  const startedAt = carried?.startedAt ?? workflowInfo().startTime.toISOString();
  const opened = await control.openRun(context, { startedAt, writeRecord: generation === 0 });
  if (generation === 0) upsertSearchAttributes([{ key: PIPELINE_KEY, value: opened.pipeline }, { key: RUN_ID_KEY, value: runId }]);

  const nodes = opened.nodes;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const downstream = new Map<string, string[]>(nodes.map((n) => [n.id, []]));
  for (const n of nodes) for (const u of n.upstream) downstream.get(u)?.push(n.id);
  const status = new Map<string, StepStatus>(nodes.map((n) => [n.id, carried?.statuses[n.id] ?? 'pending']));
  const outputs = new Map<string, Outputs>(Object.entries(carried?.outputs ?? {}));
  const keys = new Map<string, string>(Object.entries(carried?.keys ?? {}));
  const outcomes = new Map<string, StepOutcome>();
  const reasons = new Map<string, string>();
  const ready: Miss[] = [];
  const inFlight = new Set<string>();
  let resolving = false;
  let changes = 0;

  setHandler(progressQuery, () => ({
    runId,
    pipeline: opened.pipeline,
    generation,
    steps: nodes.map((n) => ({ id: n.id, status: status.get(n.id) ?? 'pending', reason: outcomes.get(n.id)?.reason ?? reasons.get(n.id) ?? '' })),
  }));

  const settle = (outcome: StepOutcome): void => {
    outcomes.set(outcome.id, outcome);
    status.set(outcome.id, outcome.status);
    if (DONE.has(outcome.status)) outputs.set(outcome.id, outcome.outputs);
    if (outcome.cacheKey !== undefined) keys.set(outcome.id, outcome.cacheKey);
    changes++;
  };
  /** Step definition ids are filled in by the worker when it records the run. */
  const stepName = (id: string): string => id;

  const skipBlocked = (): void => {
    for (const n of nodes) {
      if (status.get(n.id) !== 'pending') continue;
      const blocked = n.upstream.filter((u) => status.get(u) === 'failed' || status.get(u) === 'skipped');
      if (blocked.length > 0) settle({ id: n.id, step: stepName(n.id), status: 'skipped', reasonCodes: ['upstream-failed'], reason: `upstream ${blocked.join(', ')} did not succeed`, outputs: {} });
    }
  };

  /** Pending nodes whose inputs are known now or will be once earlier candidates turn out cached. */
  const candidates = (): string[] => {
    const picked = new Set<string>();
    for (const n of nodes) {
      if (status.get(n.id) !== 'pending' || reasons.has(n.id)) continue;
      if (n.upstream.every((u) => DONE.has(status.get(u) as StepStatus) || picked.has(u))) picked.add(n.id);
    }
    return [...picked];
  };

  const resolve = async (ids: string[]): Promise<void> => {
    const known: Record<string, Outputs> = {};
    for (const id of ids) for (const u of (byId.get(id) as DagNode).upstream) if (outputs.has(u)) known[u] = outputs.get(u) as Outputs;
    for (const id of ids) reasons.set(id, 'looking up the cache');
    try {
      const result = await control.resolveSteps({ context, options: { force: options.force, forceAll: options.forceAll }, nodeIds: ids, known });
      for (const hit of result.hits) settle(hit);
      for (const miss of result.misses) {
        status.set(miss.id, 'running');
        keys.set(miss.id, miss.cacheKey);
        reasons.set(miss.id, miss.reason);
        ready.push(miss);
      }
    } catch (error) {
      if (isCancellation(error)) return; // the run is being cancelled; its steps are marked below
      const info = failureInfo(error);
      for (const id of ids) if (status.get(id) === 'pending') settle({ id, step: stepName(id), status: 'failed', reasonCodes: [], reason: 'cache look-up failed', outputs: {}, error: info });
    } finally {
      // Unresolved candidates (their upstream was a miss) become candidates again later.
      for (const id of ids) if (status.get(id) === 'pending') reasons.delete(id);
      resolving = false;
      changes++;
    }
  };

  const execute = async (miss: Miss): Promise<void> => {
    const node = byId.get(miss.id) as DagNode;
    inFlight.add(miss.id);
    const started = Date.now();
    const base = { id: miss.id, step: stepName(miss.id), cacheKey: miss.cacheKey, startedAt: new Date(started).toISOString(), ...(miss.external === undefined ? {} : { external: miss.external }) };
    try {
      const upstream: Record<string, Outputs> = {};
      const upstreamKeys: Record<string, string> = {};
      for (const u of node.upstream) {
        upstream[u] = outputs.get(u) as Outputs;
        if (keys.has(u)) upstreamKeys[u] = keys.get(u) as string;
      }
      const result = await waiting.runStep({
        context,
        nodeId: node.id,
        cacheKey: miss.cacheKey,
        upstream,
        upstreamKeys,
        queue: node.queue,
        ...(node.timeoutMs === undefined ? {} : { timeoutMs: node.timeoutMs }),
        retries: node.retries,
        heartbeatTimeoutMs: node.heartbeatTimeoutMs ?? options.heartbeatTimeoutMs,
        ignoreCache: miss.reasonCodes.includes('forced') || miss.reasonCodes.includes('cache-disabled'),
      });
      const durationMs = Date.now() - started;
      if (result.computedBy === runId) {
        settle({ ...base, status: 'executed', reasonCodes: miss.reasonCodes, reason: miss.reason, outputs: result.outputs, durationMs, attempts: result.attempts });
      } else {
        settle({ ...base, status: 'cached', reasonCodes: ['shared-execution'], reason: `computed once by run ${result.computedBy} while this step waited`, outputs: result.outputs, durationMs, savedMs: result.durationMs });
      }
    } catch (error) {
      settle({ ...base, status: 'failed', reasonCodes: miss.reasonCodes, reason: miss.reason, outputs: {}, durationMs: Date.now() - started, error: failureInfo(error) });
    } finally {
      inFlight.delete(miss.id);
      changes++;
    }
  };

  const allSettled = (): boolean => nodes.every((n) => SETTLED.has(status.get(n.id) as StepStatus));
  let stopping = false;

  const loop = async (): Promise<void> => {
    for (;;) {
      skipBlocked();
      if (allSettled()) return;
      if (!stopping && workflowInfo().continueAsNewSuggested) {
        stopping = true;
        log.info('continue-as-new suggested: finishing the steps in flight first', { runId, generation });
      }
      while (!stopping && ready.length > 0 && inFlight.size < options.concurrency) void execute(ready.shift() as Miss);
      if (!stopping && !resolving) {
        const ids = candidates();
        if (ids.length > 0) {
          resolving = true;
          void resolve(ids);
        }
      }
      if (stopping && inFlight.size === 0 && !resolving) return;
      const seen = changes;
      await condition(() => changes !== seen);
    }
  };

  const record = (finalStatus: 'running' | 'succeeded' | 'failed') =>
    control.recordRun({ context, pipeline: opened.pipeline, startedAt, nodes, outcomes: [...outcomes.values()], status: finalStatus });

  try {
    await loop();
  } catch (error) {
    if (!isCancellation(error)) throw error;
    await CancellationScope.nonCancellable(async () => {
      await condition(() => inFlight.size === 0 && !resolving);
      for (const n of nodes) {
        if (!SETTLED.has(status.get(n.id) as StepStatus)) settle({ id: n.id, step: stepName(n.id), status: 'skipped', reasonCodes: ['cancelled'], reason: 'run cancelled', outputs: {} });
      }
      await record('failed');
    });
    throw error;
  }

  if (!allSettled()) {
    await record('running');
    // Carry only what later steps read; finished records are already in the store.
    const needed = (id: string): boolean => (downstream.get(id) ?? []).some((d) => !SETTLED.has(status.get(d) as StepStatus));
    const statuses: Record<string, StepStatus> = {};
    for (const n of nodes) {
      const s = status.get(n.id) as StepStatus;
      if (SETTLED.has(s)) statuses[n.id] = s;
    }
    const carry = (map: Map<string, unknown>) => Object.fromEntries([...map].filter(([id]) => needed(id)));
    return continueAsNew<typeof pipelineWorkflow>({
      ...input,
      runId,
      carried: { generation: generation + 1, startedAt, statuses, outputs: carry(outputs) as Record<string, Outputs>, keys: carry(keys) as Record<string, string> },
    });
  }
  const failed = nodes.filter((n) => status.get(n.id) === 'failed').map((n) => n.id);
  const incomplete = failed.length > 0 || nodes.some((n) => status.get(n.id) === 'skipped');
  await record(incomplete ? 'failed' : 'succeeded');
  // A failed pipeline fails its workflow, so Temporal (UI, schedules, `runs`) shows it as failed; the record says why.
  if (incomplete) throw ApplicationFailure.create({ type: RUN_FAILED, message: `run ${runId} of ${opened.pipeline} failed: ${failed.join(', ') || 'steps skipped'}`, nonRetryable: true, details: [{ runId }] });
  return { runId, pipeline: opened.pipeline, status: 'succeeded' };
}
