import { ActivityCancellationType, ApplicationFailure, CancellationScope, condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { FlywheelActivities } from '../activities/create-activities.js';
import { NON_RETRYABLE_TYPES, taskQueueName, type StepExecutionInput, type StepExecutionResult } from './types.js';

/** A run starts waiting on the shared execution (sent with signal-with-start). */
export const subscribeSignal = defineSignal<[runId: string]>('subscribe');
/** A run stopped waiting (it was cancelled); the execution stops when nobody waits any more. */
export const unsubscribeSignal = defineSignal<[runId: string]>('unsubscribe');

/** Temporal-level attempts cover lost workers; the step's own `retries` happen inside the activity. */
const INFRASTRUCTURE_ATTEMPTS = 5;
/** Startup and store transfers on top of the step's own time limit. */
const MARGIN_MS = 10 * 60_000;
const NO_LIMIT_MS = 30 * 24 * 3600_000;

/**
 * Executes one cache key once, for every run that needs it at the same moment. Its workflow id derives
 * from the store and the key, so concurrent runs join the running execution (signal-with-start) instead
 * of starting another. A failure is reported to every waiting run and closes this execution; the next
 * run needing the key starts a fresh one, so a failure never poisons the key.
 */
export async function stepExecutionWorkflow(input: StepExecutionInput): Promise<StepExecutionResult> {
  const subscribers = new Set<string>();
  let everSubscribed = false;
  setHandler(subscribeSignal, (runId) => {
    subscribers.add(runId);
    everSubscribed = true;
  });
  setHandler(unsubscribeSignal, (runId) => void subscribers.delete(runId));

  const attemptMs = input.timeoutMs ?? NO_LIMIT_MS;
  const { executeStep } = proxyActivities<FlywheelActivities>({
    taskQueue: taskQueueName(input.context.queuePrefix, input.queue),
    startToCloseTimeout: Math.min(NO_LIMIT_MS, attemptMs * (input.retries + 1) + MARGIN_MS),
    heartbeatTimeout: input.heartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: INFRASTRUCTURE_ATTEMPTS, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
  });

  const scope = new CancellationScope();
  const work = scope.run(() => executeStep(input));
  const abandoned = condition(() => everSubscribed && subscribers.size === 0).then(() => 'abandoned' as const);
  const first = await Promise.race([work, abandoned]);
  if (first !== 'abandoned') return first;
  scope.cancel();
  await work.catch(() => undefined);
  throw ApplicationFailure.create({ type: 'STEP_CANCELLED', message: `every run waiting for step ${input.nodeId} was cancelled`, nonRetryable: true });
}
