import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runCli, runJson, statuses } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const chain = join(FIXTURES, 'chain.ts');

describe('cache ls, gc, pins and run history', () => {
  it('gc keeps what the last N runs and pinned runs reference, and --dry-run deletes nothing', async () => {
    const cwd = await tempDir('flywheel-gc');
    const oldest = await runJson(chain, ['--set', 'suffix.suffix=a'], { cwd });
    await runJson(chain, ['--set', 'suffix.suffix=b'], { cwd });
    await runJson(chain, ['--set', 'suffix.suffix=c'], { cwd });
    const entriesBefore = (JSON.parse((await runCli(['cache', 'ls', '--json'], { cwd })).stdout) as unknown[]).length;
    expect(entriesBefore).toBe(2 + 3 * 2); // emit and upper once, suffix and measure per run

    expect((await runCli(['pin', oldest.run.runId], { cwd })).code).toBe(0);
    const dry = await runCli(['cache', 'gc', '--keep', '1', '--grace', 'PT0S', '--dry-run', '--json'], { cwd });
    const planned = JSON.parse(dry.stdout) as { deletedEntries: string[]; deletedBlobs: string[]; keptRuns: string[] };
    // Run 2's suffix and measure entries are the only ones no kept run references.
    expect(planned.deletedEntries).toHaveLength(2);
    expect(planned.keptRuns).toContain(oldest.run.runId);
    expect((JSON.parse((await runCli(['cache', 'ls', '--json'], { cwd })).stdout) as unknown[]).length).toBe(entriesBefore);

    const real = await runCli(['cache', 'gc', '--keep', '1', '--grace', 'PT0S'], { cwd });
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(/deleted 2 entries and \d+ blobs/);
    expect((await runCli(['cache', 'verify'], { cwd })).code).toBe(0);

    // Kept results are still hits; collected ones are recomputed with the reason.
    expect(statuses((await runJson(chain, ['--set', 'suffix.suffix=c'], { cwd })).run)).toEqual({
      emit: 'cached',
      upper: 'cached',
      suffix: 'cached',
      measure: 'cached',
    });
    expect(statuses((await runJson(chain, ['--set', 'suffix.suffix=a'], { cwd })).run).suffix).toBe('cached');
    const collected = await runJson(chain, ['--set', 'suffix.suffix=b'], { cwd });
    expect(collected.run.steps.find((s) => s.id === 'suffix')?.status).toBe('executed');
  });

  it('lists runs and shows one in detail', async () => {
    const cwd = await tempDir('flywheel-runs');
    const { run } = await runJson(chain, [], { cwd });
    const list = await runCli(['runs'], { cwd });
    expect(list.stdout).toContain(run.runId);
    expect(list.stdout).toMatch(/chain\s+succeeded/);
    const show = await runCli(['show', run.runId], { cwd });
    expect(show.stdout).toContain(`run ${run.runId} of chain: succeeded`);
    expect(show.stdout).toContain(`key ${run.steps[0]?.cacheKey}`);
  });

  it('reads a result back with flywheel output, from the newest run or a given one', async () => {
    const cwd = await tempDir('flywheel-output');
    const first = await runJson(chain, [], { cwd });
    await runJson(chain, ['--set', 'suffix.suffix=?'], { cwd });
    expect((await runCli(['output', 'suffix.out'], { cwd })).stdout).toBe('ABC?\n');
    expect((await runCli(['output', 'suffix.out', '--run', first.run.runId], { cwd })).stdout).toBe('ABC!\n');
    expect(JSON.parse((await runCli(['output', 'measure.stats'], { cwd })).stdout)).toEqual({ length: 5, lines: 1 });
    const target = join(cwd, 'exported', 'text.txt');
    expect((await runCli(['output', 'upper.out', '--out', target], { cwd })).code).toBe(0);
    expect(await readFile(target, 'utf8')).toBe('ABC\n');
    const missing = await runCli(['output', 'suffix.nope'], { cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no successful run in');
    expect(missing.stderr).toContain('outputs that runs have: emit.out, measure.stats, suffix.out, upper.out');
  });

  it('answers output from the newest successful run of the right pipeline, and names it', async () => {
    const cwd = await tempDir('flywheel-output-runs');
    const good = await runJson(chain, [], { cwd });
    // A later run fails after suffix produced 'ABC?': its outputs are not the answer unless asked for.
    const failed = await runJson(chain, ['--set', 'suffix.suffix=?', '--set', 'measure.fail=true'], { cwd });
    expect(failed.code).toBe(1);
    const answer = await runCli(['output', 'suffix.out'], { cwd });
    expect(answer.stdout).toBe('ABC!\n');
    expect(answer.stderr).toMatch(new RegExp(`^suffix\\.out of run ${good.run.runId} \\(chain, succeeded \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)\\n$`));
    const pinned = await runCli(['output', 'suffix.out', '--run', failed.run.runId], { cwd });
    expect(pinned.stdout).toBe('ABC?\n');
    expect(pinned.stderr).toContain(`of run ${failed.run.runId} (chain, failed`);
    expect((await runCli(['output', 'measure.stats', '--pipeline', 'nothing'], { cwd })).stderr).toContain('no successful run of nothing');
    // Another pipeline with a step of the same id: the newest successful run that has the output, or the pipeline asked for.
    const other = await runJson(join(FIXTURES, 'diamond.ts'), [], { cwd });
    expect((await runCli(['output', 'emit.out'], { cwd })).stdout).toBe('seed\n');
    expect((await runCli(['output', 'emit.out', '--pipeline', 'chain'], { cwd })).stdout).toBe('abc\n');
    expect((await runCli(['output', 'measure.stats'], { cwd })).stderr).toContain(`of run ${good.run.runId} (chain`);
    expect((await runCli(['output', 'join.out'], { cwd })).stderr).toContain(`of run ${other.run.runId} (diamond`);
  });

  it('prints the run --json document with the documented fields', async () => {
    const cwd = await tempDir('flywheel-json');
    const { run } = await runJson(chain, [], { cwd });
    expect(run).toMatchObject({ runId: expect.any(String), pipeline: 'chain', status: 'succeeded' });
    for (const step of run.steps) {
      expect(step).toMatchObject({
        id: expect.any(String),
        status: 'executed',
        cacheKey: expect.stringMatching(/^[0-9a-f]{64}$/),
        reason: expect.any(String),
        durationMs: expect.any(Number),
      });
      for (const digest of Object.values(step.outputs)) expect(digest).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('shows live human output with a summary of executed vs cached and time saved', async () => {
    const cwd = await tempDir('flywheel-human');
    const first = await runCli(['run', chain], { cwd });
    expect(first.stdout).toMatch(/✓ emit\s+executed in/);
    expect(first.stdout).toContain('succeeded: 4 steps — 4 executed, 0 cached');
    const second = await runCli(['run', chain], { cwd });
    expect(second.stdout).toMatch(/● emit\s+cached/);
    expect(second.stdout).toMatch(/0 executed, 4 cached, 0 failed, 0 skipped · wall .* · compute time saved by the cache/);
    expect(second.stdout).toContain('results: measure.stats — read one with: flywheel output <step>.<output>');
  });
});
