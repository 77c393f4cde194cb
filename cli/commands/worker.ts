import { createLogger } from '../../engine/logger.js';
import { temporalSettings } from '../../workers/temporal-settings.js';
import { runWorker } from '../../workers/run-worker.js';
import { isQueueName, QUEUES } from '../../engine/core/queues.js';
import { UsageError } from '../../cache/errors.js';

/** `flywheel worker --queue cpu|gpu-h200`: serves a task queue until SIGINT/SIGTERM, then drains with a grace period. */
export async function workerCommand(args: {
  queue: string | undefined;
  concurrency: number | undefined;
  shutdownGraceMs: number | undefined;
  logLevel: string | undefined;
}): Promise<number> {
  const queue = args.queue;
  if (!isQueueName(queue)) throw new UsageError(`--queue ${args.queue ?? '(missing)'} is not a Flywheel queue`, `use --queue ${QUEUES.join(' or --queue ')}`);
  const logger = createLogger({ level: args.logLevel ?? process.env.FLYWHEEL_LOG_LEVEL ?? 'info' });
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await runWorker({
      queue,
      settings: temporalSettings(),
      logger,
      signal: abort.signal,
      ...(args.concurrency === undefined ? {} : { concurrency: args.concurrency }),
      ...(args.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: args.shutdownGraceMs }),
    });
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    logger.flush();
  }
}
