import { spawnSync } from 'node:child_process';
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../cache/open-store.js';
import type { ElementCounts } from '../../cache/records.js';
import { BIN, REPO, runCli, startCli, waitFor, type CliResult } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

// The CLI's view of a map step (`p.map`): plan, run --json, show and the live status line, against a real
// pipeline file in a project of its own. An element fails when its id is listed in the file $MAP_FAIL names
// (outside the cache key, so emptying the file lets the next run retry it); $MAP_SLEEP_MS slows each element;
// an element listed in $MAP_NO_SPACE writes its scratch to /dev/full, a disk with no space left (ENOSPC).
const PIPELINE = `import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { definePipeline, defineStep, FlywheelError, json } from 'flywheel';

const Item = z.object({ id: z.string(), text: z.string() });

const items = defineStep({
  id: 'cli-map-items',
  version: 1,
  config: z.object({ count: z.number().int().default(12), changed: z.number().int().default(-1) }),
  outputs: { list: json(z.array(Item)) },
  async run({ config }) {
    return { list: Array.from({ length: config.count }, (_, i) => ({ id: \`e\${i}\`, text: i === config.changed ? 'Changed' : \`Item \${i}\` })) };
  },
});

const lower = defineStep({
  id: 'cli-map-lower',
  version: 1,
  inputs: { item: json(Item) },
  outputs: { out: json(Item) },
  async run({ inputs }) {
    const failing = process.env.MAP_FAIL === undefined ? [] : (await readFile(process.env.MAP_FAIL, 'utf8').catch(() => '')).split('\\n');
    if (failing.includes(inputs.item.id)) throw new FlywheelError('ELEMENT_BROKEN', \`element \${inputs.item.id} is broken\`, { retryable: false });
    if ((process.env.MAP_NO_SPACE ?? '').split(',').includes(inputs.item.id)) await writeFile('/dev/full', 'scratch');
    if (process.env.MAP_SLEEP_MS) await new Promise((resolve) => setTimeout(resolve, Number(process.env.MAP_SLEEP_MS)));
    return { out: { id: inputs.item.id, text: inputs.item.text.toLowerCase() } };
  },
});

export default definePipeline({
  name: 'cli-map',
  build(p) {
    const src = p.add(items, { id: 'items' });
    p.map(lower, { id: 'lower', over: { item: src.out.list }, minSuccessRatio: Number(process.env.MAP_RATIO ?? '1') });
  },
});
`;

interface Elements {
  total: number;
  executed: number;
  cached: number;
  failed: number;
  executedIndices?: string;
  failures?: Array<{ index: number; code: string; message: string }>;
  leftOut?: string;
  keys?: string;
}

interface RunDoc {
  runId: string;
  status: string;
  steps: Array<{ id: string; status: string; reason: string; error?: { code: string; message: string }; elements?: Elements }>;
}

interface PlanDoc {
  steps: Array<{ id: string; decision: string; reason: string; elements?: { total: number; cached: number; run: string } }>;
}

interface MapProject {
  cwd: string;
  env: Record<string, string>;
  /** Makes these element ids fail from the next command on (none: every element succeeds). */
  fail(ids: string[]): Promise<void>;
  cli(args: string[], env?: Record<string, string>): Promise<CliResult>;
  run(args: string[], env?: Record<string, string>): Promise<{ code: number | null; run: RunDoc }>;
}

