import { createHash } from 'node:crypto';

/**
 * The id of the workflow executing a cache key: one per store and key, so concurrent runs that need
 * the same key join one execution, while runs on different stores never share one.
 */
export function stepWorkflowId(store: string, cacheKey: string): string {
  return `flywheel-step-${createHash('sha256').update(store).digest('hex').slice(0, 12)}-${cacheKey}`;
}
