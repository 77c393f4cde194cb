import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { materializeDirectory, readManifest } from '../../cache/manifest.js';
import type { OutputRecord, RunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import { listRuns } from '../../engine/run-history.js';
import { UsageError } from '../usage-error.js';
import { requireRun } from './runs.js';

export interface OutputArgs {
  /** `step.output` */
  ref: string;
  runId: string | undefined;
  pipeline: string | undefined;
  out: string | undefined;
}

/** The newest run (of the pipeline, if given) in which the step produced outputs. */
async function findRun(store: Store, args: OutputArgs, stepId: string): Promise<RunRecord> {
  if (args.runId !== undefined) return requireRun(store, args.runId);
  const run = (await listRuns(store, args.pipeline)).find((r) => r.steps.some((s) => s.id === stepId && Object.keys(s.outputs).length > 0));
  if (run === undefined)
    throw new UsageError(
      `no run${args.pipeline ? ` of ${args.pipeline}` : ''} in ${store.description} has outputs for step ${stepId}`,
      'run the pipeline first, or pass --run <runId>',
    );
  return run;
}

/**
 * `flywheel output <step>.<output>`: a step's result from a run (default: the newest that has it).
 * Files and JSON go to stdout or `--out`; a directory is recreated at `--out`. Bytes are verified.
 */
export async function outputCommand(args: OutputArgs, store: Store): Promise<number> {
  const dot = args.ref.indexOf('.');
  if (dot <= 0 || dot === args.ref.length - 1)
    throw new UsageError(`${JSON.stringify(args.ref)} is not <step>.<output>`, 'write e.g. flywheel output write-report.report');
  const stepId = args.ref.slice(0, dot);
  const name = args.ref.slice(dot + 1);
  const run = await findRun(store, args, stepId);
  const step = run.steps.find((s) => s.id === stepId);
  const output: OutputRecord | undefined = step?.outputs[name];
  if (step === undefined || output === undefined) {
    const known = run.steps.flatMap((s) => Object.keys(s.outputs).map((o) => `${s.id}.${o}`));
    throw new UsageError(`run ${run.runId} has no output ${args.ref}`, `outputs of that run: ${known.join(', ') || '(none)'}`);
  }
  const target = args.out === undefined ? undefined : resolve(args.out);
  if (target !== undefined) await mkdir(dirname(target), { recursive: true });
  if (output.kind === 'dir') {
    if (target === undefined) {
      const manifest = await readManifest(store, output.digest);
      for (const entry of manifest.entries) process.stdout.write(`${entry.type === 'dir' ? `${entry.path}/` : entry.path}\n`);
      return 0;
    }
    await materializeDirectory(store, output.digest, target);
  } else if (target !== undefined) {
    await store.copyBlobTo(output.digest, target);
  } else {
    const bytes = await store.readBytes(output.digest);
    process.stdout.write(output.kind === 'json' ? `${JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2)}\n` : bytes);
  }
  if (target !== undefined) process.stderr.write(`wrote ${args.ref} of run ${run.runId} to ${target}\n`);
  return 0;
}
