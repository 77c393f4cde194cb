import pino, { type Logger } from 'pino';

/** Field names whose values never reach a log line, at the top level or one object down. */
const SECRET_FIELDS = [
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
  const base = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { pid: process.pid } };
  const pretty = options.pretty ?? (process.stderr.isTTY === true && options.destination === undefined);
  if (pretty) {
    return pino(
      base,
      pino.transport({ target: 'pino-pretty', options: { destination: 2, colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' } }),
    );
  }
  return pino(base, options.destination ?? pino.destination({ dest: 2, sync: true }));
}
