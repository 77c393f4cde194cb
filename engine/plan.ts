import type { KeyComponents } from '../cache/cache-key.js';
import { toReadable } from '../cache/canonical.js';
import type { CacheKey } from '../cache/digest.js';
import type { OutputRecord, ReasonCode } from '../cache/records.js';
import type { Store } from '../cache/store.js';
import { explainMiss } from './explain.js';
import { externalState } from './external-state.js';
import { nodeKey, portSignature } from './node-key.js';
import { decide, indexLastRun } from './decide.js';
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
  const last = indexLastRun(await lastFinishedRun(store, pipeline.name));
  const force = new Set(options.force ?? []);
  const outputs = new Map<string, Record<string, OutputRecord>>();
  const decisions = new Map<string, Decision>();
  const steps: PlannedStep[] = [];

  for (const node of pipeline.nodes) {
    const base = { id: node.id, step: node.step.id };
    const previous = last.steps.get(node.id);
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
    const { key, components } = nodeKey(node, (id) => outputs.get(id), options.env, await externalState(node, (id) => outputs.get(id)));
    const forced = options.forceAll ? 'all' : force.has(node.id) ? 'step' : undefined;
    const decision = await decide(node, key, components, { store, forced, repair: false, lastRun: () => Promise.resolve(last) });
    if (decision.hit) {
      outputs.set(node.id, decision.entry.outputs);
      decisions.set(node.id, 'cached');
      steps.push({ ...base, decision: 'cached', reasonCodes: ['cache-hit'], reason: decision.reason, cacheKey: key, components, savedMs: decision.entry.durationMs });
    } else {
      decisions.set(node.id, 'run');
      steps.push({ ...base, decision: 'run', reasonCodes: decision.why.codes, reason: decision.why.reason, cacheKey: key, components });
    }
  }
  return { pipeline: pipeline.name, previousRunId: last.run?.runId, steps };
}
