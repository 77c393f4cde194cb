import type { Store } from '../../cache/store.js';
import { planPipeline } from '../../engine/plan.js';
import { formatDuration } from '../../engine/durations.js';
import { preparePipeline, type PipelineArgs } from '../pipeline-options.js';

export interface PlanArgs extends PipelineArgs {
  forceAll: boolean;
  json: boolean;
}

/** `flywheel plan`: what a run would do now and why, without running or changing anything. */
export async function planCommand(args: PlanArgs, store: Store): Promise<number> {
  const pipeline = await preparePipeline(args);
  const plan = await planPipeline(pipeline, store, { force: args.force, forceAll: args.forceAll });
  if (args.json) {
    process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    return 0;
  }
  const width = Math.min(32, Math.max(8, ...plan.steps.map((s) => s.id.length)));
  const lines = [`plan for ${plan.pipeline}${plan.previousRunId ? ` (relative to run ${plan.previousRunId})` : ' (no earlier run)'}`];
  for (const step of plan.steps) {
    lines.push(`  ${step.decision.padEnd(8)} ${step.id.padEnd(width)} ${step.reason}`);
    if (step.warning !== undefined) lines.push(`  ${'warning'.padEnd(8)} ${step.id.padEnd(width)} ${step.warning}`);
  }
  const count = (d: string): number => plan.steps.filter((s) => s.decision === d).length;
  const saved = plan.steps.reduce((sum, s) => sum + (s.savedMs ?? 0), 0);
  lines.push(
    `${plan.steps.length} steps: ${count('cached')} cached, ${count('run')} to run, ${count('pending')} pending · the cache saves ${formatDuration(saved)} of compute`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
