import { createHash } from 'node:crypto';

/**
 * A step id as a file name or key part for its log: characters other than letters, digits, `.`, `_` and `-`
 * become `_`, so no separator survives; when any did, a digest of the id follows, so "Generate Data" and
 * "Generate_Data" (Tangle task names) keep logs of their own.
 */
export function stepLogName(stepId: string): string {
  const safe = stepId.replace(/[^\w.-]/g, '_');
  return safe === stepId ? safe : `${safe}-${createHash('sha256').update(stepId).digest('hex').slice(0, 8)}`;
}
