import { patched } from '@temporalio/workflow';
import type { Outputs, Resolution } from '../engine/core/run-protocol.js';
import type { DagNode, LookAheadRequest } from './types.js';

/**
 * Look-ups made by the worker that has just executed a step, for the steps its result unblocks: on
 * Temporal each look-up round is an activity (~100 ms on a dev server), so a chain of misses paid two
 * round trips a step. A cpu step's execute activity now also looks up its children whose other upstream
 * are done, by the same resolver and rules as `resolveSteps`, and the run core's next round is answered
 * with what it found. The rest of that round (a chain below a hit, another branch) is left unresolved:
 * the core puts each node whose upstream have all settled back in its frontier, and the next round,
 * an activity, resolves it. A result found stale by the time the step executes is caught where every
 * miss is: the key is looked up again once claimed. Decided once per run (`look-ahead-after-execute`):
 * a run started before keeps its look-up activities, and a worker of that release ignores the request.
 */
export class LookAhead {
  /** What the last execution looked up: its children's resolutions. */
  private last: Map<string, Resolution> | undefined;
  private readonly children = new Map<string, string[]>();

  private constructor(
    private readonly nodes: ReadonlyMap<string, DagNode>,
    private readonly enabled: boolean,
  ) {
    for (const node of nodes.values()) for (const u of node.upstream) this.children.set(u, [...(this.children.get(u) ?? []), node.id]);
  }

  static forThisRun(nodes: ReadonlyMap<string, DagNode>): LookAhead {
    return new LookAhead(nodes, patched('look-ahead-after-execute'));
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

  /**
   * Keeps what an execution looked up ahead, for the round its result starts: fed to the run core right
   * after, that round is the next one asked (or none is answered from it; see `take`).
   */
  keep(resolutions: readonly Resolution[]): void {
    this.last = new Map(resolutions.map((r) => [r.id, r]));
  }

  /**
   * The resolutions the last execution's look-ahead found for this round, when it found any (the rest of
   * the round is left unresolved, see above); undefined when it found none. Either way it is used up: a
   * round asked later goes out as an activity, so nothing found earlier answers a round it was not made for.
   */
  take(ids: readonly string[]): Resolution[] | undefined {
    const last = this.last;
    this.last = undefined;
    const found = ids.flatMap((id) => {
      const resolution = last?.get(id);
      return resolution === undefined ? [] : [resolution];
    });
    return found.length === 0 ? undefined : found;
  }
}
