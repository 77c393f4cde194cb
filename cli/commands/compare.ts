import { shownStatus } from '../../cache/process-alive.js';
import type { RunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import { compareRuns, type StepChange, type StepComparison } from '../../engine/records/compare-runs.js';
import { listRuns } from '../../engine/records/run-history.js';
import { pipelineComparison } from '../../engine/load/load-extensions.js';
import { UsageError } from '../../cache/errors.js';
import { requireRun } from './runs.js';
import { declinedNote } from '../terminal/run-summary.js';
import { compareCostLines } from '../terminal/cost-text.js';

export interface CompareArgs {
  /** None (the newest two successful runs) or two: A, then B. */
  runIds: string[];
  pipeline: string | undefined;
  json: boolean;
}

/** The two runs to compare: the ones named, or the newest two successful runs of one pipeline. */
async function pickRuns(store: Store, args: CompareArgs): Promise<[RunRecord, RunRecord]> {
  if (args.runIds.length === 2) {
    if (args.pipeline !== undefined)
      throw new UsageError('--pipeline picks the runs to compare, so it cannot go with two run ids', 'leave out --pipeline, or the run ids');
    const [idA, idB] = args.runIds as [string, string];
    if (idA === idB) throw new UsageError(`run ${idA} is named twice`, 'name two different runs: flywheel compare <runA> <runB>');
    return [await requireRun(store, idA), await requireRun(store, idB)];
  }
  if (args.runIds.length !== 0)
    throw new UsageError(
      `flywheel compare takes no run id or two, not ${args.runIds.length}`,
      'write flywheel compare (the newest two successful runs) or flywheel compare <runA> <runB>',
    );
  const succeeded = (await listRuns(store, args.pipeline)).filter((r) => r.status === 'succeeded');
  const pipeline = args.pipeline ?? succeeded[0]?.pipeline;
  const runs = succeeded.filter((r) => r.pipeline === pipeline);
  const [b, a] = runs;
  if (a === undefined || b === undefined) {
    const what = pipeline === undefined ? 'no successful run' : `${runs.length === 0 ? 'no' : 'only one'} successful run of ${pipeline}`;
    throw new UsageError(
      `flywheel compare needs two successful runs, and ${store.description} has ${what}`,
      `run the pipeline again (flywheel run ${pipeline ?? '<pipeline>'}), pick another with --pipeline, or name two runs: flywheel compare <runA> <runB> (see flywheel runs)`,
    );
  }
  return [a, b];
}

const LABEL: Record<StepChange, string> = {
  same: 'same',
  reran: 're-ran',
  reused: 'reused',
  new: 'new',
  removed: 'removed',
  failed: 'failed',
  skipped: 'skipped',
  'not-run': 'not run',
};

const when = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
const clip = (text: string, max = 160): string => (text.length > max ? `${text.slice(0, max - 3)}...` : text);

function outputLine(s: StepComparison): string | undefined {
  if (s.change !== 'reran' && s.change !== 'reused' && s.change !== 'same') return undefined;
  const names = (change: string): string[] => s.outputs.filter((o) => o.change === change).map((o) => o.name);
  const [changed, identical, gone] = [names('changed'), names('identical'), names('only-in-a')];
  if (s.change === 'same' && changed.length === 0) return undefined;
  const parts = [
    ...(changed.length > 0 ? [`changed: ${changed.join(', ')}`] : []),
    ...(identical.length > 0 ? [`${s.earlyCutoff ? 'identical (early cutoff)' : 'identical'}: ${identical.join(', ')}`] : []),
    ...(names('only-in-b').length > 0 ? [`new: ${names('only-in-b').join(', ')}`] : []),
    ...(gone.length > 0 ? [`gone: ${gone.join(', ')}`] : []),
  ];
  return parts.length === 0 ? undefined : `outputs ${parts.join('; ')}`;
}

/** `declined in B: …` (`in A and B` when both declined for the same reason), or nothing when neither run declined the step. */
function declinedLines(s: StepComparison): string[] {
  const { declinedA: a, declinedB: b } = s;
  if (a !== null && a === b) return [`declined in A and B: ${clip(a)}`];
  return [...(a === null ? [] : [`declined in A: ${clip(a)}`]), ...(b === null ? [] : [`declined in B: ${clip(b)}`])];
}

function stepLines(steps: readonly StepComparison[]): string[] {
  const width = Math.min(32, Math.max(8, ...steps.map((s) => s.id.length)));
  const indent = ' '.repeat(2 + 8 + 1 + width + 1);
  const lines: string[] = [];
  for (const s of steps) {
    const reused = s.change === 'reused' ? ' (B found this result cached: another run computed it)' : '';
    lines.push(`  ${LABEL[s.change].padEnd(8)} ${s.id.padEnd(width)} ${s.reason}${reused}`);
    const outputs = outputLine(s);
    if (outputs !== undefined) lines.push(`${indent}${outputs}`);
    if (s.change === 'failed' && s.error !== null) lines.push(`${indent}error ${s.error.code}: ${clip(s.error.message)}`);
    for (const line of declinedLines(s)) lines.push(`${indent}${line}`);
  }
  return lines;
}

function runSide(run: RunRecord): { runId: string; pipeline: string; status: string; startedAt: string; overrides: string[] } {
  return { runId: run.runId, pipeline: run.pipeline, status: shownStatus(run), startedAt: run.startedAt, overrides: run.overrides };
}

/**
 * `flywheel compare [<runA> <runB>] [--pipeline name] [--json]`: what changed between two runs and
 * whether it is better. Every step: same result, or re-ran and why, and which outputs changed bytes;
 * then the sections the pipeline adds (`extensions.compare`: the flagship's benchmark metrics, judge, deploy).
 */
export async function compareCommand(args: CompareArgs, store: Store): Promise<number> {
  const [a, b] = await pickRuns(store, args);
  const warnings: string[] = [];
  if (a.pipeline !== b.pipeline) warnings.push(`run A is of pipeline ${a.pipeline} and run B of ${b.pipeline}; steps are matched by id`);
  if (a.startedAt > b.startedAt) warnings.push(`run A (${a.runId}) started after run B (${b.runId}): A is the first run named`);
  const comparison = compareRuns(a, b);
  const { sections, lines: sectionLines, note } = await pipelineComparison(store, a, b);
  if (note !== null) warnings.push(note);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  if (args.json) {
    const document = {
      pipeline: comparison.pipeline,
      a: runSide(a),
      b: runSide(b),
      warnings,
      counts: comparison.counts,
      declined: comparison.declined,
      usage: comparison.usage,
      steps: comparison.steps,
      sections,
    };
    process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
    return 0;
  }
  const status = (r: RunRecord): string => (r.status === 'succeeded' ? '' : `, ${shownStatus(r)}`);
  const pipelines = a.pipeline === b.pipeline ? a.pipeline : `${a.pipeline} / ${b.pipeline}`;
  const lines = [`compare ${pipelines}: A ${a.runId} (${when(a.startedAt)}${status(a)}) → B ${b.runId} (${when(b.startedAt)}${status(b)})`];
  if (a.overrides.length > 0 || b.overrides.length > 0)
    lines.push(`  overrides: A ${a.overrides.join(' ') || '(none)'} · B ${b.overrides.join(' ') || '(none)'}`);
  const counted = (Object.entries(comparison.counts) as Array<[StepChange, number]>).filter(([, n]) => n > 0).map(([c, n]) => `${n} ${LABEL[c]}`);
  const declined = [declinedNote(a.steps, ' in A'), declinedNote(b.steps, ' in B')].filter((note) => note !== '');
  lines.push(
    '',
    `steps: ${[counted.join(', '), ...declined].join(' · ')}`,
    ...stepLines(comparison.steps),
    ...compareCostLines(a, b, comparison),
    ...sectionLines,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
