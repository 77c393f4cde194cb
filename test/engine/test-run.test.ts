import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { definePipeline, defineStep, dir, file, FlywheelError, json, PipelineInvalidError, runPipelineForTest } from '../../index.js';
import { tempDir } from '../support/temp-dir.js';

const Count = z.object({ n: z.number() });

const count = defineStep({
  id: 'count',
  version: 1,
  config: z.object({ n: z.number().int().default(2) }),
  outputs: { count: json(Count) },
  run: ({ config }) => ({ count: { n: config.n } }),
});

const lines = defineStep({
  id: 'lines',
  version: 1,
  inputs: { count: json(Count) },
  outputs: { text: file({ fileName: 'lines.txt' }), parts: dir() },
  async run({ inputs, outputs }) {
    const all = Array.from({ length: inputs.count.n }, (_, i) => `line ${i + 1}`);
    await writeFile(outputs.text, `${all.join('\n')}\n`);
    await mkdir(join(outputs.parts, 'nested'), { recursive: true });
    for (const [i, line] of all.entries()) await writeFile(join(outputs.parts, 'nested', `${i + 1}.txt`), line);
  },
});

const pipeline = definePipeline({
  name: 'lines',
  profiles: { small: 'two lines', large: 'five lines' },
  build(p, { profile }) {
    const c = p.add(count, { config: { n: profile === 'large' ? 5 : 2 } });
    p.add(lines, { inputs: { count: c.out.count } });
  },
});

describe('runPipelineForTest', () => {
  it('runs on a fresh store and reads JSON, file and directory outputs', async () => {
    const run = await runPipelineForTest(pipeline);
    expect(run.status).toBe('succeeded');
    expect(run.statuses).toEqual({ count: 'executed', lines: 'executed' });
    expect(run.step('lines').outputs.text?.kind).toBe('file');
    expect(await run.output('count.count')).toEqual({ n: 2 });
    expect(await run.output('lines.text')).toEqual(Buffer.from('line 1\nline 2\n'));
    expect(await run.text('lines.text')).toBe('line 1\nline 2\n');
    expect(await run.text('count.count')).toBe('{"n":2}');
    const parts = (await run.output('lines.parts')) as string;
    expect(await readFile(join(parts, 'nested', '2.txt'), 'utf8')).toBe('line 2');

    await run.cleanup();
    expect(existsSync(run.storeDir)).toBe(false);
    expect(existsSync(parts)).toBe(false);
  });

  it('applies config and profiles, and reuses a store it is given', async () => {
    const storeDir = join(await tempDir('flywheel-test-run'), 'store');
    const large = await runPipelineForTest(pipeline, { profile: 'large', storeDir });
    expect(await large.text('lines.text')).toBe('line 1\nline 2\nline 3\nline 4\nline 5\n');
    expect(large.record.overrides).toEqual(['--profile large']);

    const configured = await runPipelineForTest(pipeline, { profile: 'large', config: { count: { n: 3 } }, storeDir });
    expect(configured.statuses).toEqual({ count: 'executed', lines: 'executed' });
    expect(await configured.output('count.count')).toEqual({ n: 3 });

    const again = await runPipelineForTest(pipeline, { profile: 'large', storeDir });
    expect(again.statuses).toEqual({ count: 'cached', lines: 'cached' });
    const forced = await runPipelineForTest(pipeline, { profile: 'large', storeDir, force: ['count'] });
    expect(forced.statuses).toEqual({ count: 'executed', lines: 'cached' }); // same bytes: early cutoff
    await expect(runPipelineForTest(pipeline, { storeDir, force: ['nope'] })).rejects.toThrow(/force: no step "nope"/);

    await again.cleanup();
    expect(existsSync(storeDir)).toBe(true); // a store the caller gave is the caller's
  });

  it('reports a failed step in the result, and says why its output is missing', async () => {
    const failing = defineStep({
      id: 'fails',
      version: 1,
      inputs: { count: json(Count) },
      outputs: { out: file() },
      run: () => {
        throw new FlywheelError('NO_LUCK', 'the step gave up', { retryable: false });
      },
    });
    const broken = definePipeline({
      name: 'broken',
      build(p) {
        p.add(failing, { inputs: { count: p.add(count).out.count } });
      },
    });
    const run = await runPipelineForTest(broken, { logLevel: 'silent' });
    expect(run.status).toBe('failed');
    expect(run.statuses).toEqual({ count: 'executed', fails: 'failed' });
    expect(run.step('fails').error).toEqual({ code: 'NO_LUCK', message: 'the step gave up' });
    await expect(run.output('fails.out')).rejects.toThrow(/step fails has no output "out" .*failed: the step gave up/);
    await expect(run.output('count.nope')).rejects.toThrow(/has no output "nope"/);
    await expect(run.output('count')).rejects.toThrow(/is not "<step id>.<output>"/);
    expect(() => run.step('nope')).toThrow(/has no step "nope"/);
    await run.cleanup();
  });

  it('refuses an invalid pipeline before running anything, listing every problem', async () => {
    const error = await runPipelineForTest(pipeline, { config: { count: { n: 'many' }, nope: {} } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineInvalidError);
    expect((error as PipelineInvalidError).problems.map((p) => p.code).sort()).toEqual(['CONFIG_INVALID', 'UNKNOWN_STEP']);
  });
});
