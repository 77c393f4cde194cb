import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Locator } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium, startUi } from '../support/browser.js';
import { FIXTURES, REPO, runCli, runJson } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

// A Tangle (Kubeflow v1) pipeline file run by the real CLI, then looked at in the web run view over its
// store, in Debian's Chromium driven by playwright-core: the DAG names the Tangle tasks (ids with spaces),
// a step's panel shows the program's log, a CSV output as a table and Evaluate's JSON metrics as a tree.
// The run page with Evaluate open is written to docs/images/tangle-run.png for the docs: look at it when
// the run view changes.

const DATA_FLOW = join(FIXTURES, 'tangle', 'Intro-Data Flow.pipeline.component.yaml');
const TASKS = ['Generate Data', 'Split', 'Train', 'Predict', 'Evaluate'];
const HEADER = ['feature_1', 'feature_2', 'feature_3', 'feature_4', 'target'];
const SCREENSHOT = join(REPO, 'docs', 'images', 'tangle-run.png');

/** Whether `inner` lies wholly inside `outer`'s box, as drawn (both must be on the page). */
async function inside(inner: Locator, outer: Locator): Promise<boolean> {
  const [a, b] = await Promise.all([inner.boundingBox(), outer.boundingBox()]);
  if (a === null || b === null) return false;
  return a.y >= b.y && a.y + a.height <= b.y + b.height && a.x >= b.x && a.x + a.width <= b.x + b.width;
}

describe('flywheel ui on a Tangle pipeline run', () => {
  it('draws the five tasks, opens a step by its spaced name, and shows its log, CSV table and JSON metrics', async () => {
    expect(existsSync(join(REPO, 'dist', 'ui', 'index.html')), 'the web app is built (npm run build)').toBe(true);
    expect(existsSync(CHROMIUM), `a Chromium at ${CHROMIUM} (scripts/install-chromium.sh, or set FLYWHEEL_CHROMIUM)`).toBe(true);
    const cwd = await tempDir('flywheel-ui-tangle');
    const { code, run, stderr } = await runJson(DATA_FLOW, [], { cwd });
    expect(code, stderr).toBe(0);
    expect(run.steps.map((s) => [s.id, s.status])).toEqual(TASKS.map((id) => [id, 'executed']));
    const runId = run.runId;
    // The CSV as the CLI reads it back (Python's csv module ends its lines with \r\n): the page's table should match.
    const csv = await runCli(['output', 'Generate Data.output_data'], { cwd });
    expect(csv.code, csv.stderr).toBe(0);
    const lines = csv.stdout.split(/\r?\n/);
    expect(lines[0]).toBe(HEADER.join(','));

    let server: ChildProcess | undefined;
    let browser: Browser | undefined;
    try {
      let base: string;
      ({ server, base } = await startUi(cwd));
      browser = await launchChromium();
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      const runPage = `${base}/runs/${encodeURIComponent(runId)}`;
      const panel = page.locator('aside.panel');
      const log = panel.locator('.log-text');
      /** Waits for `stepId`'s panel with its whole log loaded. */
      const panelOf = async (stepId: string): Promise<void> => {
        await expect.poll(() => panel.getAttribute('aria-label')).toBe(`step ${stepId}`);
        await expect.poll(() => log.getAttribute('data-state')).toBe('done');
      };

      // The DAG: one node per Tangle task, named as in the file.
      await page.goto(runPage);
      await page.locator('g.node[data-step="Evaluate"]').waitFor();
      const nodes = await page.locator('g.node').evaluateAll((gs) => gs.map((g) => [g.getAttribute('data-step'), g.getAttribute('data-status')]));
      expect(Object.fromEntries(nodes)).toEqual(Object.fromEntries(TASKS.map((id) => [id, 'executed'])));
      expect(await page.locator('g.node .node-id').allTextContents()).toEqual(expect.arrayContaining(TASKS));
      expect(await page.locator('.run-head').textContent()).toContain('Intro: Data Flow');

      // A click on "Generate Data" opens its panel at an address with the space encoded.
      await page.locator('g.node[data-step="Generate Data"]').click();
      await expect.poll(() => page.url()).toBe(`${runPage}/steps/Generate%20Data`);
      await panelOf('Generate Data');
      expect(await page.locator('g.node[data-step="Generate Data"]').getAttribute('class')).toContain('selected');
      expect(await log.textContent()).toContain('running Generate dataset on this host in place of the image python:3.12');
      const data = panel.locator('[data-output="output_data"]');
      expect(await data.getAttribute('data-preview')).toBe('csv');
      expect(await data.locator('.output-head').textContent()).toContain('data.csv');
      await expect.poll(() => data.locator('.preview-table thead th').allInnerTexts()).toEqual(HEADER);
      // The table's first row is the CSV's first data row; 50 rows to a page.
      expect(await data.locator('.preview-table tbody tr').first().locator('td').allInnerTexts()).toEqual(lines[1]!.split(','));
      expect(await data.locator('.preview-table tbody tr').count()).toBe(50);

      // Split: its printed line, and both CSV outputs as tables.
      await page.goto(`${runPage}/steps/Split`);
      await panelOf('Split');
      expect(await log.textContent()).toContain('running Split csv on this host in place of the image python:3.12');
      expect(await log.textContent()).toContain('Split 500 rows -> 400 train, 100 test');
      for (const name of ['train_data', 'test_data']) {
        await expect.poll(() => panel.locator(`[data-output="${name}"] .preview-table thead th`).allInnerTexts()).toEqual(HEADER);
      }

      // Evaluate, by its pasted address: the metrics the program printed, and its JSON output as a tree.
      await page.goto(`${runPage}/steps/Evaluate`);
      await panelOf('Evaluate');
      const text = await log.textContent();
      expect(text).toContain('running Evaluate on this host in place of the image python:3.12');
      expect(text).toContain('Evaluated 100 predictions:');
      expect(text).toMatch(/r_squared: 0\.9\d+/);
      const metrics = panel.locator('[data-output="metrics"]');
      expect(await metrics.getAttribute('data-preview')).toBe('json');
      expect(await metrics.locator('.output-head').textContent()).toContain('data.json');
      const tree = metrics.locator('.json-tree');
      await expect.poll(() => tree.textContent()).toMatch(/r_squared: 0\.9\d+/);
      expect(await tree.textContent()).toContain('num_samples: 100');
      expect(await panel.locator('table.components').textContent()).toContain('Predict.predictions');

      // The picture for the docs: the DAG beside Evaluate's whole panel (1080px tall: its header, the end of its
      // log with the printed metrics, below the launch line that holds the whole program, and the metrics tree).
      await page.setViewportSize({ width: 1400, height: 1080 });
      await log.evaluate((el) => (el.scrollTop = el.scrollHeight));
      expect(await inside(panel.locator('.panel-head'), panel), 'the panel head in view').toBe(true);
      for (const task of TASKS) expect(await inside(page.locator(`g.node[data-step="${task}"]`), page.locator('.dag')), task).toBe(true);
      expect(await inside(tree, panel), 'the metrics tree in view').toBe(true);
      expect(await inside(log, panel), 'the log in view').toBe(true);
      expect(errors).toEqual([]);
      await mkdir(join(REPO, 'docs', 'images'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT });
      console.log(`screenshot: ${SCREENSHOT}`);
    } finally {
      await browser?.close();
      server?.kill('SIGTERM');
    }
  });
});
