import { createRequire } from 'node:module';
import type pinoModule from 'pino';
import type { Logger, LoggerOptions as PinoOptions } from 'pino';

/** Field names whose values never reach a log line, at the top level or one object down. */
export const SECRET_FIELDS = [
  'apiKey',
  'api_key',
  'token',
  'accessToken',
  'secret',
  'secretAccessKey',
  'password',
  'authorization',
  'Authorization',
  'credentials',
  'OPENAI_API_KEY',
  'AWS_SECRET_ACCESS_KEY',
];

export const REDACT_PATHS = [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`), ...SECRET_FIELDS.map((f) => `headers.${f}`)];

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Number.POSITIVE_INFINITY };
const require = createRequire(import.meta.url);

export interface LoggerOptions {
  level?: string;
  /** Human-readable output (pino-pretty); default: when stderr is a terminal. */
  pretty?: boolean;
  /** Where lines go; default stderr. */
  destination?: NodeJS.WritableStream;
}

/**
 * The library's logger: structured JSON to stderr, pretty on a terminal, secret-like fields redacted.
 *
 * @example
 * const logger = createLogger({ level: 'debug' });
 * logger.info({ apiKey: 'sk-…' }, 'calling the model'); // apiKey is logged as "[redacted]"
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.FLYWHEEL_LOG_LEVEL ?? 'info';
  const make = (): Logger => {
    const pino = require('pino') as typeof pinoModule;
    const base: PinoOptions = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { pid: process.pid } };
    const pretty = options.pretty ?? (process.stderr.isTTY === true && options.destination === undefined);
    if (pretty) {
      return pino(
        base,
        pino.transport({ target: 'pino-pretty', options: { destination: 2, colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' } }),
      );
    }
    return pino(base, options.destination ?? pino.destination({ dest: 2, sync: true }));
  };
  if (LEVELS[level] === undefined) return make(); // pino says what is wrong with the level
  return lazyLogger(make, level);
}

/**
 * A pino logger that loads pino only when a line is logged at an enabled level (or anything else of it
 * is used): a fully cached run logs nothing and never pays for pino's start-up.
 */
function lazyLogger(make: () => Logger, level: string): Logger {
  let real: Logger | undefined;
  const get = (): Logger => (real ??= make());
  const enabled = (name: string): boolean => (LEVELS[name] ?? 0) >= (LEVELS[real?.level ?? level] ?? 0);
  const own: Record<string, unknown> = {
    child: (bindings: Record<string, unknown>, childOptions?: object) =>
      childOptions === undefined ? lazyLogger(() => get().child(bindings), real?.level ?? level) : get().child(bindings, childOptions),
    isLevelEnabled: enabled,
    flush: (done?: (error?: Error) => void) => (real === undefined ? done?.() : real.flush(done)),
  };
  for (const name of Object.keys(LEVELS)) {
    if (name !== 'silent') own[name] = (...args: unknown[]) => (enabled(name) ? (get()[name as 'info'] as (...a: unknown[]) => void)(...args) : undefined);
  }
  return new Proxy(own, {
    get(target, property) {
      if (property === 'level') return real?.level ?? level;
      if (typeof property === 'string' && property in target) return target[property];
      const value = (get() as unknown as Record<string | symbol, unknown>)[property];
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(real) : value;
    },
    set(_target, property, value) {
      (get() as unknown as Record<string | symbol, unknown>)[property] = value;
      return true;
    },
  }) as unknown as Logger;
}