async function mapProject(): Promise<MapProject> {
  const cwd = await tempDir('flywheel-map-cli');
  const outside = await tempDir('flywheel-map-cli-aside');
  await writeFile(join(cwd, 'pipeline.ts'), PIPELINE);
  // The pipeline imports zod as a project would: from its own node_modules.
  await symlink(join(REPO, 'node_modules'), join(cwd, 'node_modules'), 'dir');
  const failFile = join(outside, 'fail.txt');
  await writeFile(failFile, '');
  const env = { MAP_FAIL: failFile, FLYWHEEL_COMPILE_CACHE: join(outside, 'compile-cache') };
  const cli = (args: string[], extra: Record<string, string> = {}): Promise<CliResult> => runCli(args, { cwd, env: { ...env, ...extra } });
  return {
    cwd,
    env,
    fail: (ids) => writeFile(failFile, ids.join('\n')),
    cli,
    async run(args, extra) {
      const result = await cli(['run', 'pipeline.ts', '--json', ...args], extra);
      try {
        return { code: result.code, run: JSON.parse(result.stdout) as RunDoc };
      } catch {
        throw new Error(`flywheel run --json printed no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
      }
    },
  };
}

const step = (run: RunDoc, id: string): RunDoc['steps'][number] => {
  const found = run.steps.find((s) => s.id === id);
  if (found === undefined) throw new Error(`no step ${id} in run ${run.runId}`);
  return found;
};

/** The lines `show` prints under one step: from its status line to the next step's. */
function stepBlock(show: string, id: string): string[] {
  const lines = show.trimEnd().split('\n');
  const start = lines.findIndex((l) => new RegExp(`^ {2}\\w+\\s+${id} `).test(l));
  if (start < 0) throw new Error(`show printed no step ${id}:\n${show}`);
  const end = lines.findIndex((l, i) => i > start && /^ {2}\S/.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).map((l) => l.trim());
}

describe('the CLI on a map step', () => {
  it('a failing element: run --json gives the counts, show lists it, plan says which elements would run', async () => {
    const project = await mapProject();
    await project.fail(['e3', 'e7']);
    const failed = await project.run([]);
    expect(failed.code).toBe(1);
    const lower = step(failed.run, 'lower');
    expect(lower.status).toBe('failed');
    expect(lower.error?.code).toBe('MAP_ELEMENTS_FAILED');
    expect(lower.elements).toEqual({
      total: 12,
      executed: 10,
      cached: 0,
      failed: 2,
      executedIndices: '0-2,4-6,8-11',
      // Each failed element keeps its own log (a blob digest).
      failures: [
        { index: 3, code: 'ELEMENT_BROKEN', message: 'element e3 is broken', logs: expect.stringMatching(/^[0-9a-f]{64}$/) },
        { index: 7, code: 'ELEMENT_BROKEN', message: 'element e7 is broken', logs: expect.stringMatching(/^[0-9a-f]{64}$/) },
      ],
      leftOut: '3,7',
      // A failed map still names its key list, so cache gc spares the ten elements that succeeded.
      keys: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    // The counts come first, for a reader of the JSON.
    expect(Object.keys(lower.elements ?? {}).slice(0, 4)).toEqual(['total', 'executed', 'cached', 'failed']);
    expect(step(failed.run, 'items').elements).toBeUndefined(); // only map steps have elements

    const show = await project.cli(['show', failed.run.runId]);
    expect(show.code).toBe(0);
    const block = stepBlock(show.stdout, 'lower');
    const from = block.findIndex((l) => l.startsWith('map over'));
    // (What the elements' executions took follows, as `spent:`: it varies from run to run.)
    expect(block.slice(from).filter((l) => !l.startsWith('spent:'))).toEqual([
      'map over 12 elements: 10 executed, 0 cached, 2 failed',
      'executed 0–2, 4–6, 8–11',
      'failed element 3: ELEMENT_BROKEN element e3 is broken',
      'failed element 7: ELEMENT_BROKEN element e7 is broken',
      'left out of the collection: 3, 7',
    ]);
    const showJson = JSON.parse((await project.cli(['show', failed.run.runId, '--json'])).stdout) as RunDoc;
    expect(step(showJson, 'lower').elements).toEqual(lower.elements);

    // The elements that succeeded are cached each on its own: a plan runs only the two that failed.
    const plan = await project.cli(['plan', 'pipeline.ts']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/^ {2}run\s+lower\s+.*map over 12 elements: 10 cached, 2 to run \(elements 3, 7/m);
    expect(plan.stdout).toMatch(/^2 steps: 1 cached, 1 to run, 0 pending · 2 of 12 map elements to run · /m);
    const planJson = JSON.parse((await project.cli(['plan', 'pipeline.ts', '--json'])).stdout) as PlanDoc;
    const planned = planJson.steps.find((s) => s.id === 'lower');
    expect(planned).toMatchObject({ decision: 'run', elements: { total: 12, cached: 10, run: '3,7' } });
    expect(planned?.reason).toContain('map over 12 elements: 10 cached, 2 to run');

    // Fixed outside the key: the human run runs those two and says so on the step's line.
    await project.fail([]);
    const fixed = await project.cli(['run', 'pipeline.ts']);
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toMatch(/^ {2}✓ lower\s+executed in \S+ · 2 of 12 elements ran, 10 cached$/m);
    // Complete now: the whole map comes from the cache as one entry.
    const cachedLine = await project.cli(['run', 'pipeline.ts']);
    expect(cachedLine.stdout).toMatch(/^ {2}● lower\s+cached.* · 12 elements/m);
    const again = await project.run([]);
    expect(step(again.run, 'lower')).toMatchObject({ status: 'cached', elements: { total: 12, executed: 0, cached: 12, failed: 0 } });
  });

  it('under minSuccessRatio a run succeeds leaving the failed element out, and run --json and show say which', async () => {
    const project = await mapProject();
    await project.fail(['e5']);
    const partial = await project.run([], { MAP_RATIO: '0.5' });
    expect(partial.code).toBe(0);
    const lower = step(partial.run, 'lower');
    expect(lower.status).toBe('executed');
    expect(lower.elements).toMatchObject({ total: 12, executed: 11, cached: 0, failed: 1, executedIndices: '0-4,6-11', leftOut: '5' });
    expect(lower.elements?.keys).toMatch(/^[0-9a-f]{64}$/);
    const block = stepBlock((await project.cli(['show', partial.run.runId])).stdout, 'lower');
    expect(block).toContain('map over 12 elements: 11 executed, 0 cached, 1 failed');
    expect(block).toContain('failed element 5: ELEMENT_BROKEN element e5 is broken');
    expect(block).toContain('left out of the collection: 5');
  });

  it('an element that finds the disk full is not left out under minSuccessRatio: the map fails with DISK_FULL, and the next run runs only it', async () => {
    const project = await mapProject();
    await project.fail(['e5']);
    const broken = await project.run([], { MAP_RATIO: '0.5', MAP_NO_SPACE: 'e8' });
    expect(broken.code).toBe(1);
    const lower = step(broken.run, 'lower');
    expect(lower.status).toBe('failed');
    expect(lower.error?.code).toBe('DISK_FULL');
    expect(lower.error?.message).toContain('element 8 could not run: no space left on the disk');
    // A clean run would have had element 8: only once it runs is the collection stored.
    const whole = await project.run([], { MAP_RATIO: '0.5' });
    expect(whole.code).toBe(0);
    expect(step(whole.run, 'lower').elements).toMatchObject({ total: 12, executed: 1, cached: 10, failed: 1, executedIndices: '8', leftOut: '5' });
  });

  it('keeps show compact when many elements fail: the first ten, then a count', async () => {
    const project = await mapProject();
    // Every other element of 40 fails: 20 failures, 20 separate executed indices.
    await project.fail(Array.from({ length: 20 }, (_, i) => `e${2 * i + 1}`));
    const failed = await project.run(['--set', 'items.count=40']);
    expect(failed.code).toBe(1);
    expect(step(failed.run, 'lower').elements).toMatchObject({ total: 40, executed: 20, failed: 20 });
    const block = stepBlock((await project.cli(['show', failed.run.runId])).stdout, 'lower');
    const failures = block.filter((l) => l.startsWith('failed element '));
    expect(failures).toHaveLength(10);
    expect(failures[0]).toBe('failed element 1: ELEMENT_BROKEN element e1 is broken');
    expect(block).toContain('and 10 more failed elements');
    expect(block).toContain('executed 0, 2, 4, 6, 8 and 15 more ranges');
    expect(block.find((l) => l.startsWith('left out'))).toBe('left out of the collection: 1, 3, 5, 7, 9 and 15 more ranges');
    expect(block.length).toBeLessThan(20);
  });

  it('a changed element among thousands: one runs, the rest come from the cache, in plan, run and show', async () => {
    const project = await mapProject();
    const first = await project.run(['--set', 'items.count=2000']);
    expect(first.code).toBe(0);
    expect(step(first.run, 'lower').elements).toMatchObject({ total: 2000, executed: 2000, cached: 0, failed: 0, executedIndices: '0-1999' });

    const changed = await project.cli(['run', 'pipeline.ts', '--set', 'items.count=2000', '--set', 'items.changed=1234']);
    expect(changed.code).toBe(0);
    expect(changed.stdout).toMatch(/running: .*map over 2,000 elements: 1,999 cached, 1 to run \(element 1,234 changed\)/);
    expect(changed.stdout).toMatch(/^ {2}✓ lower\s+executed in \S+ · 1 of 2,000 elements ran, 1,999 cached$/m);

    const runs = JSON.parse((await project.cli(['runs', '--json'])).stdout) as Array<{ runId: string }>;
    const latest = runs[0]?.runId ?? '';
    const showJson = JSON.parse((await project.cli(['show', latest, '--json'])).stdout) as RunDoc;
    expect(step(showJson, 'lower').elements).toMatchObject({ total: 2000, executed: 1, cached: 1999, failed: 0, executedIndices: '1234' });
    const block = stepBlock((await project.cli(['show', latest])).stdout, 'lower');
    const lines = block.slice(block.findIndex((l) => l.startsWith('map over')));
    expect(lines.filter((l) => !l.startsWith('spent:') && !l.startsWith('saved:'))).toEqual([
      'map over 2,000 elements: 1 executed, 1,999 cached, 0 failed',
      'executed 1,234',
    ]);
    // The 1,999 reused elements had cost what their entries recorded.
    expect(lines).toContainEqual(expect.stringMatching(/^saved: CPU \d/));
  });

  it('a run killed mid-map leaves a record that shows the elements finished so far, and the next run runs only the rest', async () => {
    const project = await mapProject();
    const victim = startCli(['run', 'pipeline.ts', '--concurrency', '1', '--set', 'items.count=40'], {
      cwd: project.cwd,
      env: { ...project.env, MAP_SLEEP_MS: '100' },
    });
    const store = openStore(join(project.cwd, '.flywheel'));
    const running = async (): Promise<ElementCounts | undefined> => {
      const [runId] = await store.listRunIds();
      return runId === undefined ? undefined : (await store.getRun(runId))?.steps.find((s) => s.id === 'lower')?.elements;
    };
    // The running record is saved again as elements finish (about once a second): wait for one that shows some.
    await waitFor(async () => ((await running())?.executed ?? 0) >= 5, 'a saved record with five elements done');
    victim.child.kill('SIGKILL');
    await victim.done;
    const [runId] = await store.listRunIds();
    const shown = JSON.parse((await project.cli(['show', runId as string, '--json'])).stdout) as RunDoc & { status: string };
    expect(shown.status).toBe('interrupted');
    const lower = step(shown, 'lower');
    expect(lower.status).toBe('running');
    expect(lower.elements?.executed).toBeGreaterThanOrEqual(5);
    expect(lower.elements?.executedIndices).toMatch(/^0-\d+$/);
    const done = lower.elements?.executed ?? 0;

    const next = await project.run(['--set', 'items.count=40']);
    expect(next.code).toBe(0);
    expect(step(next.run, 'lower').elements).toMatchObject({ total: 40, cached: expect.any(Number) });
    expect(step(next.run, 'lower').elements?.cached).toBeGreaterThanOrEqual(done);
  }, 90_000);

  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('on a terminal, the status line counts a running map elements done of all', async () => {
    const project = await mapProject();
    await project.fail(['e3']);
    // `script` gives the CLI a pseudo-terminal, so it draws its live status line (every 250 ms).
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} run pipeline.ts --concurrency 1 --set items.count=20`;
    const result = spawnSync('script', ['-qfec', command, '/dev/null'], {
      cwd: project.cwd,
      env: { ...process.env, ...project.env, FLYWHEEL_LOG_LEVEL: 'warn', MAP_SLEEP_MS: '60' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    const statusLines = result.stdout.split(/\r|\n/).filter((l) => l.includes('running: lower '));
    const counts = statusLines.flatMap((l) => {
      const match = /running: lower \S+ (\d+)% (\d+)\/20 elements/.exec(l);
      return match ? [{ percent: Number(match[1]), done: Number(match[2]) }] : [];
    });
    expect(counts.length).toBeGreaterThan(1);
    for (const c of counts) expect(c.percent).toBe(Math.round((c.done / 20) * 100));
    // Counted up as elements finish, and the failure shows while it runs.
    expect(counts.at(-1)?.done).toBeGreaterThan(counts[0]?.done ?? 0);
    expect(statusLines.some((l) => /\d+\/20 elements, 1 failed/.test(l))).toBe(true);
    expect(result.stdout).toMatch(/✗ lower\s+FAILED after \S+: MAP_ELEMENTS_FAILED 1 of 20 elements failed/);
  });
});
