import type { CoreNode } from '../core/run-protocol.js';
import type { ResolvedNode } from '../validate/validate.js';

/** What the run core needs to know of a validated node, for every driver. */
export function coreNode(node: ResolvedNode): CoreNode {
  return {
    id: node.id,
    step: node.step.id,
    upstream: node.upstream,
    ...(node.map === undefined ? {} : { map: { minSuccessRatio: node.map.minSuccessRatio, batchSize: node.map.batchSize } }),
    retry: node.retry,
    ...(node.code === undefined ? {} : { code: node.code.digest }),
    ...(node.step.lineage === true ? { lineage: true } : {}),
  };
}
