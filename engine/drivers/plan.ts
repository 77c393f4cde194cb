import { trustFromEnv } from '../../cache/trust-config.js';
import { FlywheelError } from '../../cache/errors.js';
import type { Store } from '../../cache/store.js';
import { ownChanges } from '../core/explain.js';
import { feeder, RunCore } from '../core/run-core.js';
import type { CoreEvent, Plan } from '../core/run-protocol.js';
import { nodeOf, ownComponents } from '../keys/node-key.js';
import { coreNode } from './core-node.js';
import { KeyResolver } from './resolve-key.js';
import type { ResolvedPipeline } from '../validate/validate.js';

export type { Decision, Plan, PlannedStep } from '../core/run-protocol.js';

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
  const { env = process.env, force = [], forceAll = false } = options;
  trustFromEnv(env); // a key that cannot be read is the plan's error, not every step's
  const resolver = new KeyResolver({ store, pipeline, env, force, forceAll, runId: undefined });
  const last = await resolver.lastRun();
  const core = new RunCore(pipeline.nodes.map(coreNode), {
    mode: 'plan',
    lookAhead: true, // one round: hits are looked up along each chain without a trip through the core
    header: { format: 'flywheel.run/v1', runId: 'plan', pipeline: pipeline.name, startedAt: new Date().toISOString(), host: '', pid: 0, overrides: [] },
    now: Date.now,
    // A pending step's own changes are visible already: compared with the last run, inputs held equal.
    ownChanges: (id) => ownChanges(ownComponents(nodeOf(pipeline, id)), last.steps.get(id)),
  });
  const rounds: Array<Promise<CoreEvent[]>> = [];
  const send = feeder(core, (command) => {
    if (command.type !== 'resolve') return;
    const events: CoreEvent[] = [];
    rounds.push(
      resolver
        .resolveCommand(
          command,
          (id) => core.outputsOf(id),
          (event) => events.push(event),
        )
        .then(() => events),
    );
  });
  send('start');
  while (!core.done) {
    const events = await rounds.shift();
    if (events === undefined) throw new Error('internal: the plan stalled with nothing left to look up');
    // A plan reports what it cannot find out, rather than guessing.
    for (const event of events) {
      const error =
        event.type === 'resolve-failed' ? event.error : event.type === 'resolved' && event.resolution.kind === 'error' ? event.resolution.error : undefined;
      if (error !== undefined) throw new FlywheelError(error.code, event.type === 'resolved' ? `step ${event.resolution.id}: ${error.message}` : error.message);
    }
    for (const event of events) send(event);
  }
  return { pipeline: pipeline.name, previousRunId: last.run?.runId, steps: core.plan() };
}
