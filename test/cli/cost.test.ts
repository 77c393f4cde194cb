import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runCli, runJson, statuses, type JsonRun, type JsonStep } from '../support/cli.js';
import { judgeDriftProject } from '../support/judge-drift-project.js';
import { scriptedServers } from '../support/openai-server.js';
import { isJudgePrompt, readJudgePrompt, scriptedJudgeVerdict } from '../support/scripted-judge.js';
import { tempDir } from '../support/temp-dir.js';

const COSTED = join(FIXTURES, 'costed.ts');
const PRICES = {
  currency: 'USD',
  cpuHour: 0.05,
  gpuHour: { H200: 3.5, H100: 2.25 },
  tokensPerMillion: { 'judge-llm': { input: 2, output: 8 } },
  counts: { pages: 0.01 },
};

const step = (run: JsonRun, id: string): JsonStep => {
  const found = run.steps.find((s) => s.id === id);
  if (found === undefined) throw new Error(`no step ${id} in run ${run.runId}`);
  return found;
};

async function costedProject(label: string) {
  const cwd = await tempDir(label);
  const prices = join(cwd, 'prices.json');
  await writeFile(prices, JSON.stringify(PRICES));
  const env = { FLYWHEEL_PRICES: prices };
  return { cwd, env, prices };
}

