import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { RunRecord } from '../../cache/records.js';
import { readLocations, storeLocation } from '../../cache/open-store.js';
import type { Store } from '../../cache/store.js';
import { FlywheelError } from '../../engine/errors.js';
import type { RunEvent } from '../../engine/core/run-protocol.js';
import { hasCpuWorker, queryProgress, startTemporalRun, withTemporal } from '../../workers/temporal-client.js';
import { loadConfiguredPipeline, describeChoices } from '../options/pipeline-options.js';
import { RunReporter } from '../terminal/reporter.js';
import { RUN_FAILED } from '../../workflows/types.js';
import { runSummary } from '../terminal/run-summary.js';
import { printStepWarnings } from '../terminal/step-warnings.js';
import type { RunArgs } from './run.js';

/**
 * Reports steps as they start, and a running step's progress (a map's elements done of all) as it
 * changes, from the workflow's `progress` query, until `done` settles.
 */
async function follow(handle: WorkflowHandle, emit: (event: RunEvent) => void, done: Promise<unknown>): Promise<void> {
  const seen = new Set<string>();
  const shown = new Map<string, string>();
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    const progress = await queryProgress(handle).catch(() => undefined);
    for (const step of progress?.steps ?? []) {
      if (step.status !== 'running') continue;
      if (!seen.has(step.id)) {
        seen.add(step.id);
        emit({ type: 'step-running', id: step.id, reason: step.reason });
      }
      if (step.fraction === undefined && step.message === undefined) continue;
      const now = `${step.fraction ?? ''} ${step.message ?? ''}`;
      if (shown.get(step.id) === now) continue;
      shown.set(step.id, now);
      emit({
        type: 'step-progress',
        id: step.id,
        progress: { ...(step.fraction === undefined ? {} : { fraction: step.fraction }), ...(step.message === undefined ? {} : { message: step.message }) },
      });
    }
    await Promise.race([sleep(1000), done.catch(() => undefined)]);
  }
}

/** `flywheel run --engine temporal`: the same summary as a local run, computed by Temporal workers. */
export async function runOnTemporal(args: RunArgs, store: Store): Promise<number> {
  const { pipeline, path, overrides } = await loadConfiguredPipeline(args);
  return withTemporal(async (connection) => {
    if (!(await hasCpuWorker(connection))) {
      process.stderr.write(
        `warning: no worker polls task queue ${connection.settings.queuePrefix}cpu on ${connection.settings.address}; the run waits until one starts (flywheel worker --queue cpu)\n`,
      );
    }
    const { runId, handle, prices } = await startTemporalRun(connection, {
      pipeline,
      pipelineRef: args.pipeline,
      pipelinePath: path,
      overrides,
      setArgs: describeChoices(args),
      store: storeLocation(args.store),
      readFrom: readLocations(),
      force: args.force,
      forceAll: args.forceAll,
      ...(args.concurrency === undefined ? {} : { concurrency: args.concurrency }),
    });
    if (args.detach) {
      process.stdout.write(
        args.json
          ? `${JSON.stringify({ runId, workflowId: handle.workflowId })}\n`
          : `started run ${runId} (workflow ${handle.workflowId}); follow it with: flywheel show ${runId} --engine temporal\n`,
      );
      return 0;
    }
    const reporter = args.json ? undefined : new RunReporter(process.stdout);
    reporter?.onEvent({
      type: 'run-started',
      runId,
      pipeline: pipeline.name,
      steps: pipeline.nodes.map((n) => n.id),
      ...(prices === undefined ? {} : { prices }),
    });
    // Ctrl-C cancels the run, as it does locally; its steps are cancelled on their workers.
    let signalled: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      signalled = signal;
      void handle.cancel().catch(() => undefined);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const result = handle.result();
    try {
      if (reporter) await follow(handle, reporter.onEvent, result);
      await result;
    } catch (error) {
      if (!(error instanceof WorkflowFailedError)) throw error;
      const cause = applicationCause(error);
      // A failed or cancelled run has saved its record, reported below; anything else (e.g. invalid on the worker) is an error.
      if (cause !== undefined && cause.type !== RUN_FAILED)
        throw new FlywheelError(cause.type ?? 'RUN_FAILED', cause.message, { retryable: !cause.nonRetryable });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    const run: RunRecord | undefined = await store.getRun(runId);
    if (run === undefined)
      throw new FlywheelError('RUN_RECORD_MISSING', `run ${runId} finished but its record is not in ${store.description}`, {
        fix: 'give the workers and this command the same FLYWHEEL_STORE',
      });
    if (reporter) {
      for (const step of run.steps) reporter.onEvent({ type: 'step-finished', step });
      reporter.onEvent({ type: 'run-finished', run });
    } else {
      process.stdout.write(`${JSON.stringify(runSummary(run), null, 2)}\n`);
    }
    printStepWarnings(run.steps);
    if (run.status === 'succeeded') return 0;
    // As locally: a run stopped with Ctrl-C exits 130 (143 for SIGTERM).
    if (run.status === 'cancelled' && signalled !== undefined) return signalled === 'SIGTERM' ? 143 : 130;
    return 1;
  });
}

/**
 * The failure the run's workflow or its own activities raised: the workflow's directly, or one of its
 * activities' (opening the run on a worker that refuses it) under the ActivityFailure that carries it.
 */
function applicationCause(error: WorkflowFailedError): ApplicationFailure | undefined {
  for (let cause: unknown = error.cause; cause instanceof Error; cause = cause.cause) if (cause instanceof ApplicationFailure) return cause;
  return undefined;
}
