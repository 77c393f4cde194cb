import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Digest } from '../../cache/digest.js';
import type { Store } from '../../cache/store.js';
import { SECRET_FIELDS } from '../logger.js';
import { liveLogSink, type LiveLogSink } from './live-log-shipper.js';

/**
 * A step's log, captured per execution: every line its logger (`ctx.log`, and what the engine logs about
 * it) writes goes to the run's normal destination and into this capture, which keeps it in memory (up
 * to a cap: the head and the tail) and, on a store with a live log path (the local store), appends it to
 * `<store>/logs/<runId>/<stepId>.log` as it happens; on S3 it ships it in segments every few seconds
 * (engine/execute/live-log-shipper.ts). When the execution ends the text is stored as a
 * blob whose digest goes on the step's record (`logs`).
 *
 * One line per entry:
 *
 *     2025-01-02T03:04:05.678Z INFO  loaded rows rows=120 path=/tmp/x.csv extra={"a":1}
 *
 * time (ISO 8601, UTC), level (upper case, padded to 5), the message, then each structured field as
 * `key=value`: strings bare when they hold no space, quote, `=` or control character, else as a JSON
 * string; numbers, booleans and null as JSON; objects and arrays as compact JSON; errors as a JSON
 * string of `Name: message`. Secret-like fields read `[redacted]`. Line breaks inside a message are
 * escaped (`\n`), so a line is always one entry. A map's element lines start their message with
 * `[element N] `. A log over the cap keeps its first and last halves, with a line in between saying
 * how many lines and bytes were left out.
 */
export const STEP_LOG_CAP_BYTES = 8 * 1024 * 1024;

const LEVEL_NAMES: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const SECRETS = new Set<string>(SECRET_FIELDS);
const CAPTURE_LEVEL = LEVEL_NAMES.debug as number;

export interface StepLogOptions {
  store: Store;
  runId: string;
  stepId: string;
  /** Most bytes kept (head plus tail). Default {@link STEP_LOG_CAP_BYTES}. */
  capBytes?: number;
}

