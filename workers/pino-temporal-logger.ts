import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import type { Logger } from 'pino';

const LEVELS = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** Routes the Temporal SDK's own logs (and workflow logs) through pino, fields first. */
export function pinoTemporalLogger(logger: Logger): DefaultLogger {
  const sdk = logger.child({ component: 'temporal' });
  const level = logger.level === 'trace' || logger.level === 'debug' ? 'DEBUG' : logger.level === 'info' ? 'INFO' : 'WARN';
  return new DefaultLogger(level, (entry: LogEntry) => sdk[LEVELS[entry.level]]({ ...(entry.meta ?? {}) }, entry.message));
}
