import { ActivityCancellationType, patched, proxyActivities, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import type { FlywheelActivities } from '../activities/create-activities.js';
import { taskQueueName } from '../engine/core/queues.js';
import { lostWorkerRetry, NO_RETRIES } from '../engine/core/retry-policy.js';
import type { DagNode, RunContext, Scheduling } from './types.js';

/** Startup and store transfers on top of the step's own time limit. */
const MARGIN_MS = 10 * 60_000;
const NO_LIMIT_MS = 30 * 24 * 3600_000;

/** The engine's own activities (look-ups, records, waiting for a key): failures are classified where they happen; these are the rest. */
export const RETRY = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 } as const;

/** Where and under which limits a node's work runs: its queue, one attempt's time limit, heartbeat timeout and retry policy. */
export function schedulingOf(node: DagNode, defaultHeartbeatTimeoutMs: number): Scheduling {
  return {
    queue: node.queue,
    ...(node.timeoutMs === undefined ? {} : { timeoutMs: node.timeoutMs }),
    heartbeatTimeoutMs: node.heartbeatTimeoutMs ?? defaultHeartbeatTimeoutMs,
    retry: node.retry ?? NO_RETRIES,
  };
}

/**
 * An activity on the step's queue that runs `rounds` attempts back to back (a step: one; a map chunk: its
 * elements in rounds of `parallel`). The run core decides retries after failures; Temporal's retry
 * options, derived from the same policy, only hand the work of a lost worker to another.
 */
function onStepQueue(context: RunContext, scheduling: Scheduling, rounds: number): ActivityOptions {
  const attemptMs = scheduling.timeoutMs ?? NO_LIMIT_MS;
  return {
    taskQueue: taskQueueName(context.queuePrefix, scheduling.queue),
    startToCloseTimeout: Math.min(NO_LIMIT_MS, attemptMs * Math.max(1, rounds) + MARGIN_MS),
    heartbeatTimeout: scheduling.heartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: lostWorkerRetry(scheduling.retry),
  };
}

/** The activity that executes one attempt of a step, on the queue the step names. */
export function stepActivities(input: Scheduling & { context: RunContext }): Pick<FlywheelActivities, 'executeStep'> {
  return proxyActivities<FlywheelActivities>(onStepQueue(input.context, input, 1));
}

/**
 * A map's chunks: elements per activity and at most how many of them execute at once (the run's
 * concurrency bounds both). A GPU map sends one per activity, so one per GPU slot.
 */
export const ELEMENT_CHUNKS = { cpu: { size: 50, parallel: 8 }, gpu: { size: 1, parallel: 1 } } as const;

/** The activity that executes a chunk of a map's elements, on the step's queue; its limit covers the chunk. */
export function elementActivities(
  input: Scheduling & { context: RunContext; indices: readonly number[]; parallel: number },
): Pick<FlywheelActivities, 'executeElements'> {
  return proxyActivities<FlywheelActivities>(onStepQueue(input.context, input, Math.ceil(input.indices.length / Math.max(1, input.parallel))));
}

/**
 * The run's own work, on the cpu queue: opening the run, look-ups, saves, a map's assembly, closing it.
 * Regular activities, each one a history event of its own. They were local activities until the chaos
 * soak's upgrade test killed workers mid-run: about half of those runs' histories then no longer
 * replayed (a local activity's marker met at another point than where the live run had resolved it),
 * so the next worker to replay one (after a crash, an eviction, a query) failed every workflow task
 * and the run hung. A run started with local activities (no `control-as-activities` marker at its
 * start) keeps them: its history was made with them. They heartbeat like a step, so the call a lost or
 * frozen worker held is retried elsewhere after the run's heartbeat timeout, not after its whole limit.
 */
export function controlActivities(
  context: Pick<RunContext, 'queuePrefix'>,
  heartbeatTimeoutMs: number,
): Pick<FlywheelActivities, 'openRun' | 'resolveSteps' | 'saveSteps' | 'assembleMap' | 'closeRun'> {
  if (!patched('control-as-activities')) return proxyLocalActivities<FlywheelActivities>({ startToCloseTimeout: '10m', retry: RETRY });
  return proxyActivities<FlywheelActivities>({
    taskQueue: taskQueueName(context.queuePrefix, 'cpu'),
    startToCloseTimeout: '60s',
    heartbeatTimeout: heartbeatTimeoutMs,
    retry: RETRY,
  });
}

/** Activities on the cpu queue that wait (for a shared execution, for a key's holder) while heartbeating. */
export function waitingActivities(input: { context: RunContext; heartbeatTimeoutMs: number }): Pick<FlywheelActivities, 'runStep' | 'awaitKey'> {
  return proxyActivities<FlywheelActivities>({
    taskQueue: taskQueueName(input.context.queuePrefix, 'cpu'),
    startToCloseTimeout: '3650d',
    heartbeatTimeout: input.heartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: RETRY,
  });
}
