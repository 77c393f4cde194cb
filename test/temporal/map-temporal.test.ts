import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../cache/open-store.js';
import type { RunRecord } from '../../cache/records.js';
import { FIXTURES, runCli, runJson, statuses } from '../support/cli.js';
import { startTemporalSuite, type TemporalSuite, type WorkerProcess } from '../support/temporal.js';
import { tempDir } from '../support/temp-dir.js';

const mapped = join(FIXTURES, 'mapped.ts');
const onTemporal = ['--engine', 'temporal'];

let suite: TemporalSuite | undefined;
let workers: WorkerProcess[] = [];
let env: Record<string, string>;

beforeAll(async () => {
  suite = await startTemporalSuite('map-', ['cpu', 'gpu-h200'], (folder) => ({ FLYWHEEL_TEST_MAP_FAIL: join(folder, 'fail.txt') }));
  ({ workers, env } = suite);
}, 120_000);

afterAll(() => suite?.stop(), 60_000);

beforeEach(async () => {
  await writeFile(env.FLYWHEEL_TEST_MAP_FAIL as string, '');
});

/** The whole run record from the store, with each step's element counts. */
async function record(cwd: string, runId: string): Promise<RunRecord> {
  const run = await openStore(join(cwd, '.flywheel')).getRun(runId);
  if (run === undefined) throw new Error(`no record of run ${runId}`);
  return run;
}

const elementsOf = async (cwd: string, runId: string, id = 'square') => (await record(cwd, runId)).steps.find((s) => s.id === id)?.elements;

