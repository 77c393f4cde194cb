import type { KeyComponents } from '../cache/cache-key.js';
import type { CacheKey } from '../cache/digest.js';
import { classifyError } from '../cache/errors.js';
import type { Store } from '../cache/store.js';
import type { Outputs, Resolution } from './core/run-protocol.js';
import { decide, hitResolution, type LastRun } from './decide.js';
import { externalState } from './external-state.js';
import { nodeKey } from './node-key.js';
import type { ResolvedNode, ResolvedPipeline } from './validate.js';
import { resolveMap } from './map/resolve-map.js';

/**
 * The one way a node's key is made once its upstream outputs are known: the outside state its
 * `external` hook reports, then the key over step, version, config, input digests, env and that state.
 */
export async function keyOf(
  node: ResolvedNode,
  upstream: (nodeId: string) => Outputs | undefined,
  env: NodeJS.ProcessEnv,
): Promise<{ key: CacheKey; components: KeyComponents }> {
  return nodeKey(node, upstream, env, await externalState(node, upstream));
}

export interface KeyResolverOptions {
  store: Store;
  pipeline: ResolvedPipeline;
  env: NodeJS.ProcessEnv;
  force: readonly string[];
  forceAll: boolean;
  /** Remove broken entries and blobs found on the way (a run does; a plan only looks). */
  repair: boolean;
  /** The run miss explanations are relative to; loaded on the first miss only. */
  lastRun: () => Promise<LastRun>;
}

/**
 * Resolves keys and looks them up: key, then cache decision (forced, disabled, hit, rejected, explained
 * miss), for the local executor, the planner and the Temporal activities alike.
 */
export class KeyResolver {
  private readonly force: ReadonlySet<string>;

  constructor(private readonly options: KeyResolverOptions) {
    this.force = new Set(options.force);
  }

  /** One node whose upstream outputs are all known. A key that cannot be made fails the node, not the run. */
  async resolve(node: ResolvedNode, upstream: (nodeId: string) => Outputs | undefined): Promise<Resolution> {
    const { store, repair, lastRun } = this.options;
    try {
      const forced = this.options.forceAll ? 'all' : this.force.has(node.id) ? 'step' : undefined;
      if (node.map !== undefined) return await resolveMap(node, upstream, { store, env: this.options.env, forced, repair, lastRun });
      const { key, components } = await keyOf(node, upstream, this.options.env);
      const decision = await decide(node, key, components, { store, forced, repair, lastRun });
      if (decision.hit) return hitResolution(node.id, key, components, decision);
      return { kind: 'miss', id: node.id, key, components, codes: decision.why.codes, reason: decision.why.reason, rejected: decision.rejected };
    } catch (error) {
      const { code, message } = classifyError(error);
      return { kind: 'error', id: node.id, error: { code, message } };
    }
  }

  /**
   * A batch from the run core: each node as soon as its upstream in the batch are hits (branches in
   * parallel), with outputs from outside the batch read from `known`. Nodes below a miss are left out.
   */
  async resolveBatch(ids: readonly string[], known: (nodeId: string) => Outputs | undefined, onResolved: (resolution: Resolution) => void): Promise<void> {
    const hits = new Map<string, Promise<Outputs | undefined>>();
    for (const id of ids) {
      const node = this.options.pipeline.byId.get(id);
      if (node === undefined) {
        onResolved({
          kind: 'error',
          id,
          error: {
            code: 'KEY_MISMATCH',
            message: `this worker's pipeline ${this.options.pipeline.name} has no step ${id}: it runs other code than the client`,
          },
        });
        continue;
      }
      const inBatch = node.upstream.filter((u) => hits.has(u));
      const waitFor = inBatch.length === 0 ? Promise.resolve([]) : Promise.all(inBatch.map((u) => hits.get(u)));
      hits.set(
        id,
        waitFor.then(async (batchOutputs) => {
          const upstream = new Map<string, Outputs>();
          for (const u of node.upstream) {
            const found = inBatch.includes(u) ? batchOutputs[inBatch.indexOf(u)] : known(u);
            if (found === undefined) return undefined; // an upstream missed: its key comes later
            upstream.set(u, found);
          }
          const resolution = await this.resolve(node, (u) => upstream.get(u));
          onResolved(resolution);
          return resolution.kind === 'hit' ? resolution.outputs : undefined;
        }),
      );
    }
    await Promise.all(hits.values());
  }
}