describe('cost, spent and saved', () => {
  it('a cached fine-tune says how many GPU-hours and how much money the hit saved, from the cost recorded when it was computed', async () => {
    const { cwd, env } = await costedProject('cost-hit');
    // One step at a time: the child process's CPU time is then the fine-tune's alone (executions running together share it).
    const first = await runJson(COSTED, ['--concurrency', '1'], { cwd, env });
    expect(first.code, first.stderr).toBe(0);
    const trained = step(first.run, 'fine-tune');
    expect(trained.status).toBe('executed');
    // 8 GPUs × 12 hours, under the device's own name; the child process's CPU time is the step's.
    expect(trained.spent?.gpuSeconds).toEqual({ 'NVIDIA H200': 8 * 12 * 3600 });
    expect(trained.spent?.cpuMs).toBeGreaterThanOrEqual(250);
    expect(step(first.run, 'crawl').spent?.counts).toEqual({ pages: 120 });
    // A map's elements: each one's count, summed into the map's step.
    expect(step(first.run, 'score').spent?.counts).toEqual({ scored: 5 });
    // Money by the price table: 96 GPU-hours at $3.50, 120 pages at a cent, CPU at $0.05 an hour.
    const cpuHours = (first.run.usage?.spent.cpuMs ?? 0) / 3_600_000;
    expect(first.run.cost?.spent).toBeCloseTo(96 * 3.5 + 1.2 + cpuHours * 0.05, 6);
    expect(first.run.cost).toMatchObject({ currency: 'USD', saved: 0, unpriced: ['count scored'] });

    // The same run again: every step a hit, saving what the first run recorded.
    const again = await runCli(['run', COSTED], { cwd, env });
    expect(again.code, again.stderr).toBe(0);
    const line = again.stdout.split('\n').find((l) => l.includes('fine-tune'));
    expect(line).toMatch(/fine-tune\s+cached \(saves [^,]+, 96\.0 GPU-h H200 = \$336\.\d\d\)/);
    const cost = again.stdout.split('\n').find((l) => l.startsWith('cost — '));
    expect(cost).toMatch(/^cost — spent: .*; saved by the cache: 96\.0 GPU-h H200, CPU .*, pages 120, scored 5 = \$337\.\d\d \(\+ unpriced: count scored\)$/);

    const json = await runJson(COSTED, [], { cwd, env });
    expect(statuses(json.run)).toEqual({ crawl: 'cached', score: 'cached', 'fine-tune': 'cached' });
    expect(step(json.run, 'fine-tune').saved).toEqual(trained.spent);
    expect(step(json.run, 'fine-tune').spent).toBeUndefined();
    expect(json.run.usage?.saved.gpuSeconds).toEqual({ 'NVIDIA H200': 8 * 12 * 3600 });
    expect(json.run.cost?.saved).toBeCloseTo(first.run.cost?.spent ?? NaN, 6);
    expect(json.run.usage?.spent.gpuSeconds).toBeUndefined();

    // `show` says it per step, with the table the run was priced by.
    const shown = await runCli(['show', json.run.runId], { cwd, env });
    expect(shown.stdout).toContain('saved: 96.0 GPU-h H200, CPU');
    expect(shown.stdout).toMatch(/priced by .*prices\.json/);
  }, 120_000);

  it('a map that re-runs one element spends that element and saves the rest; `runs --cost` totals the runs', async () => {
    const { cwd, env } = await costedProject('cost-map');
    const items = (list: string[]) => ['--set', `crawl.items=${JSON.stringify(list)}`];
    expect((await runJson(COSTED, items(['a', 'b', 'c', 'd', 'e']), { cwd, env })).code).toBe(0);
    const changed = await runJson(COSTED, [...items(['a', 'b', 'c', 'd', 'ffff']), '--set', 'fine-tune.hours=1'], { cwd, env });
    expect(changed.code, changed.stderr).toBe(0);
    const score = step(changed.run, 'score');
    expect(score.spent?.counts).toEqual({ scored: 1 });
    expect(score.saved?.counts).toEqual({ scored: 4 });
    expect(step(changed.run, 'fine-tune').spent?.gpuSeconds).toEqual({ 'NVIDIA H200': 8 * 3600 });

    // `flywheel runs` gives each run's in a few words.
    const listed = (await runCli(['runs'], { cwd, env })).stdout.split('\n');
    expect(listed[1]).toMatch(/ · spent \$337\.\d\d, saved \$0\.00$/);
    // The four cached elements saved their CPU time, which rounds to 0 ms each when an element takes microseconds.
    expect(listed[0]).toMatch(/ · spent \$29\.\d\d, saved (<\$0\.0001|\$0\.00)$/);
    const report = await runCli(['runs', '--cost', '--pipeline', 'costed'], { cwd, env });
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/^cost of the last 2 runs of costed \(\d{4}-\d\d-\d\d → \d{4}-\d\d-\d\d\), newest first:/);
    // 96 + 8 GPU-hours and two crawls spent (its items changed); four elements saved by the second run.
    expect(report.stdout).toMatch(
      /total: spent 104\.0 GPU-h H200, CPU [^,]+, pages 240, scored 6 = \$366\.\d\d; saved by the cache (CPU [^,]+, )?scored 4 = (<\$0\.0001|\$0\.00)\n/,
    );
    // `compare` says the difference: B spent 88 GPU-hours less, and which step made it.
    const compared = await runCli(['compare'], { cwd, env });
    expect(compared.code, compared.stderr).toBe(0);
    expect(compared.stdout).toMatch(/\n {2}spent {3}A 96\.0 GPU-h H200, [^→]+ → B 8\.00 GPU-h H200, [^(]+\(\+ unpriced: count scored\) \(−\$30\d\.\d\d\)\n/);
    expect(compared.stdout).toMatch(/\n {2}fine-tune: spent 96\.0 GPU-h H200, CPU [^=]+= \$336\.\d\d in A, 8\.00 GPU-h H200, CPU [^=]+= \$28\.\d\d in B\n/);
    const totals = JSON.parse((await runCli(['runs', '--cost', '--json'], { cwd, env })).stdout) as { total: { money: Record<string, { spent: number }> } };
    expect(totals.total.money.USD?.spent).toBeGreaterThan(104 * 3.5);
  }, 120_000);

  it('without a price table: resources, not money, and where money comes from', async () => {
    const cwd = await tempDir('cost-unpriced');
    const run = await runCli(['run', COSTED], { cwd });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/fine-tune\s+executed in [^·]+ · 96\.0 GPU-h H200\n/);
    expect(run.stdout).toContain('(resources only: no price table; set FLYWHEEL_PRICES or write flywheel.prices.json)');
    expect(run.stdout).not.toContain('$');
  }, 60_000);

  it('a price table that is not one stops the run before anything is written, naming what is wrong', async () => {
    const { cwd, env, prices } = await costedProject('cost-bad');
    await writeFile(prices, JSON.stringify({ gpuHour: { H200: -3 } }));
    const bad = await runCli(['run', COSTED], { cwd, env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('PRICES_INVALID');
    expect(bad.stderr).toContain('gpuHour.H200');
    const missing = await runCli(['run', COSTED], { cwd, env: { FLYWHEEL_PRICES: join(cwd, 'nowhere.json') } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the price table FLYWHEEL_PRICES=.*nowhere\.json/);
    // Nothing ran, so no run record was written.
    expect(await readdir(join(cwd, '.flywheel', 'runs')).catch(() => [])).toEqual([]);
  }, 60_000);
});

describe('tokens from a real OpenAI-compatible server', () => {
  const serve = scriptedServers();

  it('the judge steps spend the tokens the server reported, priced per million; the cached re-run saves them', async () => {
    const server = await serve((request) =>
      isJudgePrompt(request) ? { content: scriptedJudgeVerdict(readJudgePrompt(request)) } : { status: 400, content: 'not a judge prompt' },
    );
    const cwd = await tempDir('cost-tokens');
    const project = await judgeDriftProject(cwd, server.baseURL);
    const prices = join(cwd, 'prices.json');
    await writeFile(prices, JSON.stringify(PRICES));
    Object.assign(project.env, { FLYWHEEL_PRICES: prices });
    const first = await project.run();
    expect(first.code, first.stderr).toBe(0);
    const input = server.requests.reduce((sum, r) => sum + (r.usage?.prompt_tokens ?? 0), 0);
    const output = server.requests.reduce((sum, r) => sum + (r.usage?.completion_tokens ?? 0), 0);
    expect(input).toBeGreaterThan(0);
    expect(first.run.usage?.spent.tokens?.['judge-llm']).toEqual({ input, output, calls: server.requests.length });
    // Calibration and the golden-set re-scoring both called the server; each step keeps its own.
    const called = first.run.steps.filter((s) => s.spent?.tokens?.['judge-llm'] !== undefined).map((s) => s.id);
    expect(called.sort()).toEqual(['calibrate-judge', 'judge-drift']);
    const tokenMoney = (input * 2 + output * 8) / 1_000_000;
    const cpuMoney = ((first.run.usage?.spent.cpuMs ?? 0) / 3_600_000) * 0.05;
    expect(first.run.cost?.spent).toBeCloseTo(tokenMoney + cpuMoney, 9);

    // Again: the calibration is a hit and saves its tokens; the drift check asks the judge anew every week.
    const calibrated = step(first.run, 'calibrate-judge').spent?.tokens;
    const before = server.requests.length;
    const again = await project.run();
    expect(again.code, again.stderr).toBe(0);
    const asked = server.requests.slice(before);
    expect(step(again.run, 'calibrate-judge')).toMatchObject({ status: 'cached', saved: { tokens: calibrated } });
    expect(step(again.run, 'judge-drift').spent?.tokens?.['judge-llm']).toEqual({
      input: asked.reduce((sum, r) => sum + (r.usage?.prompt_tokens ?? 0), 0),
      output: asked.reduce((sum, r) => sum + (r.usage?.completion_tokens ?? 0), 0),
      calls: asked.length,
    });
  }, 120_000);
});
