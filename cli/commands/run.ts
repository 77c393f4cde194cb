import type { RunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import { createLogger } from '../../engine/logger.js';
import { runLocal } from '../../engine/local-executor.js';
import { preparePipeline, type PipelineArgs } from '../pipeline-options.js';
import { RunReporter } from '../reporter.js';

export interface RunArgs extends PipelineArgs {
  forceAll: boolean;
  concurrency: number | undefined;
  json: boolean;
  logLevel: string | undefined;
}

/** The `--json` document: stable fields for scripts and CI. */
export function runSummary(run: RunRecord): unknown {
  return {
    runId: run.runId,
    pipeline: run.pipeline,
    status: run.status,
    durationMs: run.durationMs,
    steps: run.steps.map((s) => ({
      id: s.id,
      status: s.status,
      cacheKey: s.cacheKey ?? null,
      reason: s.reason,
      reasonCodes: s.reasonCodes,
      outputs: Object.fromEntries(Object.entries(s.outputs).map(([name, o]) => [name, o.digest])),
      durationMs: s.durationMs ?? 0,
      ...(s.savedMs === undefined ? {} : { savedMs: s.savedMs }),
      ...(s.error === undefined ? {} : { error: s.error }),
    })),
  };
}

export async function runCommand(args: RunArgs, store: Store): Promise<number> {
  const pipeline = await preparePipeline(args);
  // The reporter already shows step state; logs stay quiet on a terminal unless asked for.
  const logger = createLogger({ level: args.logLevel ?? process.env.FLYWHEEL_LOG_LEVEL ?? (args.json ? 'info' : 'warn') });
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const reporter = args.json ? undefined : new RunReporter(process.stdout);
  try {
    const run = await runLocal(pipeline, {
      store,
      logger,
      ...(args.concurrency === undefined ? {} : { concurrency: args.concurrency }),
      force: args.force,
      forceAll: args.forceAll,
      overrides: args.set,
      signal: abort.signal,
      ...(reporter ? { onEvent: reporter.onEvent } : {}),
    });
    if (args.json) process.stdout.write(`${JSON.stringify(runSummary(run), null, 2)}\n`);
    return run.status === 'succeeded' ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    logger.flush();
  }
}
