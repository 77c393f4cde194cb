import { toReadable } from '../cache/canonical.js';
import { FlywheelError } from '../cache/errors.js';
import type { Store } from '../cache/store.js';
import { explainMiss } from './core/explain.js';
import { feeder, RunCore } from './core/run-core.js';
import type { CoreCommand, Plan, Resolution } from './core/run-protocol.js';
import { indexLastRun } from './decide.js';
import { portSignature } from './node-key.js';
import { coreNode } from './core-node.js';
import { KeyResolver } from './resolve-key.js';
import { lastFinishedRun } from './run-history.js';
import type { ResolvedPipeline } from './validate.js';

export type { Decision, Plan, PlannedStep } from './core/run-protocol.js';

export interface PlanOptions {
  force?: readonly string[];
  forceAll?: boolean;
  env?: NodeJS.ProcessEnv;
}

/**
 * Decides, without running or changing anything, which steps are cached, which will run and which are
 * pending (their key depends on an upstream that will run), each with the reason relative to the last
 * run. It is the run core itself, with every execution answered "would run".
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
  const resolver = new KeyResolver({
    store,
    pipeline,
    env: options.env ?? process.env,
    force: options.force ?? [],
    forceAll: options.forceAll ?? false,
    repair: false,
    lastRun: () => Promise.resolve(last),
  });
  // A pending step's own changes are visible already: compared with the last run, inputs held equal.
  const ownChanges = (id: string): string | undefined => {
    const node = pipeline.byId.get(id);
    const previous = last.steps.get(id);
    if (node === undefined || previous?.components === undefined) return undefined;
    const own = explainMiss(
      { ...previous.components, step: node.step.id, version: node.step.version, ports: portSignature(node.step), config: toReadable(node.config) },
      previous,
      true,
    );
    return own.codes.some((c) => c === 'config-changed' || c === 'version-changed' || c === 'interface-changed') ? own.reason : undefined;
  };
  const core = new RunCore(pipeline.nodes.map(coreNode), {
    mode: 'plan',
    lookAhead: true, // one batch: hits are looked up along each chain without a round through the core
    header: { format: 'flywheel.run/v1', runId: 'plan', pipeline: pipeline.name, startedAt: new Date().toISOString(), host: '', pid: 0, overrides: [] },
    now: Date.now,
    ownChanges,
  });
  // A plan reports what it cannot find out, rather than guessing.
  const failOn = (resolution: Resolution): void => {
    if (resolution.kind === 'error') throw new FlywheelError(resolution.error.code, `step ${resolution.id}: ${resolution.error.message}`);
  };
  const batches: Array<Promise<void>> = [];
  const carryOut = (command: CoreCommand): void => {
    if (command.type !== 'resolve') return;
    const resolutions: Resolution[] = [];
    batches.push(
      resolver
        .resolveBatch(
          command.ids,
          (id) => core.outputsOf(id),
          (r) => resolutions.push(r),
        )
        .then(() => {
          for (const resolution of resolutions) failOn(resolution);
          for (const resolution of resolutions) send({ type: 'resolved', resolution });
          send({ type: 'resolve-done', batch: command.batch });
        }),
    );
  };
  const send = feeder(core, carryOut);
  send('start');
  while (!core.done) {
    const next = batches.shift();
    if (next === undefined) throw new Error('internal: the plan stalled with nothing left to look up');
    await next;
  }
  return { pipeline: pipeline.name, previousRunId: last.run?.runId, steps: core.plan() };
}
