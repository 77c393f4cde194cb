import type { Store } from '../../cache/store.js';
import { createLogger } from '../../engine/logger.js';
import { runLocal } from '../../engine/drivers/local-executor.js';
import { describeChoices, loadConfiguredPipeline, type PipelineArgs } from '../options/pipeline-options.js';
import { RunReporter } from '../terminal/reporter.js';
import { runSummary } from '../terminal/run-summary.js';
import { printStepWarnings } from '../terminal/step-warnings.js';

export interface RunArgs extends PipelineArgs {
  forceAll: boolean;
  concurrency: number | undefined;
  json: boolean;
  logLevel: string | undefined;
  /** `human` (default): readable log lines between the step lines; `json`: pino's JSON lines on stderr. */
  logFormat: 'human' | 'json' | undefined;
  /** `local` (default) runs in this process; `temporal` starts a workflow on the workers. */
  engine: 'local' | 'temporal';
  /** Temporal only: print the run id and return without waiting. */
  detach: boolean;
  /** The store as named on the command line (workers are told its absolute location). */
  store: string | undefined;
}

export async function runCommand(args: RunArgs, store: Store): Promise<number> {
  if (args.engine === 'temporal') return (await import('./run-temporal.js')).runOnTemporal(args, store);
  const { pipeline, path } = await loadConfiguredPipeline(args);
  const reporter = args.json ? undefined : new RunReporter(process.stdout);
  // The reporter already shows step state; logs stay quiet unless asked for, and read as lines beside it.
  const level = args.logLevel ?? process.env.FLYWHEEL_LOG_LEVEL ?? (args.json ? 'info' : 'warn');
  const humanLogs = reporter !== undefined && (args.logFormat ?? 'human') === 'human';
  const logger = createLogger({ level, ...(humanLogs ? { destination: reporter.logSink() } : {}) });
  const abort = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalled = signal;
    abort.abort(new Error(`interrupted (${signal})`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const run = await runLocal(pipeline, {
      store,
      logger,
      ...(args.concurrency === undefined ? {} : { concurrency: args.concurrency }),
      force: args.force,
      forceAll: args.forceAll,
      overrides: describeChoices(args),
      source: path,
      signal: abort.signal,
      ...(reporter ? { onEvent: reporter.onEvent } : {}),
    });
    if (args.json) process.stdout.write(`${JSON.stringify(runSummary(run), null, 2)}\n`);
    // The human reporter shows each warning under its step; with --json they go to stderr once.
    if (reporter === undefined) printStepWarnings(run.steps);
    if (run.status === 'succeeded') return 0;
    // Stopped on request: the shell's convention, 128 + the signal's number.
    if (run.status === 'cancelled') return signalled === 'SIGTERM' ? 143 : 130;
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    logger.flush();
  }
}
