import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FlywheelError } from '../../cache/errors.js';
import { LocalStore } from '../../cache/local-store.js';
import { materializeDirectory } from '../../cache/manifest.js';
import type { OutputRecord, RunRecord, StepRunRecord, StepStatus } from '../../cache/records.js';
import type { ConfigOverrides } from '../validate/config-overrides.js';
import type { PipelineDefinition } from '../define/define-pipeline.js';
import { runLocal } from './local-executor.js';
import { createLogger } from '../logger.js';
import { withProfileOverride } from '../validate/pipeline-profile.js';
import { validatePipeline } from '../validate/validate.js';

/** Options of {@link runPipelineForTest}. */
export interface TestRunOptions {
  /** Config by step id, shaped like a `--config` file: `{ "<step id>": { ...config } }`. */
  config?: ConfigOverrides;
  /** One of the pipeline's declared profiles (`--profile`); default: the pipeline's default. */
  profile?: string;
  /**
   * The store directory. Default: a fresh temporary one, so no two tests share results. Pass the same
   * directory to two runs to test what the second one takes from the cache.
   */
  storeDir?: string;
  /** Step ids to re-run even when cached (`--force`). */
  force?: readonly string[];
  /** Environment the steps' declared `env` values are read from. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** pino level of the run's logs (JSON on stderr). Default `warn`. */
  logLevel?: string;
}

/** The outcome of {@link runPipelineForTest}: the run record and easy ways to read it. */
export interface PipelineTestRun {
  /** The run record: the `record` that `flywheel show <runId> --json` prints. */
  readonly record: RunRecord;
  /** `succeeded` or `failed`; a failed step fails the run, it never throws. */
  readonly status: RunRecord['status'];
  /** Each step's status by step id: `executed`, `cached`, `failed` or `skipped`. */
  readonly statuses: Readonly<Record<string, StepStatus>>;
  /** The store the run used (a fresh temporary directory unless `storeDir` was given). */
  readonly storeDir: string;
  /** One step's record (status, reason, cache key, outputs, error); throws for an unknown step id. */
  step(id: string): StepRunRecord;
  /**
   * Reads one output, `"<step id>.<output>"`: the parsed value of a JSON output, the bytes (a Buffer)
   * of a file output, the path of a fresh copy of a directory output. Bytes are verified on the way.
   */
  output(ref: string): Promise<unknown>;
  /** A file (or JSON) output as UTF-8 text. */
  text(ref: string): Promise<string>;
  /** Deletes what this run created: the temporary store (not a `storeDir` you gave) and directory copies. */
  cleanup(): Promise<void>;
}

/**
 * Runs a pipeline in this process, as `flywheel run` does with the local executor, on a fresh temporary
 * store, and returns the run record with accessors for step statuses and outputs: a pipeline's test
 * needs no server, no Temporal and no `.flywheel/` of its own. The pipeline is validated first; an
 * invalid one throws `PipelineInvalidError` listing every problem.
 *
 * @example
 * ```ts
 * // test/hello.test.ts (vitest)
 * import { expect, test } from 'vitest';
 * import { runPipelineForTest } from 'flywheel';
 * import hello from '../pipelines/hello.js';
 *
 * test('hello greets and shouts', async () => {
 *   const run = await runPipelineForTest(hello, { config: { greet: { name: 'Ada' } } });
 *   expect(run.statuses).toEqual({ greet: 'executed', shout: 'executed' });
 *   expect(await run.output('greet.greeting')).toEqual({ message: 'Hello, Ada!' });
 *   expect(await run.text('shout.loud')).toBe('HELLO, ADA!\n');
 *   const again = await runPipelineForTest(hello, { config: { greet: { name: 'Ada' } }, storeDir: run.storeDir });
 *   expect(again.statuses).toEqual({ greet: 'cached', shout: 'cached' });
 *   await run.cleanup();
 * });
 * ```
 */
export async function runPipelineForTest(pipeline: PipelineDefinition, options: TestRunOptions = {}): Promise<PipelineTestRun> {
  const resolved = validatePipeline(pipeline, withProfileOverride(options.config ?? {}, options.profile));
  for (const id of options.force ?? [])
    if (!resolved.byId.has(id))
      throw new FlywheelError('USAGE', `force: no step ${JSON.stringify(id)} in pipeline ${resolved.name}`, {
        fix: `use one of: ${[...resolved.byId.keys()].join(', ')}`,
      });
  const ownStore = options.storeDir === undefined;
  const storeDir = options.storeDir === undefined ? await mkdtemp(join(tmpdir(), 'flywheel-test-store-')) : resolve(options.storeDir);
  const store = new LocalStore(storeDir);
  const logger = createLogger({ level: options.logLevel ?? 'warn', pretty: false });
  const record = await runLocal(resolved, {
    store,
    logger,
    force: options.force ?? [],
    overrides: options.profile === undefined ? [] : [`--profile ${options.profile}`],
    ...(options.env === undefined ? {} : { env: options.env }),
  });
  logger.flush();
  const copies: string[] = [];

  const step = (id: string): StepRunRecord => {
    const found = record.steps.find((s) => s.id === id);
    if (found === undefined)
      throw new FlywheelError('USAGE', `run ${record.runId} of ${record.pipeline} has no step ${JSON.stringify(id)}`, {
        fix: `use one of: ${record.steps.map((s) => s.id).join(', ')}`,
      });
    return found;
  };
  const outputRecord = (ref: string): OutputRecord => {
    const dot = ref.indexOf('.');
    if (dot <= 0 || dot === ref.length - 1)
      throw new FlywheelError('USAGE', `${JSON.stringify(ref)} is not "<step id>.<output>"`, { fix: "write e.g. run.output('greet.greeting')" });
    const owner = step(ref.slice(0, dot));
    const found = owner.outputs[ref.slice(dot + 1)];
    if (found !== undefined) return found;
    const known = record.steps.flatMap((s) => Object.keys(s.outputs).map((o) => `${s.id}.${o}`));
    const why = owner.error === undefined ? owner.status : `${owner.status}: ${owner.error.message}`;
    throw new FlywheelError('USAGE', `step ${owner.id} has no output ${JSON.stringify(ref.slice(dot + 1))} in run ${record.runId} (${why})`, {
      fix: `outputs of this run: ${known.join(', ') || '(none)'}`,
    });
  };

  return {
    record,
    status: record.status,
    statuses: Object.fromEntries(record.steps.map((s) => [s.id, s.status])),
    storeDir,
    step,
    async output(ref) {
      const found = outputRecord(ref);
      if (found.kind === 'dir') {
        const copy = await mkdtemp(join(tmpdir(), 'flywheel-test-output-'));
        copies.push(copy);
        const target = join(copy, ref);
        await materializeDirectory(store, found.digest, target);
        return target;
      }
      const bytes = await store.readBytes(found.digest);
      return found.kind === 'json' ? (JSON.parse(bytes.toString('utf8')) as unknown) : bytes;
    },
    async text(ref) {
      const found = outputRecord(ref);
      if (found.kind === 'dir') throw new FlywheelError('USAGE', `${ref} is a directory`, { fix: `read it with await run.output('${ref}'): a path` });
      return (await store.readBytes(found.digest)).toString('utf8');
    },
    async cleanup() {
      await Promise.all([...copies.splice(0), ...(ownStore ? [storeDir] : [])].map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}
