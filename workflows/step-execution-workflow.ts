import { ApplicationFailure, CancellationScope, condition, defineSignal, setHandler } from '@temporalio/workflow';
import type { EngineErrorCode } from '../cache/errors.js';
import { stepActivities, waitingActivities } from './step-activities.js';
import { asAttempt, asKeyWait, asStepInput } from './outcomes.js';
import type { StepAttempt, StepExecutionInput } from './types.js';

/** A run starts waiting on the shared execution (sent with signal-with-start). */
export const subscribeSignal = defineSignal<[runId: string]>('subscribe');
/** A run stopped waiting (it was cancelled); the execution stops when nobody waits any more. */
export const unsubscribeSignal = defineSignal<[runId: string]>('unsubscribe');

const CANCELLED: EngineErrorCode = 'STEP_CANCELLED';

/**
 * Where runs wait when a key they need is being executed by another process: one per store and key
 * (its workflow id derives from both), joined by signal-with-start. It waits on the cpu queue for the
 * holder to give the key up, then reuses its result, reports its failure to every waiting run, or,
 * when the key turns out free, executes it on the step's queue. A failure closes this execution; the
 * next run needing the key starts a fresh one, so a failure never poisons the key.
 */
export async function stepExecutionWorkflow(given: StepExecutionInput): Promise<StepAttempt> {
  const input = asStepInput(given);
  const runId = input.context.runId;
  const subscribers = new Set<string>();
  let everSubscribed = false;
  setHandler(subscribeSignal, (runId) => {
    subscribers.add(runId);
    everSubscribed = true;
  });
  setHandler(unsubscribeSignal, (runId) => void subscribers.delete(runId));

  const { awaitKey } = waitingActivities(input);
  const { executeStep } = stepActivities(input);
  const scope = new CancellationScope();
  const work = scope.run(async (): Promise<StepAttempt> => {
    let request = input;
    for (;;) {
      const waited = asKeyWait(await awaitKey(request));
      if (waited.kind === 'failed') throw ApplicationFailure.create({ type: waited.error.code, message: waited.error.message, nonRetryable: true });
      if (waited.kind === 'reused') return waited.outcome;
      const attempt = asAttempt(await executeStep(request), runId);
      if (attempt.kind !== 'contended') return attempt;
      // Someone else claimed it between the wait and the execution: wait for them too.
      request = { ...request, waitedFor: [...request.waitedFor, attempt.holder.token] };
    }
  });
  const abandoned = condition(() => everSubscribed && subscribers.size === 0).then(() => 'abandoned' as const);
  const first = await Promise.race([work, abandoned]);
  if (first !== 'abandoned') return first;
  scope.cancel();
  await work.catch(() => undefined);
  throw ApplicationFailure.create({ type: CANCELLED, message: `every run waiting for step ${input.command.id} was cancelled`, nonRetryable: true });
}
