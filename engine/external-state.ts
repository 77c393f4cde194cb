import { FlywheelError } from './errors.js';
import type { ResolvedNode } from './validate.js';

/** The step's outside state for its cache key (its `external` hook), or undefined when it declares none. */
export async function externalState(node: ResolvedNode): Promise<unknown> {
  if (node.step.external === undefined) return undefined;
  try {
    return (await node.step.external(node.config)) ?? null;
  } catch (error) {
    throw new FlywheelError('EXTERNAL_STATE_FAILED', `step ${node.id}: could not read the outside state its cache key depends on: ${(error as Error).message}`, {
      retryable: false,
      fix: 'check what the step reads (e.g. its source path) exists and is readable',
      cause: error,
    });
  }
}
