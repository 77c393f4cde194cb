import type { ActionEntry, OutputRecord } from '../cache/records.js';
import type { Store } from '../cache/store.js';
import { externalState } from './external-state.js';
import { nodeKey } from './node-key.js';
import type { ResolvedNode } from './validate.js';

/**
 * Writes a finished step's action-cache entry. A `convergent` step (one that changes the outside state
 * its key reads, like deploy writing the registry) also gets the entry under the key of the state it
 * left, so the next run that finds that state unchanged is a hit instead of a redundant re-run.
 */
export async function storeResult(store: Store, node: ResolvedNode, entry: ActionEntry, upstreamOutputs: (nodeId: string) => Record<string, OutputRecord> | undefined, env: NodeJS.ProcessEnv): Promise<void> {
  await store.putAction(entry);
  if (node.step.convergent !== true) return;
  const after = nodeKey(node, upstreamOutputs, env, await externalState(node, upstreamOutputs));
  if (after.key !== entry.key) await store.putAction({ ...entry, key: after.key, components: after.components });
}
