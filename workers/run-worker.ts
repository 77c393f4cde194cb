import { trustFromEnv } from '../cache/trust-config.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createActivities } from '../activities/create-activities.js';
import { startTracing } from '../engine/tracing/tracing.js';
import { RunRuntime } from '../activities/run-runtime.js';
import { FlywheelError } from '../engine/errors.js';
import { temporalUnreachable, type TemporalSettings } from './temporal-settings.js';
import { taskQueueName, type QueueName } from '../engine/core/queues.js';
import { pinoTemporalLogger } from './pino-temporal-logger.js';
import { ensureSearchAttributes } from './search-attributes.js';

/** At most this long between heartbeats actually sent: cancelling a run reaches its steps within seconds. */
const HEARTBEAT_THROTTLE = '2s';

/** Built once by `npm run build` (scripts/bundle-workflows.mjs); workers never re-bundle on start. */
export const WORKFLOW_BUNDLE = fileURLToPath(new URL('../workflows/bundle.js', import.meta.url));

export interface WorkerOptions {
  queue: QueueName;
  settings: TemporalSettings;
  logger: Logger;
  /** Activities at once. The gpu-h200 worker runs one (a step owns the GPU); default 1 there, 8 on cpu. */
  concurrency?: number;
  /** How long a shutting-down worker lets running steps finish before cancelling them (they may checkpoint). */
  shutdownGraceMs?: number;
  signal?: AbortSignal;
}

/**
 * Serves one task queue until `signal` aborts. The cpu worker hosts the workflows, the cache look-ups
 * and cpu steps; the gpu-h200 worker only executes gpu steps, one at a time.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const { settings, queue, logger } = options;
  if (queue === 'cpu' && !existsSync(WORKFLOW_BUNDLE)) {
    throw new FlywheelError('WORKFLOW_BUNDLE_MISSING', `${WORKFLOW_BUNDLE} does not exist`, { fix: 'run `npm run build`' });
  }
  // The worker signs and trusts as its environment says: a bad key stops it at start. Workers share
  // their results (a map's elements run on one, assemble on another), so one that trusts keys must sign.
  if (trustFromEnv(process.env).signer?.ephemeral === true)
    throw new FlywheelError(
      'WORKER_MISCONFIGURED',
      'FLYWHEEL_TRUSTED_KEYS is set without FLYWHEEL_SIGNING_KEY: the other workers would not trust what this one writes',
      {
        fix: 'give the workers the writer key: FLYWHEEL_SIGNING_KEY=<.key from flywheel keys generate>, its .pub among FLYWHEEL_TRUSTED_KEYS',
      },
    );
  Runtime.install({ logger: pinoTemporalLogger(logger) });
  // OTEL_* set: the worker's spans (executions, look-ups, the steps' own) join each run's trace by its ids.
  const tracing = await startTracing(process.env);
  let connection: NativeConnection;
  let clientConnection: Connection | undefined;
  try {
    connection = await NativeConnection.connect({ address: settings.address });
    if (queue === 'cpu') clientConnection = await Connection.connect({ address: settings.address });
  } catch (error) {
    throw temporalUnreachable(settings, error);
  }
  const taskQueue = taskQueueName(settings.queuePrefix, queue);
  const log = logger.child({ taskQueue });
  try {
    const runtime = new RunRuntime();
    let worker: Worker;
    if (queue === 'cpu') {
      const client = new Client({ connection: clientConnection as Connection, namespace: settings.namespace });
      await ensureSearchAttributes(clientConnection as Connection, settings.namespace, log);
      worker = await Worker.create({
        connection,
        namespace: settings.namespace,
        taskQueue,
        workflowBundle: { codePath: WORKFLOW_BUNDLE },
        activities: createActivities({ runtime, logger: log, client }),
        maxConcurrentActivityTaskExecutions: Math.max(options.concurrency ?? 8, 4) + 64, // waits on shared executions are cheap
        shutdownGraceTime: options.shutdownGraceMs ?? 30_000,
        maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
      });
    } else {
      // Steps and a GPU map's elements (one per activity, so one per GPU slot).
      const { executeStep, executeElements } = createActivities({ runtime, logger: log });
      worker = await Worker.create({
        connection,
        namespace: settings.namespace,
        taskQueue,
        activities: { executeStep, executeElements },
        maxConcurrentActivityTaskExecutions: options.concurrency ?? 1,
        shutdownGraceTime: options.shutdownGraceMs ?? 120_000,
        maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
      });
    }
    const stop = (): void => {
      log.info('shutting down: running steps get the grace period to finish or checkpoint');
      worker.shutdown();
    };
    if (options.signal?.aborted) stop();
    options.signal?.addEventListener('abort', stop, { once: true });
    log.info({ namespace: settings.namespace, address: settings.address }, 'worker started');
    await worker.run();
    log.info('worker stopped');
  } finally {
    await tracing.flush();
    await connection.close().catch(() => undefined);
    await clientConnection?.close().catch(() => undefined);
  }
}
