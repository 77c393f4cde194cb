import { parseIsoDuration } from '../../engine/durations.js';
import { UsageError } from '../../cache/errors.js';

export function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} ${value} is not a whole number ≥ 1`, `write e.g. ${flag} 4`);
  return n;
}

export function durationFlag(value: string, flag: string): number {
  const ms = parseIsoDuration(value);
  if (ms === undefined) throw new UsageError(`${flag} ${value} is not an ISO-8601 duration`, `write e.g. ${flag} PT2M`);
  return ms;
}

/** `--log-format`: readable lines (the default for a person) or pino's JSON lines (for a log collector). */
export function logFormatFlag(value: string | undefined): 'human' | 'json' | undefined {
  if (value === undefined || value === 'human' || value === 'json') return value;
  throw new UsageError(`--log-format ${value} is not human or json`, 'write --log-format json for JSON log lines (human is the default)');
}
