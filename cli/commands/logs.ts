// `flywheel logs <runId> <step> [--follow] [--element N]`: a step's log wherever it ran. A finished step's
// is the blob its record names; a running one's is read as it is written (the local store's live file,
// or the segments workers ship to S3); a cached step's is the log of the run that computed it.
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError } from '../../cache/errors.js';
import type { RunRecord, StepRunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import { readLogFilePage } from '../../engine/execute/log-file-page.js';
import { requireRun } from './runs.js';

export interface LogsArgs {
  runId: string;
  stepId: string;
  follow: boolean;
  /** A map element's lines only. */
  element: number | undefined;
}

const POLL_MS = 1000;
const PAGE_BYTES = 1024 * 1024;

function stepOf(run: RunRecord, stepId: string): StepRunRecord {
  const step = run.steps.find((s) => s.id === stepId);
  if (step === undefined) throw new UsageError(`run ${run.runId} has no step ${JSON.stringify(stepId)}`, `its steps: ${run.steps.map((s) => s.id).join(', ')}`);
  return step;
}

const settled = (run: RunRecord, step: StepRunRecord): boolean => run.status !== 'running' || (step.status !== 'running' && step.status !== 'pending');

/** Reads a log as it grows: from the live file by byte offset, or from shipped segments by the last one's name. */
class LiveReader {
  private offset = 0;
  private after: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly runId: string,
    private readonly stepId: string,
  ) {}

  /** Whole lines written since the last read. */
  async next(): Promise<string> {
    const path = this.store.liveLogPath?.(this.runId, this.stepId);
    if (path !== undefined) return this.fromFile(path);
    let text = '';
    for (;;) {
      const segments = (await this.store.readLogSegments?.(this.runId, this.stepId, this.after)) ?? [];
      if (segments.length === 0) return text;
      for (const segment of segments) text += segment.text;
      this.after = segments[segments.length - 1]?.name;
    }
  }

  private async fromFile(path: string): Promise<string> {
    let text = '';
    for (;;) {
      const page = await readLogFilePage(path, this.offset, PAGE_BYTES).catch(() => undefined);
      if (page === undefined || page.next === this.offset) return text;
      text += page.text;
      this.offset = page.next;
    }
  }
}

export async function logsCommand(args: LogsArgs, store: Store): Promise<number> {
  let run = await requireRun(store, args.runId);
  let step = stepOf(run, args.stepId);
  const out = (text: string): void => {
    if (text === '') return;
    const shown = args.element === undefined ? text : elementLines(text, args.element);
    if (shown !== '') process.stdout.write(shown);
  };
  // A cached result's log is the one of the run that computed it.
  if (step.status === 'cached' && step.computedBy !== undefined && step.computedBy !== run.runId) {
    process.stderr.write(`${step.id} was cached in run ${run.runId}: the log of run ${step.computedBy}, which computed it\n`);
    run = await requireRun(store, step.computedBy);
    step = stepOf(run, args.stepId);
  }
  const failed = args.element === undefined ? undefined : step.elements?.failures?.find((f) => f.index === args.element);
  if (failed?.logs !== undefined) {
    process.stdout.write((await store.readBytes(failed.logs)).toString('utf8'));
    return 0;
  }
  if (step.logs !== undefined) {
    out((await store.readBytes(step.logs)).toString('utf8'));
    return 0;
  }
  const live = new LiveReader(store, run.runId, step.id);
  out(await live.next());
  while (args.follow && !settled(run, step)) {
    await sleep(POLL_MS);
    out(await live.next());
    run = await requireRun(store, run.runId);
    step = stepOf(run, args.stepId);
  }
  // The last lines shipped as the step ended.
  if (args.follow) out(await live.next());
  if (!settled(run, step)) process.stderr.write(`${step.id} is still ${step.status}: --follow keeps printing its lines as they come\n`);
  else if (step.logs === undefined && step.elements === undefined && step.status !== 'skipped' && step.status !== 'pending')
    process.stderr.write(`${step.id} ${step.status} without a stored log\n`);
  return 0;
}

/** The lines of one map element (its lines start their message with `element N: `). */
function elementLines(text: string, index: number): string {
  const mark = new RegExp(`^\\S+ \\S+\\s+element ${index}: `);
  return text
    .split('\n')
    .filter((line) => mark.test(line))
    .map((line) => `${line}\n`)
    .join('');
}