function bare(value: string): boolean {
  if (value === '' || /[\s"=\\]/.test(value)) return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return false;
  }
  return true;
}

function fieldValue(key: string, value: unknown): string {
  if (SECRETS.has(key)) return '[redacted]';
  if (typeof value === 'string') return bare(value) ? value : JSON.stringify(value);
  if (value instanceof Error) return JSON.stringify(`${value.name}: ${value.message}`);
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return JSON.stringify(String(value));
  try {
    return (
      JSON.stringify(value, (k, v: unknown) =>
        SECRETS.has(k) ? '[redacted]' : v instanceof Error ? `${v.name}: ${v.message}` : typeof v === 'bigint' ? v.toString() : v,
      ) ?? 'null'
    );
  } catch {
    return JSON.stringify(String(value));
  }
}

/** pino's `util.format`-like interpolation of `%s %d %o %j` in a message, as far as a log line needs it. */
function interpolate(message: string, args: readonly unknown[]): string {
  let i = 0;
  const out = message.replace(/%[sdifjoO%]/g, (token) => {
    if (token === '%%') return '%';
    if (i >= args.length) return token;
    const arg = args[i++];
    return typeof arg === 'string' ? arg : fieldValue('', arg);
  });
  const rest = args.slice(i).map((a) => (typeof a === 'string' ? a : fieldValue('', a)));
  return rest.length === 0 ? out : `${out} ${rest.join(' ')}`;
}

/** One pino call as a readable line (see {@link STEP_LOG_CAP_BYTES} for the format). */
export function formatLogLine(level: string, fields: Readonly<Record<string, unknown>>, message: string, time = new Date()): string {
  const parts = [time.toISOString(), level.toUpperCase().padEnd(5), message.replace(/\r?\n/g, '\\n')];
  for (const [key, value] of Object.entries(fields)) parts.push(`${key}=${fieldValue(key, value)}`);
  return parts.join(' ');
}

/** Splits pino's call shapes — `(obj, msg, ...args)`, `(msg, ...args)`, `(err, msg?)` — into fields and message. */
function parseCall(args: readonly unknown[]): { fields: Record<string, unknown>; message: string } {
  const [first, ...rest] = args;
  if (typeof first === 'string') return { fields: {}, message: interpolate(first, rest) };
  let fields: Record<string, unknown> = {};
  if (first instanceof Error) fields = { err: first };
  else if (first !== null && typeof first === 'object') fields = { ...(first as Record<string, unknown>) };
  else if (first !== undefined) return { fields: {}, message: interpolate(String(first), rest) };
  const [msg, ...more] = rest;
  let message = typeof msg === 'string' ? interpolate(msg, more) : '';
  if (message === '' && typeof fields.msg === 'string') {
    message = fields.msg;
    delete fields.msg;
  }
  if (message === '' && first instanceof Error) message = first.message;
  return { fields, message };
}

/** Captures one step execution's log lines; see the module comment. */
export class StepLogCapture {
  private readonly cap: number;
  private readonly head: string[] = [];
  private headBytes = 0;
  private readonly tail: string[] = [];
  private tailBytes = 0;
  private droppedLines = 0;
  private droppedBytes = 0;
  private fd: number | undefined;
  private livePath: string | undefined;
  /** Where live lines go on a store without a file for them (S3): segments every few seconds. */
  private sink: LiveLogSink | undefined;
  /** Bytes this capture appended to the live file: past the cap it stops, so a chatty step cannot fill the disk. */
  private liveBytes = 0;
  private closed = false;

  constructor(private readonly options: StepLogOptions) {
    this.cap = options.capBytes ?? STEP_LOG_CAP_BYTES;
    try {
      this.livePath = options.store.liveLogPath?.(options.runId, options.stepId);
    } catch {
      this.livePath = undefined; // an id the store cannot name a file after: no live log, the blob still comes
    }
    if (this.livePath === undefined) this.sink = liveLogSink(options.store, options.runId, options.stepId, this.cap);
  }

  /** Where the live log is appended to while the step runs, if the store has one. */
  get liveLogPath(): string | undefined {
    return this.livePath;
  }

  /** Adds a line (already formatted) to the capture and the live file. */
  line(text: string): void {
    if (this.closed) return;
    this.keep(text);
    this.appendLive(text);
  }

  /** Starts the capture with an earlier attempt's log (already in the live file): one log tells every attempt. */
  carryOver(text: string): void {
    for (const line of text.split('\n')) if (line !== '') this.keep(line);
  }

  /** Adds an entry, formatted as every captured line is. */
  write(level: string, fields: Readonly<Record<string, unknown>>, message: string): void {
    this.line(formatLogLine(level, fields, message));
  }

  /**
   * `base` wrapped so every call at debug level or above is also captured here (whatever level `base`
   * prints at): its children are captured too, their own bindings written as fields. The bindings
   * `base` already has (pipeline, runId, stepId, cacheKey) name the log itself and stay out of its lines.
   */
  wrap(base: Logger, prefix = ''): Logger {
    return this.wrapWith(base, {}, prefix);
  }

  private wrapWith(base: Logger, bindings: Readonly<Record<string, unknown>>, prefix: string): Logger {
    const capture = (level: string, args: unknown[]): void => {
      if ((LEVEL_NAMES[level] ?? 0) < CAPTURE_LEVEL) return;
      const { fields, message } = parseCall(args);
      this.write(level, { ...bindings, ...fields }, prefix + message);
    };
    return new Proxy(base, {
      get: (target, property, receiver) => {
        if (typeof property === 'string' && Object.hasOwn(LEVEL_NAMES, property)) {
          return (...args: unknown[]) => {
            capture(property, args);
            (target[property as 'info'] as (...a: unknown[]) => void).apply(target, args);
          };
        }
        if (property === 'child') {
          return (childBindings: Record<string, unknown>, childOptions?: object) =>
            this.wrapWith(
              childOptions === undefined ? target.child(childBindings) : target.child(childBindings, childOptions as never),
              { ...bindings, ...childBindings },
              prefix,
            );
        }
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  private keep(text: string): void {
    const bytes = Buffer.byteLength(text) + 1;
    const half = Math.floor(this.cap / 2);
    if (this.headBytes + bytes <= half && this.tail.length === 0) {
      this.head.push(text);
      this.headBytes += bytes;
      return;
    }
    if (bytes > half) {
      this.droppedLines++;
      this.droppedBytes += bytes;
      return;
    }
    this.tail.push(text);
    this.tailBytes += bytes;
    while (this.tailBytes > half) {
      const dropped = this.tail.shift() as string;
      this.tailBytes -= Buffer.byteLength(dropped) + 1;
      this.droppedLines++;
      this.droppedBytes += Buffer.byteLength(dropped) + 1;
    }
  }

  private appendLive(text: string): void {
    this.sink?.line(text);
    if (this.livePath === undefined) return;
    const bytes = Buffer.byteLength(text) + 1;
    if (this.liveBytes + bytes > this.cap) {
      if (this.liveBytes <= this.cap) this.writeLive(formatLogLine('warn', { capBytes: this.cap }, '… live log over its cap: the rest is in the stored log'));
      this.liveBytes = this.cap + 1;
      return;
    }
    this.liveBytes += bytes;
    this.writeLive(text);
  }

  private writeLive(text: string): void {
    if (this.livePath === undefined) return;
    try {
      if (this.fd === undefined) {
        mkdirSync(dirname(this.livePath), { recursive: true });
        this.fd = openSync(this.livePath, 'a');
      }
      writeSync(this.fd, `${text}\n`);
    } catch {
      // A live view is a convenience: a full disk or a removed directory must not fail the step.
      this.closeLive();
      this.livePath = undefined;
    }
  }

  private closeLive(): void {
    this.sink?.release();
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    this.fd = undefined;
  }

  /** The captured text: the head, a line saying what was left out (if anything), the tail. */
  text(): string {
    const lines = [...this.head];
    if (this.droppedLines > 0)
      lines.push(
        formatLogLine(
          'warn',
          { droppedLines: this.droppedLines, droppedBytes: this.droppedBytes, capBytes: this.cap },
          '… log over its cap: lines left out here',
        ),
      );
    lines.push(...this.tail);
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }

  /** Ends the capture without storing it (a map element that succeeded: its lines are in the live log only). */
  discard(): void {
    this.closed = true;
    this.closeLive();
  }

  /**
   * Ends the capture: stores its text as a blob and returns the digest (undefined when the store
   * could not take it: a log is not worth failing a step over). Lines after this are dropped.
   */
  async finish(): Promise<Digest | undefined> {
    if (this.closed) return undefined;
    this.closed = true;
    this.closeLive();
    try {
      return (await this.options.store.putBytes(Buffer.from(this.text(), 'utf8'))).digest;
    } catch {
      return undefined;
    }
  }
}
