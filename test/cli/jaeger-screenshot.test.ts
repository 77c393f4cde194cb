import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../support/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, REPO, runJson } from '../support/cli.js';
import { startJaeger, type JaegerServer } from '../support/jaeger.js';
import { tempDir } from '../support/temp-dir.js';

// A traced run as Jaeger's own UI draws it: the README's picture of a Flywheel trace. The real Jaeger of
// test/cli/tracing.test.ts serves a jaeger-ui built from source (docs/jaeger-ui.md), and Debian's Chromium,
// driven by playwright-core, opens the run's trace. The screenshot goes to a temporary folder (its path is
// printed); with FLYWHEEL_UPDATE_SCREENSHOTS=1 also to docs/images/jaeger-trace.png.

const UI_ASSETS = process.env.FLYWHEEL_JAEGER_UI;
const SERVICE = 'flywheel';

describe.skipIf(UI_ASSETS === undefined)(
  "a traced run in Jaeger's UI (skipped unless FLYWHEEL_JAEGER_UI names a built jaeger-ui: its assets are on no package registry; see docs/jaeger-ui.md)",
  () => {
    let jaeger: JaegerServer;
    let browser: Browser;
    beforeAll(async () => {
      expect(existsSync(CHROMIUM), `a Chromium at ${CHROMIUM} (scripts/install-chromium.sh, or set FLYWHEEL_CHROMIUM)`).toBe(true);
      jaeger = await startJaeger({ uiAssets: UI_ASSETS as string });
      browser = await launchChromium();
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
      await jaeger?.stop();
    });

    it('shows the run as a waterfall: the root span, a span per step, one step’s execution and its cache attributes', async () => {
      const cwd = await tempDir('traced-ui');
      const env = { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint, OTEL_SERVICE_NAME: SERVICE };
      const { code, run, stderr } = await runJson(join(FIXTURES, 'traced.ts'), [], { cwd, env });
      expect(code, stderr).toBe(0);
      const [trace] = await jaeger.traces(SERVICE, 1);
      const traceId = trace?.find((s) => s.parent === undefined)?.traceID;
      expect(traceId, `the root span of run ${run.runId}`).toBeDefined();

      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      page.on('pageerror', (error) => console.log(`page error: ${error.message}`));
      await page.goto(`${jaeger.uiUrl}/trace/${traceId}`);
      const row = (name: string) => page.locator('.span-row', { has: page.locator('.endpoint-name', { hasText: new RegExp(`^${name}$`) }) });
      await row('run traced').waitFor();
      expect(await page.locator('.TracePageHeader').innerText()).toContain(`${SERVICE}: run traced`);

      // The map's 30 elements fill the screen as 20 chunk spans: fold them (and the first step's execution) away,
      // open the last step's tags (the cache's among them), and keep its execution whole below them.
      for (const step of ['step square', 'step numbers']) await row(step).locator('.SpanTreeOffset.is-parent').click();
      await expect.poll(() => page.locator('.endpoint-name', { hasText: /^elements / }).count()).toBe(0);
      await row('step total').locator('.span-name').click();
      const detail = page.locator('.detail-row');
      await detail.locator('.AccordianKeyValues--header', { hasText: 'Tags' }).click();
      await expect.poll(() => detail.locator('table').innerText()).toContain('flywheel.cache.hit');

      const names = await page.locator('.span-row .endpoint-name').allInnerTexts();
      expect(names).toEqual(expect.arrayContaining(['run traced', 'step numbers', 'step square', 'step total', 'execute total', 'step work', 'add up']));
      const tags = await detail.innerText();
      expect(tags).toMatch(/flywheel\.cache\.hit\s+false/);
      expect(tags).toMatch(/flywheel\.status\s+executed/);

      const path = join(await mkdtemp(join(tmpdir(), 'flywheel-jaeger-shots-')), 'jaeger-trace.png');
      await page.screenshot({ path, fullPage: true });
      console.log(`screenshot: ${path}`);
      // README's screenshot is refreshed on request only: a test run leaves the checkout as it was.
      if (process.env.FLYWHEEL_UPDATE_SCREENSHOTS === '1') {
        await mkdir(join(REPO, 'docs', 'images'), { recursive: true });
        await copyFile(path, join(REPO, 'docs', 'images', 'jaeger-trace.png'));
      }
    }, 120_000);
  },
);
