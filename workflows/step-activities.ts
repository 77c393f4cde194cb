import { ActivityCancellationType, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { FlywheelActivities } from '../activities/create-activities.js';
import { taskQueueName } from '../engine/core/queues.js';
import type { StepExecutionInput } from './types.js';

/** Temporal-level attempts cover lost workers; the step's own `retries` happen inside the activity. */
const INFRASTRUCTURE_ATTEMPTS = 5;
/** Startup and store transfers on top of the step's own time limit. */
const MARGIN_MS = 10 * 60_000;
const NO_LIMIT_MS = 30 * 24 * 3600_000;

/** Failures are classified where they happen (activities mark bad input non-retryable); these are the rest. */
export const RETRY = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 } as const;

/** The activity that executes a step, on the queue the step names, with the step's time limits. */
export function stepActivities(
  input: Pick<StepExecutionInput, 'context' | 'queue' | 'timeoutMs' | 'retries' | 'heartbeatTimeoutMs'>,
): Pick<FlywheelActivities, 'executeStep'> {
  const attemptMs = input.timeoutMs ?? NO_LIMIT_MS;
  const options: ActivityOptions = {
    taskQueue: taskQueueName(input.context.queuePrefix, input.queue),
    startToCloseTimeout: Math.min(NO_LIMIT_MS, attemptMs * (input.retries + 1) + MARGIN_MS),
    heartbeatTimeout: input.heartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { ...RETRY, maximumAttempts: INFRASTRUCTURE_ATTEMPTS },
  };
  return proxyActivities<FlywheelActivities>(options);
}

/**
 * A map's chunks: invocations per activity and at most how many of them execute at once (the run's
 * concurrency bounds both). A GPU map sends one per activity, so one per GPU slot.
 */
export const ELEMENT_CHUNKS = { cpu: { size: 50, parallel: 8 }, gpu: { size: 1, parallel: 1 } } as const;

/** The activity that executes a chunk of a map's invocations, on the step's queue; its limit covers the chunk. */
export function elementActivities(
  input: Pick<StepExecutionInput, 'context' | 'queue' | 'timeoutMs' | 'retries' | 'heartbeatTimeoutMs'> & { indices: number[]; parallel: number },
): Pick<FlywheelActivities, 'executeElements'> {
  const attemptMs = input.timeoutMs ?? NO_LIMIT_MS;
  const rounds = Math.ceil(input.indices.length / Math.max(1, input.parallel));
  return proxyActivities<FlywheelActivities>({
    taskQueue: taskQueueName(input.context.queuePrefix, input.queue),
    startToCloseTimeout: Math.min(NO_LIMIT_MS, attemptMs * (input.retries + 1) * Math.max(1, rounds) + MARGIN_MS),
    heartbeatTimeout: input.heartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { ...RETRY, maximumAttempts: INFRASTRUCTURE_ATTEMPTS },
  });
}

/** Activities on the cpu queue that wait (for a shared execution, for a key's holder) while heartbeating. */
export function waitingActivities(input: Pick<StepExecutionInput, 'context' | 'heartbeatTimeoutMs'>): Pick<FlywheelActivities, 'runStep' | 'awaitKey'> {
  return proxyActivities<FlywheelActivities>({
    taskQueue: taskQueueName(input.context.queuePrefix, 'cpu'),
    startToCloseTimeout: '3650d',
    heartbeatTimeout: input.heartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: RETRY,
  });
}
