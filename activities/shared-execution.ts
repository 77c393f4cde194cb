import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/common';
import { taskQueueName } from '../engine/core/queues.js';
import { awaitKey } from '../engine/execute/execute-once.js';
import { checkedKeyOf } from '../engine/keys/node-key.js';
import type { KeyWait, StepAttempt, StepExecutionInput } from '../workflows/types.js';
import { asNonRetryable, toApplicationFailure } from './failures.js';
import { whileAlive } from './heartbeat.js';
import type { RunRuntime } from './run-runtime.js';
import { stepWorkflowId } from './step-workflow-id.js';

/** The innermost failure: an activity failure wraps the step's ApplicationFailure, which says what went wrong. */
function rootCause(error: Error | undefined): Error | undefined {
  let current = error;
  while (current !== undefined && !(current instanceof ApplicationFailure) && current.cause instanceof Error) current = current.cause;
  return current;
}

/**
 * The activities through which a run waits for a key that another process holds, on the cpu queue (a
 * GPU slot is never spent waiting): `runStep` joins the key's shared step-execution workflow, whose
 * `awaitKey` waits for the holder to give the key up.
 */
export function sharedExecutionActivities(runtime: RunRuntime, client: Client | undefined) {
  return {
    /** Waits (heartbeating) for another process holding a key: its result, its failure, or a free key. */
    async awaitKey(input: StepExecutionInput): Promise<KeyWait> {
      const ctx = Context.current();
      const { command, context } = input;
      const { store, node } = await runtime.load(context, command.id);
      try {
        checkedKeyOf(node, (id) => command.upstream[id], process.env, command);
      } catch (error) {
        throw asNonRetryable(toApplicationFailure(error));
      }
      const waited = await whileAlive(
        ctx,
        input.heartbeatTimeoutMs,
        () => undefined,
        () =>
          awaitKey({
            node,
            key: command.key,
            store,
            env: process.env,
            signal: ctx.cancellationSignal,
            waitedFor: input.waitedFor,
            lookAgain: command.lookAgain,
          }),
      );
      if (waited.kind === 'reused') return { kind: 'reused', outcome: waited };
      if (waited.kind === 'free') return waited;
      if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`waiting for step ${node.id} was cancelled`);
      return { kind: 'failed', error: { code: waited.error.code, message: waited.error.message } };
    },

    /**
     * Starts the key's step-execution workflow or joins the one running (signal-with-start), and waits
     * for it while heartbeating. Cancelled, it tells the execution it no longer waits.
     */
    async runStep(input: StepExecutionInput): Promise<StepAttempt> {
      if (client === undefined)
        throw ApplicationFailure.create({
          type: 'WORKER_MISCONFIGURED',
          message: 'runStep needs a Temporal client',
          nonRetryable: true,
          details: [{ fix: 'run it on the cpu worker' }],
        });
      const ctx = Context.current();
      const handle = await client.workflow.signalWithStart('stepExecutionWorkflow', {
        workflowId: stepWorkflowId(input.context.store, input.command.key),
        taskQueue: taskQueueName(input.context.queuePrefix, 'cpu'),
        args: [input],
        signal: 'subscribe',
        signalArgs: [input.context.runId],
      });
      try {
        return await whileAlive(
          ctx,
          input.heartbeatTimeoutMs,
          () => undefined,
          async () => (await Promise.race([handle.result(), ctx.cancelled])) as StepAttempt,
        );
      } catch (error) {
        if (ctx.cancellationSignal.aborted) {
          await handle.signal('unsubscribe', input.context.runId).catch(() => undefined);
          throw error;
        }
        if (!(error instanceof WorkflowFailedError)) throw error;
        const cause = rootCause(error.cause);
        // The shared execution failed: every waiting run sees it; the next run starts a fresh execution.
        if (cause instanceof ApplicationFailure) throw asNonRetryable(cause);
        if (cause instanceof TerminatedFailure || cause instanceof TimeoutFailure || cause instanceof CancelledFailure) {
          const message = `the execution of step ${input.command.id} ended early (${cause.message}); trying again`;
          throw ApplicationFailure.create({ type: 'STEP_EXECUTION_LOST', message, nonRetryable: false });
        }
        throw error;
      }
    },
  };
}
