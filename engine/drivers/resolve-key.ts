import type { Logger } from 'pino';
import { classifyError } from '../../cache/errors.js';
import { trustFromEnv } from '../../cache/trust-config.js';
import type { Store } from '../../cache/store.js';
import { explainMiss } from '../core/explain.js';
import type { CommandOf, CoreEvent, Outputs, Resolution } from '../core/run-protocol.js';
import { decide, hitResolution } from '../keys/decide.js';
import { LastRuns, type LastRun } from '../records/last-run.js';
import { resolveMap } from '../map/resolve-map.js';
import { keyOf, nodeOf } from '../keys/node-key.js';
import type { ResolvedNode, ResolvedPipeline } from '../validate/validate.js';

export interface KeyResolverOptions {
  store: Store;
  pipeline: ResolvedPipeline;
  env: NodeJS.ProcessEnv;
  force: readonly string[];
  forceAll: boolean;
  /**
   * The run resolving, which repairs broken entries it finds and whose reasons are relative to the last
   * run before it; undefined for a plan, which only looks.
   */
  runId: string | undefined;
  /** Where the last run is remembered: a worker passes one it keeps across look-ups; by default this resolver's own. */
  lastRuns?: LastRuns;
  /** Where hits and rejected entries are logged (a run's logger; a plan logs nothing). */
  log?: Logger;
}

/** A hit at debug level; an entry found unusable as a warning (one past its maxAge only as information: that is routine). */
function logResolution(log: Logger, resolution: Resolution): void {
  if (resolution.kind === 'hit') log.debug({ stepId: resolution.id, cacheKey: resolution.key, cacheHit: true }, 'cache hit');
  if ((resolution.kind === 'miss' || resolution.kind === 'map') && resolution.rejected) {
    const routine = resolution.codes.every((code) => code === 'expired');
    log[routine ? 'info' : 'warn']({ stepId: resolution.id, cacheKey: resolution.key, cacheHit: false, reason: resolution.reason }, 'cache entry rejected');
  }
}

/**
 * Resolves keys and looks them up: key, then the one cache decision (forced, disabled, hit, rejected,
 * explained miss), for the local executor, the planner and the Temporal activities alike.
 */
export class KeyResolver {
  private readonly force: ReadonlySet<string>;
  private readonly lastRuns: LastRuns;

  constructor(private readonly options: KeyResolverOptions) {
    this.force = new Set(options.force);
    this.lastRuns = options.lastRuns ?? new LastRuns();
  }

  /** The run this one's reasons are relative to, read once and only when a miss needs explaining. */
  lastRun(): Promise<LastRun> {
    const { store, pipeline, runId } = this.options;
    return this.lastRuns.of(store, pipeline.name, runId);
  }

  /** One node whose upstream outputs are all known. A key that cannot be made fails the node, not the run. */
  async resolve(node: ResolvedNode, upstream: (nodeId: string) => Outputs | undefined): Promise<Resolution> {
    const { store, env, runId } = this.options;
    const repair = runId !== undefined;
    try {
      const forced = this.options.forceAll ? 'all' : this.force.has(node.id) ? 'step' : undefined;
      if (node.map !== undefined) {
        return await resolveMap(node, upstream, {
          store,
          env,
          forced,
          repair,
          explainAbsent: () => this.explain(node, upstream),
          previous: async () => (await this.lastRun()).steps.get(node.id)?.elements,
        });
      }
      const { key, components } = await keyOf(node, upstream, env);
      const decision = await decide(node, key, {
        store,
        forced,
        repair,
        trusted: trustFromEnv(env).trusted,
        explainAbsent: () => this.explain(node, upstream, { key, components }),
      });
      if (decision.hit) return hitResolution(node.id, key, components, decision);
      return { kind: 'miss', id: node.id, key, components, codes: decision.why.codes, reason: decision.why.reason, rejected: decision.rejected };
    } catch (error) {
      const { code, message } = classifyError(error);
      return { kind: 'error', id: node.id, error: { code, message } };
    }
  }

  /** Why a node's result is not stored, relative to the last run. */
  private async explain(node: ResolvedNode, upstream: (nodeId: string) => Outputs | undefined, made?: Awaited<ReturnType<typeof keyOf>>) {
    const { components } = made ?? (await keyOf(node, upstream, this.options.env));
    const last = await this.lastRun();
    return explainMiss(components, last.steps.get(node.id), last.run !== undefined);
  }

  /**
   * Carries out a `resolve` command, telling the core each resolution as it comes, then that the round is
   * over (or failed as a whole: the store is unreachable, say). Never throws.
   */
  async resolveCommand(command: CommandOf<'resolve'>, known: (nodeId: string) => Outputs | undefined, feed: (event: CoreEvent) => void): Promise<void> {
    try {
      await this.resolveRound(command.ids, known, (resolution) => feed({ type: 'resolved', resolution }));
      feed({ type: 'resolve-done', round: command.round });
    } catch (error) {
      const { code, message } = classifyError(error);
      feed({ type: 'resolve-failed', round: command.round, error: { code, message } });
    }
  }

  /**
   * A round from the run core: each node as soon as its upstream in the round are hits (branches in
   * parallel), with outputs from outside the round read from `known`. Nodes below a miss are left out.
   */
  async resolveRound(ids: readonly string[], known: (nodeId: string) => Outputs | undefined, onResolved: (resolution: Resolution) => void): Promise<void> {
    const hits = new Map<string, Promise<Outputs | undefined>>();
    for (const id of ids) {
      let node: ResolvedNode;
      try {
        node = nodeOf(this.options.pipeline, id);
      } catch (error) {
        const { code, message } = classifyError(error);
        onResolved({ kind: 'error', id, error: { code, message } });
        continue;
      }
      const inRound = node.upstream.filter((u) => hits.has(u));
      const waitFor = inRound.length === 0 ? Promise.resolve([]) : Promise.all(inRound.map((u) => hits.get(u)));
      hits.set(
        id,
        waitFor.then(async (roundOutputs) => {
          const upstream = new Map<string, Outputs>();
          for (const u of node.upstream) {
            const found = inRound.includes(u) ? roundOutputs[inRound.indexOf(u)] : known(u);
            if (found === undefined) return undefined; // an upstream missed: its key comes later
            upstream.set(u, found);
          }
          const resolution = await this.resolve(node, (u) => upstream.get(u));
          if (this.options.log !== undefined) logResolution(this.options.log, resolution);
          onResolved(resolution);
          return resolution.kind === 'hit' ? resolution.outputs : undefined;
        }),
      );
    }
    await Promise.all(hits.values());
  }
}
