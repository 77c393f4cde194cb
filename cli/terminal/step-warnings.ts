import type { StepRunRecord } from '../../cache/records.js';

/**
 * Warnings about results a run used anyway (a cached result of other code, onCodeChange: 'warn'), one
 * line each on stderr, so they are seen with the human output and with --json alike.
 */
export function printStepWarnings(steps: readonly Pick<StepRunRecord, 'id' | 'warning'>[]): void {
  const lines = steps.flatMap((s) => (s.warning === undefined ? [] : [`warning: step ${s.id}: ${s.warning}`]));
  if (lines.length > 0) process.stderr.write(`${lines.join('\n')}\n`);
}
