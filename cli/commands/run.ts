import type { Store } from '../../cache/store.js';
import { createLogger } from '../../engine/logger.js';
import { runLocal } from '../../engine/local-executor.js';
import { describeChoices, preparePipeline, type PipelineArgs } from '../pipeline-options.js';
import { RunReporter } from '../reporter.js';
import { runSummary } from '../run-summary.js';

export interface RunArgs extends PipelineArgs {
  forceAll: boolean;
  concurrency: number | undefined;
  json: boolean;
  logLevel: string | undefined;
  /** `local` (default) runs in this process; `temporal` starts a workflow on the workers. */
  engine: 'local' | 'temporal';
  /** Temporal only: print the run id and return without waiting. */
  detach: boolean;
  /** The store as named on the command line (workers are told its absolute location). */
  store: string | undefined;
}

export async function runCommand(args: RunArgs, store: Store): Promise<number> {
  if (args.engine === 'temporal') return (await import('./run-temporal.js')).runOnTemporal(args, store);
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
      overrides: describeChoices(args),
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
