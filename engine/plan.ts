import type { KeyComponents } from '../cache/cache-key.js';
import { toReadable } from '../cache/canonical.js';
import type { CacheKey } from '../cache/digest.js';
import type { OutputRecord, ReasonCode } from '../cache/records.js';
import type { Store } from '../cache/store.js';
import { lookUpResult } from './cache-lookup.js';
import { explainMiss } from './explain.js';
import { nodeKey, portSignature } from './node-key.js';
import { lastFinishedRun } from './run-history.js';
import type { ResolvedPipeline } from './validate.js';

export type Decision = 'cached' | 'run' | 'pending';

export interface PlannedStep {
  id: string;
  step: string;
  decision: Decision;
  reasonCodes: ReasonCode[];
  reason: string;
  /** Known for cached and run steps; a pending step's key depends on outputs not yet produced. */
  cacheKey?: CacheKey;
  components?: KeyComponents;
  /** For cached steps: the compute time the cache saves. */
  savedMs?: number;
}

export interface Plan {
  pipeline: string;
  /** The run the reasons are relative to. */
  previousRunId: string | undefined;
  steps: PlannedStep[];
}

export interface PlanOptions {
  force?: readonly string[];
  forceAll?: boolean;
  env?: NodeJS.ProcessEnv;
}

/**
 * Decides, without running or changing anything, which steps are cached, which will run and which are
 * pending (their key depends on an upstream that will run), each with the reason relative to the last run.
 *
 * @example
 * ```ts
 * const plan = await planPipeline(validatePipeline(pipeline, { train: { lr: 0.001 } }), openStore());
 * for (const step of plan.steps) console.log(step.decision, step.id, step.reason);
 * // cached  collect  cache hit (computed by run 20261126T...)
 * // run     train    config lr: 0.0003 → 0.001
 * // pending evaluate key known only after upstream train runs
 * ```
 */
export async function planPipeline(pipeline: ResolvedPipeline, store: Store, options: PlanOptions = {}): Promise<Plan> {
  const previousRun = await lastFinishedRun(store, pipeline.name);
  const previousSteps = new Map((previousRun?.steps ?? []).map((s) => [s.id, s]));
  const force = new Set(options.force ?? []);
  const outputs = new Map<string, Record<string, OutputRecord>>();
  const decisions = new Map<string, Decision>();
  const steps: PlannedStep[] = [];

  for (const node of pipeline.nodes) {
    const base = { id: node.id, step: node.step.id };
    const previous = previousSteps.get(node.id);
    const waitingFor = node.upstream.filter((id) => decisions.get(id) !== 'cached');
    if (waitingFor.length > 0) {
      let reason = `key known only after upstream ${waitingFor.join(', ')} run${waitingFor.length === 1 ? 's' : ''}`;
      if (previous?.components) {
        // Its own changes are already visible: compare against the last run with inputs held equal.
        const own = explainMiss({ ...previous.components, step: node.step.id, version: node.step.version, ports: portSignature(node.step), config: toReadable(node.config) }, previous, true);
        if (own.codes.some((c) => c === 'config-changed' || c === 'version-changed' || c === 'interface-changed')) reason += `; its own ${own.reason}`;
      }
      decisions.set(node.id, 'pending');
      steps.push({ ...base, decision: 'pending', reasonCodes: ['upstream-pending'], reason });
      continue;
    }
    const { key, components } = nodeKey(node, (id) => outputs.get(id), options.env);
    const run = (codes: ReasonCode[], reason: string): void => {
      decisions.set(node.id, 'run');
      steps.push({ ...base, decision: 'run', reasonCodes: codes, reason, cacheKey: key, components });
    };
    if (options.forceAll || force.has(node.id)) {
      run(['forced'], options.forceAll ? 'forced (--force-all)' : 'forced (--force)');
      continue;
    }
    if (node.step.cache === false) {
      run(['cache-disabled'], 'cache disabled for this step (cache: false)');
      continue;
    }
    const found = await lookUpResult(store, key, node.maxAgeMs, { repair: false });
    if (found.hit) {
      outputs.set(node.id, found.entry.outputs);
      decisions.set(node.id, 'cached');
      steps.push({ ...base, decision: 'cached', reasonCodes: ['cache-hit'], reason: `cache hit (computed by run ${found.entry.runId})`, cacheKey: key, components, savedMs: found.entry.durationMs });
      continue;
    }
    const why = found.problem ?? explainMiss(components, previous, previousRun !== undefined);
    run(why.codes, why.reason);
  }
  return { pipeline: pipeline.name, previousRunId: previousRun?.runId, steps };
}
