import { FlywheelError } from '../engine/errors.js';

/** Where the Temporal executor connects: `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `FLYWHEEL_TASK_QUEUE_PREFIX`. */
export interface TemporalSettings {
  address: string;
  namespace: string;
  /** Prepended to `cpu` and `gpu-h200`, so several deployments (or test suites) can share one server. */
  queuePrefix: string;
}

export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  return {
    address: env.TEMPORAL_ADDRESS || '127.0.0.1:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    queuePrefix: env.FLYWHEEL_TASK_QUEUE_PREFIX ?? '',
  };
}

/** A connection failure says where Flywheel looked and how to point it elsewhere. */
export function temporalUnreachable(settings: TemporalSettings, error: unknown): FlywheelError {
  return new FlywheelError(
    'TEMPORAL_UNREACHABLE',
    `cannot reach Temporal at ${settings.address} (namespace ${settings.namespace}): ${(error as Error).message}`,
    {
      fix: 'start a server (`temporal server start-dev`, or docker compose up) or set TEMPORAL_ADDRESS=host:port',
      cause: error,
    },
  );
}
