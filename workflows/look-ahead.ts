import { patched } from '@temporalio/workflow';
import type { Outputs, Resolution } from '../engine/core/run-protocol.js';
import type { DagNode, LookAheadRequest } from './types.js';

/**
 * Look-ups made by the worker that has just executed a step, for the steps below it: on Temporal each
 * look-up round is an activity (~100 ms on a dev server), so a chain of misses paid two round trips a
 * step. A cpu step's execute activity now also looks up the steps its result unblocks, by the same
 * resolver and rules as `resolveSteps`, and the run core's next round is answered from what it found
 * when it covers that round exactly; any other round still goes out as a look-up activity. A result
 * found stale by the time the step executes is caught where every miss is: the key is looked up again
 * once claimed. Decided once per run (`look-ahead-after-execute`): a run started before keeps its
 * look-up activities, and a worker of that release ignores the request (nothing is then covered).
 */
export class LookAhead {
  /** What the last execution looked up: the nodes it covered, and the resolutions of those not left out below a miss. */
  private last: { covered: Set<string>; found: Map<string, Resolution> } | undefined;
  private readonly downstream = new Map<string, string[]>();

  private constructor(
    private readonly nodes: ReadonlyMap<string, DagNode>,
    private readonly enabled: boolean,
    private readonly maxNodes: number,
  ) {
    for (const node of nodes.values()) for (const u of node.upstream) this.downstream.set(u, [...(this.downstream.get(u) ?? []), node.id]);
  }

  static forThisRun(nodes: ReadonlyMap<string, DagNode>, maxNodes: number): LookAhead {
    return new LookAhead(nodes, patched('look-ahead-after-execute'), maxNodes);
  }

  /**
   * What to look up once `id` has executed: as the run core builds a round, every node below it whose
   * upstream are all done or in the request (so a chain of hits resolves at once), at most `maxNodes`.
   * None for a step on another queue than cpu: a GPU slot is not held for look-ups.
   */
  request(id: string, outputsOf: (id: string) => Outputs | undefined): Omit<LookAheadRequest, 'options'> | undefined {
    const node = this.nodes.get(id);
    if (!this.enabled || node?.queue !== 'cpu') return undefined;
    const picked = new Set<string>();
    const done = (u: string): boolean => u === id || picked.has(u) || outputsOf(u) !== undefined;
    const visit = [...(this.downstream.get(id) ?? [])];
    for (let i = 0; i < visit.length && picked.size < this.maxNodes; i++) {
      const candidate = this.nodes.get(visit[i] as string);
      if (candidate === undefined || picked.has(candidate.id) || outputsOf(candidate.id) !== undefined) continue;
      if (!candidate.upstream.every(done)) continue;
      picked.add(candidate.id);
      visit.push(...(this.downstream.get(candidate.id) ?? []));
    }
    if (picked.size === 0) return undefined;
    const known: Record<string, Outputs> = {};
    for (const below of picked)
      for (const u of this.nodes.get(below)?.upstream ?? []) {
        const outputs = u === id ? undefined : outputsOf(u);
        if (outputs !== undefined) known[u] = outputs;
      }
    return { ids: [...picked], known };
  }

  /**
   * Keeps what an execution looked up ahead, for the round its result starts: fed to the run core right
   * after, that round is the next one asked (or none is answered from it; see `take`).
   */
  keep(ids: readonly string[], resolutions: readonly Resolution[]): void {
    this.last = { covered: new Set(ids), found: new Map(resolutions.map((r) => [r.id, r])) };
  }

  /**
   * The round's resolutions when the last execution's look-ahead covered all of it; undefined when not.
   * Either way it is used up: a round asked later (after another look-up was in flight) goes out as an
   * activity, so nothing found earlier answers a round it was not made for.
   */
  take(ids: readonly string[]): Resolution[] | undefined {
    const last = this.last;
    this.last = undefined;
    if (last === undefined || ids.length === 0 || !ids.every((id) => last.covered.has(id))) return undefined;
    return ids.flatMap((id) => {
      const resolution = last.found.get(id);
      return resolution === undefined ? [] : [resolution];
    });
  }
}
