import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { materializeDirectory, readManifest } from '../../cache/manifest.js';
import type { OutputRecord, RunRecord } from '../../cache/records.js';
import { BlobUnavailableError, type Store } from '../../cache/store.js';
import { FlywheelError, UsageError } from '../../cache/errors.js';
import { listRuns } from '../../engine/records/run-history.js';
import { requireRun } from './runs.js';

export interface OutputArgs {
  /** `step.output` */
  ref: string;
  runId: string | undefined;
  pipeline: string | undefined;
  out: string | undefined;
}

/**
 * The run to answer from: `--run`, else the newest *successful* run (of `--pipeline`, if given) that has
 * exactly this output. A failed run's outputs are read only when named with `--run`.
 */
async function findRun(store: Store, args: OutputArgs, stepId: string, name: string): Promise<RunRecord> {
  if (args.runId !== undefined) return requireRun(store, args.runId);
  const runs = await listRuns(store, args.pipeline);
  const hasOutput = (r: RunRecord): boolean => r.steps.some((s) => s.id === stepId && s.outputs[name] !== undefined);
  const run = runs.find((r) => r.status === 'succeeded' && hasOutput(r));
  if (run !== undefined) return run;
  const unfinished = runs.find(hasOutput);
  const known = [...new Set(runs.flatMap((r) => r.steps.flatMap((s) => Object.keys(s.outputs).map((o) => `${s.id}.${o}`))))].sort();
  throw new UsageError(
    `no successful run${args.pipeline ? ` of ${args.pipeline}` : ''} in ${store.description} has output ${stepId}.${name}`,
    unfinished !== undefined
      ? `the newest run that has it, ${unfinished.runId} (${unfinished.pipeline}), ${unfinished.status === 'running' ? 'is still running or was interrupted' : unfinished.status === 'cancelled' ? 'was cancelled' : 'failed'}: read it anyway with --run ${unfinished.runId}`
      : known.length === 0
        ? 'run the pipeline first'
        : `outputs that runs have: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', …' : ''}`,
  );
}

/** A blob that is gone or damaged is a reported problem with a way out, never a stack trace. */
async function readingBlobs<T>(ref: string, run: RunRecord, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (!(error instanceof BlobUnavailableError)) throw error;
    throw new FlywheelError('OUTPUT_UNAVAILABLE', `${ref} of run ${run.runId}: ${error.message}`, {
      fix: `run the pipeline again (flywheel run ${run.pipeline}): the step is recomputed; \`flywheel cache verify --fix\` finds and drops every damaged entry`,
    });
  }
}

/**
 * `flywheel output <step>.<output>`: a step's result from a run (default: the newest successful run that
 * has it), naming that run on stderr. Files and JSON go to stdout or `--out`; a directory is recreated at
 * `--out`. Bytes are verified.
 */
export async function outputCommand(args: OutputArgs, store: Store): Promise<number> {
  const dot = args.ref.indexOf('.');
  if (dot <= 0 || dot === args.ref.length - 1)
    throw new UsageError(`${JSON.stringify(args.ref)} is not <step>.<output>`, 'write e.g. flywheel output write-report.report');
  const stepId = args.ref.slice(0, dot);
  const name = args.ref.slice(dot + 1);
  const run = await findRun(store, args, stepId, name);
  const step = run.steps.find((s) => s.id === stepId);
  const output: OutputRecord | undefined = step?.outputs[name];
  if (step === undefined || output === undefined) {
    const known = run.steps.flatMap((s) => Object.keys(s.outputs).map((o) => `${s.id}.${o}`));
    throw new UsageError(`run ${run.runId} has no output ${args.ref}`, `outputs of that run: ${known.join(', ') || '(none)'}`);
  }
  process.stderr.write(`${args.ref} of run ${run.runId} (${run.pipeline}, ${run.status}${run.finishedAt === undefined ? '' : ` ${run.finishedAt}`})\n`);
  const target = args.out === undefined ? undefined : resolve(args.out);
  if (target !== undefined) await mkdir(dirname(target), { recursive: true });
  await readingBlobs(args.ref, run, () => writeOutput(store, output, target));
  if (target !== undefined) process.stderr.write(`wrote ${args.ref} to ${target}\n`);
  return 0;
}

async function writeOutput(store: Store, output: OutputRecord, target: string | undefined): Promise<void> {
  if (output.kind === 'dir') {
    if (target === undefined) {
      const manifest = await readManifest(store, output.digest);
      for (const entry of manifest.entries) process.stdout.write(`${entry.type === 'dir' ? `${entry.path}/` : entry.path}\n`);
      return;
    }
    await materializeDirectory(store, output.digest, target);
  } else if (target !== undefined) {
    await store.copyBlobTo(output.digest, target);
  } else {
    const bytes = await store.readBytes(output.digest);
    process.stdout.write(output.kind === 'json' ? `${JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2)}\n` : bytes);
  }
}
