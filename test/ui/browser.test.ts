import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium, startUi } from '../support/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, REPO, runJson, startCli, waitFor } from '../support/cli.js';

// The web run view end to end: real runs through the CLI, the real `flywheel ui` server over their
// store, and Debian's Chromium driven by playwright-core. Screenshots go to a temporary folder (their
// paths are printed); with FLYWHEEL_UPDATE_SCREENSHOTS=1 the step panel's also to docs/ui-run.png for the README.

const chain = join(FIXTURES, 'chain.ts');

/** `flywheel ui` over the store in `cwd` and a Chromium to look at it; `close` stops both and removes `cwd`. */
async function openUi(cwd: string): Promise<{ base: string; browser: Browser; close: () => Promise<void> }> {
  const { server, base } = await startUi(cwd);
  const browser = await launchChromium().catch((error: unknown) => {
    server.kill('SIGTERM');
    throw error;
  });
  const close = async (): Promise<void> => {
    await browser.close();
    server.kill('SIGTERM');
    await rm(cwd, { recursive: true, force: true });
  };
  return { base, browser, close };
}

/** A full-page screenshot of `page` as `<dir>/<name>.png`; its path is printed, to look at. */
async function screenshot(page: Page, dir: string, name: string): Promise<string> {
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
  return path;
}

