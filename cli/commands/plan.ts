import type { Store } from '../../cache/store.js';
import { planPipeline } from '../../engine/drivers/plan.js';
import { formatDuration } from '../../engine/durations.js';
import { elementsPlanned } from '../terminal/map-elements.js';
import { preparePipeline, type PipelineArgs } from '../options/pipeline-options.js';

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
    // A map's reason ends with its element counts; should it not, they get a line of their own.
    if (step.elements !== undefined && !step.reason.includes('map over')) {
      lines.push(`  ${'elements'.padEnd(8)} ${step.id.padEnd(width)} ${elementsPlanned(step.elements)}`);
    }
    if (step.warning !== undefined) lines.push(`  ${'warning'.padEnd(8)} ${step.id.padEnd(width)} ${step.warning}`);
    if (step.declined !== undefined) lines.push(`  ${'declined'.padEnd(8)} ${step.id.padEnd(width)} ${step.declined}`);
  }
  const count = (d: string): number => plan.steps.filter((s) => s.decision === d).length;
  const saved = plan.steps.reduce((sum, s) => sum + (s.savedMs ?? 0), 0);
  // Maps that run: how much of them, in all (a map re-running 1 of 10,000 elements is cheap).
  const maps = plan.steps.filter((s) => s.decision === 'run' && s.elements !== undefined);
  const toRun = maps.reduce((sum, s) => sum + (s.elements ? s.elements.total - s.elements.cached : 0), 0);
  const total = maps.reduce((sum, s) => sum + (s.elements?.total ?? 0), 0);
  const elements = maps.length === 0 ? '' : ` · ${toRun.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} map elements to run`;
  lines.push(
    `${plan.steps.length} steps: ${count('cached')} cached, ${count('run')} to run, ${count('pending')} pending${elements} · the cache saves ${formatDuration(saved)} of compute`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