describe('p.map on Temporal', () => {
  it('caches per element: a changed element runs alone, added ones run, removed ones cost nothing, and a local run agrees', async () => {
    const cwd = await tempDir('flywheel-map');
    const ws = { cwd, env };
    const first = await runJson(mapped, onTemporal, ws);
    expect(first.code, first.stderr).toBe(0);
    expect(await elementsOf(cwd, first.run.runId)).toMatchObject({ total: 20, executed: 20, cached: 0, failed: 0 });

    const again = await runJson(mapped, onTemporal, ws);
    expect(statuses(again.run)).toEqual({ numbers: 'cached', square: 'cached', total: 'cached' });

    const changed = await runJson(mapped, [...onTemporal, '--set', 'numbers.changed=7'], ws);
    expect(statuses(changed.run)).toEqual({ numbers: 'executed', square: 'executed', total: 'executed' });
    expect(await elementsOf(cwd, changed.run.runId)).toMatchObject({ total: 20, executed: 1, cached: 19, executedIndices: '7' });

    const added = await runJson(mapped, [...onTemporal, '--set', 'numbers.changed=7', '--set', 'numbers.extra=2'], ws);
    expect(await elementsOf(cwd, added.run.runId)).toMatchObject({ total: 22, executed: 2, cached: 20, executedIndices: '20-21' });

    const removed = await runJson(mapped, [...onTemporal, '--set', 'numbers.changed=7', '--set', 'numbers.count=15'], ws);
    expect(await elementsOf(cwd, removed.run.runId)).toMatchObject({ total: 15, executed: 0, cached: 15 });
    expect(JSON.parse((await runCli(['output', 'total.sum', '--run', removed.run.runId], ws)).stdout)).toMatchObject({ count: 15 });

    // The same keys and collections as the local executor: a local run on the same store is fully cached.
    const local = await runJson(mapped, ['--set', 'numbers.changed=7', '--set', 'numbers.count=15'], ws);
    expect(statuses(local.run)).toEqual({ numbers: 'cached', square: 'cached', total: 'cached' });
  }, 240_000);

  it('a failing element fails the map at minSuccessRatio 1; below it the collection leaves it out and the next run executes only it', async () => {
    const cwd = await tempDir('flywheel-map');
    const ws = { cwd, env };
    await writeFile(env.FLYWHEEL_TEST_MAP_FAIL as string, '3\n');
    const strict = await runJson(mapped, [...onTemporal, '--set', 'numbers.count=6'], ws);
    expect(strict.code).toBe(1);
    expect(statuses(strict.run)).toEqual({ numbers: 'executed', square: 'failed', total: 'skipped' });
    const failedStep = (await record(cwd, strict.run.runId)).steps.find((s) => s.id === 'square');
    expect(failedStep?.error?.code).toBe('MAP_ELEMENTS_FAILED');
    expect(failedStep?.elements).toMatchObject({ total: 6, executed: 5, failed: 1, leftOut: '3' });
    expect(failedStep?.elements?.failures?.[0]).toMatchObject({ index: 3, code: 'ELEMENT_BROKEN' });

    const tolerant = await runJson(mapped, [...onTemporal, '--profile', 'tolerant', '--set', 'numbers.count=6'], ws);
    expect(tolerant.code, tolerant.stderr).toBe(0);
    expect(await elementsOf(cwd, tolerant.run.runId)).toMatchObject({ total: 6, executed: 0, cached: 5, failed: 1, leftOut: '3' });
    expect(JSON.parse((await runCli(['output', 'total.sum', '--run', tolerant.run.runId], ws)).stdout)).toMatchObject({ count: 5 });

    await writeFile(env.FLYWHEEL_TEST_MAP_FAIL as string, '');
    const fixed = await runJson(mapped, [...onTemporal, '--profile', 'tolerant', '--set', 'numbers.count=6'], ws);
    expect(statuses(fixed.run)).toEqual({ numbers: 'cached', square: 'executed', total: 'executed' });
    expect(await elementsOf(cwd, fixed.run.runId)).toMatchObject({ total: 6, executed: 1, cached: 5, failed: 0, executedIndices: '3' });
  }, 180_000);

  it('an element that finds the disk full fails the map with DISK_FULL even under minSuccessRatio, and the next run executes only it', async () => {
    const cwd = await tempDir('flywheel-map-no-space');
    const ws = { cwd, env };
    await writeFile(env.FLYWHEEL_TEST_MAP_FAIL as string, '3\nno-space:4\n');
    const tolerant = ['--profile', 'tolerant', '--set', 'numbers.count=6'];
    const broken = await runJson(mapped, [...onTemporal, ...tolerant], ws);
    expect(broken.code).toBe(1);
    expect(statuses(broken.run)).toEqual({ numbers: 'executed', square: 'failed', total: 'skipped' });
    const failedStep = (await record(cwd, broken.run.runId)).steps.find((s) => s.id === 'square');
    expect(failedStep?.error?.code).toBe('DISK_FULL');
    expect(failedStep?.error?.message).toContain('element 4 could not run: no space left on the disk');

    // A clean run would have had element 4: only once it runs is the collection stored, without element 3 alone.
    await writeFile(env.FLYWHEEL_TEST_MAP_FAIL as string, '3\n');
    const whole = await runJson(mapped, [...onTemporal, ...tolerant], ws);
    expect(whole.code, whole.stderr).toBe(0);
    expect(await elementsOf(cwd, whole.run.runId)).toMatchObject({ total: 6, executed: 1, cached: 4, failed: 1, executedIndices: '4', leftOut: '3' });
  }, 180_000);

  it('runs a GPU map on the gpu-h200 worker, one element per activity', async () => {
    const cwd = await tempDir('flywheel-map');
    const run = await runJson(mapped, [...onTemporal, '--profile', 'gpu', '--set', 'numbers.count=3'], { cwd, env });
    expect(run.code, `${run.stderr}\n${JSON.stringify(run.run, null, 1)}`).toBe(0);
    expect(await elementsOf(cwd, run.run.runId)).toMatchObject({ total: 3, executed: 3 });
    // Each chunk logs once: three chunks of one element on the GPU worker, none on the cpu worker.
    const chunks = (log: string): string[] => log.split('\n').filter((line) => line.includes(run.run.runId) && line.includes('map chunk done'));
    const onGpu = chunks(workers[1]?.output() ?? '');
    expect(onGpu).toHaveLength(3);
    for (const line of onGpu) expect(JSON.parse(line)).toMatchObject({ stepId: 'square', elements: 1, executed: 1 });
    expect(chunks(workers[0]?.output() ?? '')).toEqual([]);
  }, 120_000);

  it('completes a 10,000-element map within Temporal limits, then re-runs one changed element alone', async () => {
    const cwd = await tempDir('flywheel-map');
    const ws = { cwd, env };
    const first = await runJson(mapped, [...onTemporal, '--set', 'numbers.count=10000'], ws);
    expect(first.code, first.stderr).toBe(0);
    expect(await elementsOf(cwd, first.run.runId)).toMatchObject({ total: 10_000, executed: 10_000, failed: 0 });
    expect(JSON.parse((await runCli(['output', 'total.sum', '--run', first.run.runId], ws)).stdout)).toMatchObject({ count: 10000 });
    // Cheap elements go out in growing chunks (50, 100, 200, … at most 1,000 per activity), not in 200 chunks of 50.
    const sizes = (workers[0]?.output() ?? '')
      .split('\n')
      .filter((line) => line.includes(first.run.runId) && line.includes('map chunk done'))
      .map((line) => (JSON.parse(line) as { elements: number }).elements);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(sizes[0]).toBe(50);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1_000);
    expect(Math.max(...sizes)).toBeGreaterThan(50);
    expect(sizes.length).toBeLessThan(60);

    const one = await runJson(mapped, [...onTemporal, '--set', 'numbers.count=10000', '--set', 'numbers.changed=4812'], ws);
    expect(one.code, one.stderr).toBe(0);
    expect(await elementsOf(cwd, one.run.runId)).toMatchObject({ total: 10_000, executed: 1, cached: 9_999, executedIndices: '4812' });
  }, 600_000);
});