describe('flywheel ui in a real browser', () => {
  let cwd: string;
  let shots: string;
  let env: Record<string, string>;
  let server: ChildProcess;
  let base: string;
  let browser: Browser;
  let page: Page;
  const runs: string[] = [];

  const shoot = (name: string): Promise<string> => screenshot(page, shots, name);

  beforeAll(async () => {
    expect(existsSync(join(REPO, 'dist', 'ui', 'index.html')), 'the web app is built (npm run build)').toBe(true);
    expect(existsSync(CHROMIUM), `a Chromium at ${CHROMIUM} (scripts/install-chromium.sh, or set FLYWHEEL_CHROMIUM)`).toBe(true);
    cwd = await mkdtemp(join(tmpdir(), 'flywheel-ui-'));
    shots = await mkdtemp(join(tmpdir(), 'flywheel-ui-shots-'));
    env = { FLYWHEEL_TEST_EXEC_LOG: join(cwd, 'executions.log') };
    // Twice the same (the second is all cached), then with one config value changed.
    for (const extra of [[], [], ['--set', 'suffix.suffix=?']]) {
      const { code, run, stderr } = await runJson(chain, extra, { cwd, env });
      expect(code, stderr).toBe(0);
      runs.push(run.runId);
    }

    ({ server, base } = await startUi(cwd));
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (error) => console.log(`page error: ${error.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
    await rm(cwd, { recursive: true, force: true });
  });

  it('lists the runs newest first with their counts, and filters them on the server', async () => {
    await page.goto(`${base}/`);
    const rows = page.locator('.runs-table tbody tr');
    await expect.poll(() => rows.count()).toBe(3);
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-run')))).toEqual([...runs].reverse());
    // Newest: 2 executed, 2 cached; the middle run: all 4 cached.
    const cells = async (runId: string) => page.locator(`tr[data-run="${runId}"] td`).allInnerTexts();
    expect((await cells(runs[2]!)).slice(6, 8)).toEqual(['2', '2']);
    expect((await cells(runs[1]!)).slice(6, 8)).toEqual(['0', '4']);
    await shoot('runs-list');

    await page.getByLabel('status').selectOption('failed');
    await expect.poll(() => page.url()).toContain('status=failed');
    await expect.poll(() => page.locator('.runs-table tbody tr').count()).toBe(0);
    await page.getByLabel('status').selectOption('');
    await expect.poll(() => rows.count()).toBe(3);
  });

  it("draws the last run's DAG: cached nodes link to the run that computed them, the changed node says why", async () => {
    const [first, , last] = runs as [string, string, string];
    await page.goto(`${base}/runs/${last}`);
    const node = (id: string) => page.locator(`g.node[data-step="${id}"]`);
    await node('measure').waitFor();
    const statuses = await page.locator('g.node').evaluateAll((gs) => gs.map((g) => [g.getAttribute('data-step'), g.getAttribute('data-status')]));
    expect(Object.fromEntries(statuses)).toEqual({ emit: 'cached', upper: 'cached', suffix: 'executed', measure: 'executed' });
    for (const cached of ['emit', 'upper']) {
      expect(await node(cached).textContent()).toContain(`reused from run${first}`);
      expect(await node(cached).locator('a').getAttribute('href')).toBe(`/runs/${first}`);
    }
    expect(await node('suffix').textContent()).toContain('config suffix: "!" → "?"');
    expect(await node('suffix').textContent()).toContain('config-changed');
    expect(await node('measure').textContent()).toContain('upstream-changed');
    await shoot('run-dag');

    // The "reused from run" link leads to the first run.
    await node('emit').locator('a').click();
    await expect.poll(() => page.url()).toBe(`${base}/runs/${first}`);
    await expect.poll(() => page.locator('g.node[data-status="executed"]').count()).toBe(4);
  });

  it("opens a step's panel at a stable address: reason, config, logs and output previews", async () => {
    const last = runs[2]!;
    await page.goto(`${base}/runs/${last}`);
    await page.locator('g.node[data-step="suffix"]').click();
    await expect.poll(() => page.url()).toBe(`${base}/runs/${last}/steps/suffix`);
    const panel = page.locator('aside.panel');
    await expect.poll(() => panel.locator('.reason').textContent()).toContain('config suffix: "!" → "?"');
    expect(await panel.locator('.json-tree').first().textContent()).toContain('suffix: "?"');
    // The step's text output, read through the paged lines view: emit 'abc' → upper → suffix '?'.
    await expect.poll(() => panel.locator('[data-output="out"] .text-preview').textContent()).toBe('ABC?');
    const download = await panel.locator('[data-output="out"] a.download').getAttribute('href');
    expect(download).toMatch(/^\/api\/blobs\/[0-9a-f]{64}\?view=raw&name=text\.txt&download=1$/);
    await expect.poll(() => panel.locator('.log-text').getAttribute('data-state')).toMatch(/^(done|none)$/);
    const panelShot = await shoot('step-panel-suffix');
    // README's screenshot is refreshed on request only: a test run leaves the checkout as it was.
    if (process.env.FLYWHEEL_UPDATE_SCREENSHOTS === '1') await copyFile(panelShot, join(REPO, 'docs', 'ui-run.png'));

    // A pasted address opens the same view; a JSON output shows as a tree.
    await page.goto(`${base}/runs/${last}/steps/measure`);
    await expect.poll(() => page.locator('[data-output="stats"] .json-tree').textContent()).toContain('length: 5');
    await shoot('step-panel-measure');
  });

  it('compares two runs: config diff, the steps that re-ran and why, the outputs that changed', async () => {
    const [first, , last] = runs as [string, string, string];
    await page.goto(`${base}/compare/${first}/${last}`);
    const diff = page.locator('.config-diff tbody tr');
    await expect.poll(() => diff.allInnerTexts()).toEqual([expect.stringMatching(/suffix\s+suffix\s+"!"\s+"\?"/)]);
    expect(await page.locator('.steps-diff tr[data-step="suffix"]').textContent()).toContain('config-changed');
    expect(await page.locator('.steps-diff tr[data-step="measure"]').textContent()).toContain('early cutoff');
    expect(await page.locator('.steps-diff tbody tr').count()).toBe(2);
    await shoot('compare');
  });

  it('follows a running run live, without a reload', async () => {
    const live = startCli(['run', chain, '--set', 'suffix.suffix=#', '--set', 'suffix.sleepMs=4000'], { cwd, env: { ...env, FLYWHEEL_LOG_LEVEL: 'warn' } });
    let runId: string | undefined;
    await waitFor(async () => {
      const page1 = (await (await fetch(`${base}/api/runs?status=running`)).json()) as { runs: Array<{ runId: string }> };
      runId = page1.runs[0]?.runId;
      return runId !== undefined;
    }, 'the run to show as running');
    await page.goto(`${base}/runs/${runId}`);
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 1));
    const suffix = page.locator('g.node[data-step="suffix"]');
    // The local executor records a step once it finishes: until then it is pending (a Temporal run's may say running).
    expect(['pending', 'running']).toContain(await suffix.getAttribute('data-status'));
    expect(await page.locator('g.node[data-step="emit"]').getAttribute('data-status')).toBe('cached');
    expect(await page.locator('.run-head .live').count()).toBe(1);
    await shoot('live-running');
    await expect.poll(() => suffix.getAttribute('data-status'), { timeout: 20_000 }).toBe('executed');
    await expect.poll(() => page.locator('g.node[data-step="measure"]').getAttribute('data-status'), { timeout: 10_000 }).toBe('executed');
    await expect.poll(() => page.locator('.run-head .badge').first().textContent(), { timeout: 10_000 }).toBe('succeeded');
    // The same document all along: updated by the event stream, not reloaded.
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(1);
    expect(await page.locator('.run-head .live').count()).toBe(0);
    await shoot('live-finished');
    expect((await live.done).code).toBe(0);
  });
});

/** A map whose step's code changes between two runs; its element 3 fails its first attempt in the second. */
const MAPPED = (tag: string) => `import { z } from 'zod';
import { definePipeline, defineStep, json } from 'flywheel';
const Item = z.object({ n: z.number() });
const items = defineStep({ id: 'ui-items', version: 1, outputs: { list: json(z.array(Item)) }, run: () => ({ list: [0, 1, 2, 3, 4, 5].map((n) => ({ n })) }) });
const label = defineStep({
  id: 'ui-label',
  version: 1,
  resources: { retries: 1, retryDelay: 'PT0.1S' },
  inputs: { item: json(Item) },
  outputs: { out: json(z.object({ n: z.number(), tag: z.string() })) },
  run({ inputs, attempt }) {
    if (process.env.UI_FLAKY === '1' && inputs.item.n === 3 && attempt === 1) throw new Error('element 3 flaky');
    return { out: { n: inputs.item.n, tag: '${tag}' } };
  },
});
export default definePipeline({ name: 'ui-mapped', build(p) { p.map(label, { id: 'label', over: { item: p.add(items, { id: 'items' }).out.list } }); } });
`;

describe('flywheel ui on a map whose code changed', () => {
  let cwd: string;
  let ui: Awaited<ReturnType<typeof openUi>> | undefined;

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'flywheel-ui-map-'));
    await symlink(join(REPO, 'node_modules'), join(cwd, 'node_modules'), 'dir');
    const env = { FLYWHEEL_COMPILE_CACHE: join(cwd, '.compile-cache') };
    await writeFile(join(cwd, 'pipeline.ts'), MAPPED('x'));
    expect((await runJson('pipeline.ts', [], { cwd, env })).code).toBe(0);
    await writeFile(join(cwd, 'pipeline.ts'), MAPPED('y'));
    expect((await runJson('pipeline.ts', [], { cwd, env: { ...env, UI_FLAKY: '1' } })).code).toBe(0);
    ui = await openUi(cwd);
  });

  afterAll(async () => {
    await ui?.close();
    await rm(cwd, { recursive: true, force: true });
  });

  it("says in the step's panel why each element ran (code changed) and which took more than one attempt", async () => {
    const { browser, base } = ui!;
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const runs = (await (await fetch(`${base}/api/runs`)).json()) as { runs: Array<{ runId: string }> };
    const latest = runs.runs[0]?.runId;
    await page.goto(`${base}/runs/${latest}/steps/label`);
    const reasons = page.locator('aside.panel ul.element-reasons li');
    await expect
      .poll(() => reasons.allInnerTexts())
      .toEqual([
        expect.stringMatching(/^6 of 6 elements: code changed since this result \(version 1 unchanged\): pipeline\.ts \(0-5\)\s*code-changed$/),
        '2 attempts: element 3',
      ]);
    expect(await page.locator('aside.panel .reason').textContent()).toContain('code changed since this result');
    await screenshot(page, await mkdtemp(join(tmpdir(), 'flywheel-ui-shots-')), 'step-panel-map-code-changed');
  });
});

describe('flywheel ui on a step that declined to act', () => {
  const declining = join(FIXTURES, 'declining.ts');
  const reason = 'slice x regresses: 0.61 < 0.7';
  let cwd: string;
  let ui: Awaited<ReturnType<typeof openUi>> | undefined;
  const runs: string[] = [];

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'flywheel-ui-declined-'));
    // The gate executes and declines, then comes from the cache still declined, then acts.
    for (const extra of [[], [], ['--set', 'candidate.score=0.8']]) {
      const { code, run, stderr } = await runJson(declining, extra, { cwd });
      expect(code, stderr).toBe(0);
      runs.push(run.runId);
    }
    ui = await openUi(cwd);
  });

  afterAll(async () => {
    await ui?.close();
    await rm(cwd, { recursive: true, force: true });
  });

  it('draws the declined node in amber with its own pill, gives the reason in its panel, and counts it in the list and the comparison', async () => {
    const { browser, base } = ui!;
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const shots = await mkdtemp(join(tmpdir(), 'flywheel-ui-shots-'));
    const shoot = (name: string) => screenshot(page, shots, name);
    const [first, cached, promoted] = runs as [string, string, string];

    await page.goto(`${base}/runs/${first}/steps/gate`);
    const gate = page.locator('g.node[data-step="gate"]');
    await gate.waitFor();
    expect(await gate.getAttribute('data-status')).toBe('executed');
    expect(await gate.getAttribute('data-declined')).toBe(reason);
    expect(await gate.getAttribute('class')).toContain('declined');
    expect(await gate.locator('.node-declined').textContent()).toBe('declined');
    expect(await gate.textContent()).toContain(`declined: ${reason}`);
    // Stroked in amber, not in its status's green.
    expect(
      await gate
        .locator('.node-box')
        .evaluate((el) => (globalThis as unknown as { getComputedStyle: (e: unknown) => { stroke: string } }).getComputedStyle(el).stroke),
    ).toBe('rgb(180, 83, 9)');
    expect(await page.locator('g.node.declined').count()).toBe(1);
    const panel = page.locator('aside.panel');
    await expect.poll(() => panel.locator('.panel-head .badge.declined').textContent()).toBe('declined');
    expect(await panel.locator('.declined-reason').textContent()).toBe(`declined: ${reason}`);
    expect(await page.locator('.run-head .declined-count').textContent()).toContain('1 declined (gate)');
    await shoot('declined-executed');

    // The run that reused the result: cached, still declined.
    await page.goto(`${base}/runs/${cached}/steps/gate`);
    await page.locator('g.node[data-step="gate"]').waitFor();
    expect(await page.locator('g.node[data-step="gate"]').getAttribute('data-status')).toBe('cached');
    expect(await page.locator('g.node[data-step="gate"]').getAttribute('data-declined')).toBe(reason);
    await expect.poll(() => page.locator('aside.panel .declined-reason').textContent()).toContain(reason);
    await shoot('declined-cached');

    // The runs list names how many steps each run declined.
    await page.goto(`${base}/`);
    await expect.poll(() => page.locator('.runs-table tbody tr').count()).toBe(3);
    const chip = (runId: string) => page.locator(`tr[data-run="${runId}"] .chip.declined`);
    expect(await chip(first).textContent()).toBe('1 declined');
    expect(await chip(first).getAttribute('title')).toBe('declined to act: gate');
    expect(await chip(promoted).count()).toBe(0);
    await shoot('declined-runs-list');

    // The comparison says which run declined it, and counts as each run does.
    await page.goto(`${base}/compare/${first}/${promoted}`);
    const row = page.locator('.steps-diff tr[data-step="gate"]');
    await expect.poll(() => row.locator('.declined-reason').textContent()).toBe(`declined in A: ${reason}`);
    expect(await page.locator('.compare .facts').textContent()).toContain('1 declined in A (gate)');
    await shoot('declined-compare');
  });
});

describe("flywheel ui on a run's cost", () => {
  const costed = join(FIXTURES, 'costed.ts');
  let cwd: string;
  let ui: Awaited<ReturnType<typeof openUi>> | undefined;
  const runs: string[] = [];

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'flywheel-ui-cost-'));
    const prices = join(cwd, 'prices.json');
    await writeFile(prices, JSON.stringify({ currency: 'USD', gpuHour: { H200: 3.5 }, counts: { pages: 0.01 } }));
    // Priced: every step executes, then all of it comes from the cache; then, without a price table, a 6-hour fine-tune.
    for (const [extra, env] of [
      [[], { FLYWHEEL_PRICES: prices }],
      [[], { FLYWHEEL_PRICES: prices }],
      [['--set', 'fine-tune.hours=6'], { FLYWHEEL_PRICES: '' }],
    ] as const) {
      const { code, run, stderr } = await runJson(costed, [...extra], { cwd, env });
      expect(code, stderr).toBe(0);
      runs.push(run.runId);
    }
    ui = await openUi(cwd);
  });

  afterAll(async () => {
    await ui?.close();
    await rm(cwd, { recursive: true, force: true });
  });

  it('shows what a run spent and what the cache saved it, in money by its price table, on the run page, the step panel, the list and a comparison', async () => {
    const { browser, base } = ui!;
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (error) => console.log(`page error: ${error.message}`));
    const shots = await mkdtemp(join(tmpdir(), 'flywheel-ui-shots-'));
    const shoot = (name: string) => screenshot(page, shots, name);
    const [first, cached, unpriced] = runs as [string, string, string];

    // The all-cached run: it spent nothing; the cache saved it 96 GPU-hours of H200 ($336) and 120 pages ($1.20).
    await page.goto(`${base}/runs/${cached}/steps/fine-tune`);
    const head = page.locator('.run-head .cost-line');
    await head.waitFor();
    expect(await head.locator('[data-cost="spent"] .money').textContent()).toBe('$0.00');
    expect(await head.locator('[data-cost="saved"] .money').textContent()).toBe('$337.20');
    expect(await head.locator('[data-cost="saved"]').textContent()).toMatch(
      /^saved by the cache \$337\.20 \(96\.0 GPU-h H200, CPU \S+, pages 120, scored 5\) \+ unpriced: count scored$/,
    );
    expect(await head.locator('.cost-hint').textContent()).toBe('prices in USD from prices.json');
    // The node says what its reused result had cost.
    expect(await page.locator('g.node[data-step="fine-tune"] .node-cost').textContent()).toBe('$336.00');
    expect(await page.locator('g.node[data-step="score"] .node-cost').count()).toBe(0);
    // The step's panel: its time and what it saved.
    const saved = page.locator('aside.panel [data-cost="saved"]');
    await expect.poll(() => saved.textContent()).toMatch(/^\$336\.00 \(96\.0 GPU-h H200, CPU \S+\)$/);
    expect(await page.locator('aside.panel [data-cost="spent"]').count()).toBe(0);
    const runShot = await shoot('cost-run-cached');
    if (process.env.FLYWHEEL_UPDATE_SCREENSHOTS === '1') await copyFile(runShot, join(REPO, 'docs', 'ui-cost.png'));

    // The first run: what each step spent.
    await page.goto(`${base}/runs/${first}/steps/crawl`);
    await expect.poll(() => page.locator('aside.panel [data-cost="spent"]').textContent()).toMatch(/^\$1\.20 \(CPU \S+, pages 120\)$/);
    expect(await page.locator('.run-head [data-cost="spent"] .money').textContent()).toBe('$337.20');
    expect(await page.locator('.run-head [data-cost="saved"]').textContent()).toBe('saved by the cache $0.00');
    await shoot('cost-run-first');

    // Without a price table: resources, and where money would come from.
    await page.goto(`${base}/runs/${unpriced}/steps/fine-tune`);
    await page.locator('.run-head .cost-line').waitFor();
    expect(await page.locator('.run-head [data-cost="spent"] .cost-resources').textContent()).toMatch(/^48\.0 GPU-h H200, CPU \S+$/);
    expect(await page.locator('.run-head .cost-line .money').count()).toBe(0);
    expect(await page.locator('.run-head .cost-hint').textContent()).toContain('a price table (FLYWHEEL_PRICES or flywheel.prices.json)');
    // Without its GPU type: the node has no room for it.
    expect(await page.locator('g.node[data-step="fine-tune"] .node-cost').textContent()).toBe('48.0 GPU-h');
    await expect.poll(() => page.locator('aside.panel [data-cost="spent"]').textContent()).toMatch(/^48\.0 GPU-h H200, CPU \S+$/);
    await shoot('cost-run-unpriced');

    // The runs list: money where the run was priced, else GPU-hours.
    await page.goto(`${base}/`);
    await expect.poll(() => page.locator('.runs-table tbody tr').count()).toBe(3);
    const cost = (runId: string) => page.locator(`tr[data-run="${runId}"] td.run-cost`).textContent();
    expect(await cost(first)).toBe('$337.20');
    expect(await cost(cached)).toBe('$0.00 · saved $337.20');
    // (It reused the crawl and the scores: their CPU time is what it saved.)
    expect(await cost(unpriced)).toMatch(/^48\.0 GPU-h H200 · saved CPU \S+$/);
    await shoot('cost-runs-list');

    // A comparison: A's and B's, and what B spent less (and saved more) than A.
    await page.goto(`${base}/compare/${first}/${cached}`);
    const row = (key: string) => page.locator(`.cost-compare tr[data-cost="${key}"]`);
    await expect.poll(() => row('spent').locator('td.change').textContent()).toBe('-$337.20');
    expect(await row('spent').locator('td').first().textContent()).toContain('$337.20');
    expect(await row('saved').locator('td.change').textContent()).toBe('+$337.20');
    expect(await row('saved').locator('td.change').getAttribute('class')).toContain('up');
    await shoot('cost-compare');
  });
});
