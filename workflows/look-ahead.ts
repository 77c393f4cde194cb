import { patched } from '@temporalio/workflow';
import type { Outputs, Resolution } from '../engine/core/run-protocol.js';
import type { DagNode, LookAheadRequest } from './types.js';

/**
 * Look-ups made by the worker that has just executed a step, for the steps its result unblocks: on
 * Temporal each look-up round is an activity (~100 ms on a dev server), so a chain of misses paid two
 * round trips a step. A cpu step's execute activity also looks up its children whose other upstream are
 * done, by the same resolver and rules as `resolveSteps`, and the round that feeding its outcome to the
 * run core starts is answered with what it found. The rest of that round (a chain below a hit, another
 * branch) is left unresolved: the core puts each node whose upstream have all settled back in its
 * frontier, and the next round, an activity, resolves it. A result found stale by the time the step
 * executes is caught where every miss is: the key is looked up again once claimed.
 *
 * What is looked ahead answers only the round started by the same feed as the outcome it came with,
 * never a later one: so the answer depends on nothing but that outcome (in the history) and the core's
 * state, as every other decision of the workflow does. Decided once per run (`look-ahead-with-outcome`):
 * a run started before keeps its look-up activities, and a worker of that release ignores the request.
 */
export class LookAhead {
  private readonly children = new Map<string, string[]>();

  private constructor(
    private readonly nodes: ReadonlyMap<string, DagNode>,
    private readonly enabled: boolean,
  ) {
    for (const node of nodes.values()) for (const u of node.upstream) this.children.set(u, [...(this.children.get(u) ?? []), node.id]);
  }

  static forThisRun(nodes: ReadonlyMap<string, DagNode>): LookAhead {
    return new LookAhead(nodes, patched('look-ahead-with-outcome'));
  }

  /**
   * What to look up once `id` has its outputs: its children whose other upstream are all done, with their
   * outputs. None for a step on another queue than cpu: a GPU slot is not held for look-ups.
   */
  request(id: string, outputsOf: (id: string) => Outputs | undefined): Omit<LookAheadRequest, 'options'> | undefined {
    if (!this.enabled || this.nodes.get(id)?.queue !== 'cpu') return undefined;
    const ids: string[] = [];
    const known: Record<string, Outputs> = {};
    for (const child of this.children.get(id) ?? []) {
      const upstream = (this.nodes.get(child)?.upstream ?? []).filter((u) => u !== id);
      if (outputsOf(child) !== undefined || !upstream.every((u) => outputsOf(u) !== undefined)) continue;
      ids.push(child);
      for (const u of upstream) known[u] = outputsOf(u) as Outputs;
    }
    return ids.length === 0 ? undefined : { ids, known };
  }
}

/**
 * The part of a round that an outcome's look-ahead covers: the resolutions it found for the round's steps,
 * or undefined when it found none (the round then goes out as an activity).
 */
export function answeredAhead(ids: readonly string[], lookedAhead: readonly Resolution[] | undefined): Resolution[] | undefined {
  if (lookedAhead === undefined) return undefined;
  const round = new Set(ids);
  const found = lookedAhead.filter((resolution) => round.has(resolution.id));
  return found.length === 0 ? undefined : found;
}
