import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, startUi } from '../support/browser.js';
import { FIXTURES, runCli, runJson, startCli, waitFor, type CliResult } from '../support/cli.js';
import { startMinio, type MinioServer } from '../support/minio.js';
import { startTemporalSuite, type TemporalSuite } from '../support/temporal.js';
import { tempDir } from '../support/temp-dir.js';

// A step running on a Temporal worker with an S3 store: its lines reach the run view and `flywheel logs
// --follow` while it runs, shipped by the worker in segments (engine/execute/live-log-shipper.ts).

const chatty = join(FIXTURES, 'chatty.ts');
let minio: MinioServer | undefined;
let suite: TemporalSuite | undefined;
let storeEnv: Record<string, string> = {};

beforeAll(async () => {
  minio = await startMinio();
  await minio.createBucket('live-logs');
  storeEnv = { ...minio.env, FLYWHEEL_STORE: 's3://live-logs/team', FLYWHEEL_LIVE_LOG_FLUSH_MS: '300' };
  suite = await startTemporalSuite('livelog-', ['cpu'], (folder) => ({ ...storeEnv, FLYWHEEL_S3_LOCAL: join(folder, 'worker-s3') }));
}, 180_000);

afterAll(async () => {
  await suite?.stop();
  await minio?.stop();
}, 60_000);

const ticks = (text: string): number[] => [...text.matchAll(/tick (\d+) of 30/g)].map((m) => Number(m[1]));

describe('live logs of a step on a Temporal worker with an S3 store', () => {
  it('show in the run view and `flywheel logs --follow` while the step runs; a cached step’s panel shows the log of the run that computed it', async () => {
    const cwd = await tempDir('live-logs');
    const env = { ...(suite?.env ?? {}), ...storeEnv, FLYWHEEL_S3_LOCAL: join(cwd, 's3-local') };
    const run = startCli(['run', chatty, '--engine', 'temporal', '--json'], { cwd, env });
    let finished: CliResult | undefined;
    void run.done.then((result) => (finished = result));
    let runId = '';
    await waitFor(async () => {
      const listed = JSON.parse((await runCli(['runs', '--json'], { cwd, env })).stdout || '[]') as Array<{ runId: string }>;
      runId = listed[0]?.runId ?? '';
      return runId !== '';
    }, 'the run to be recorded');
    const follow = startCli(['logs', runId, 'talk', '--follow'], { cwd, env });

    const { server, base } = await startUi(cwd, env);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await page.goto(`${base}/runs/${runId}/steps/talk`);
      const log = page.locator('.log-text');
      await log.getByText('tick 3 of 30').waitFor({ timeout: 30_000 });
      // Seen while the step runs: the run has not finished, and the step is still running in its record.
      expect(finished).toBeUndefined();
      const shown = JSON.parse((await runCli(['show', runId, '--json'], { cwd, env })).stdout) as { record: { steps: Array<{ id: string; status: string }> } };
      expect(shown.record.steps.find((s) => s.id === 'talk')?.status).toBe('running');
      expect(ticks((await log.textContent()) ?? '').at(-1)).toBeLessThan(30);
      const shots = await mkdtemp(join(tmpdir(), 'flywheel-live-logs-'));
      await page.screenshot({ path: join(shots, 'live-log.png'), fullPage: true });
      console.log(`screenshot: ${join(shots, 'live-log.png')}`);

      const done = await run.done;
      expect(done.code, done.stderr).toBe(0);
      // Following from the start to the end: every line once, in order.
      const followed = await follow.done;
      expect(followed.code, followed.stderr).toBe(0);
      expect(ticks(followed.stdout)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      // A map's element lines are in its log too, one element at a time on request.
      const element = await runCli(['logs', runId, 'echo', '--element', '2'], { cwd, env });
      expect(element.stdout).toMatch(/^\S+ INFO {2}element 2: echo tick 3\n\S+ INFO {2}element 2: step executed durationMs=\d+ attempts=1\n$/);

      // The same run again is all cached: its panel and `flywheel logs` show the log of the run that computed it.
      const again = await runJson(chatty, ['--engine', 'temporal'], { cwd, env });
      expect(again.code, again.stderr).toBe(0);
      const cached = await runCli(['logs', again.run.runId, 'talk'], { cwd, env });
      expect(cached.stderr).toContain(`talk was cached in run ${again.run.runId}: the log of run ${runId}, which computed it`);
      expect(ticks(cached.stdout)).toHaveLength(30);
      await page.goto(`${base}/runs/${again.run.runId}/steps/talk`);
      await page.getByText(`The log of run ${runId}, which computed this result.`).waitFor({ timeout: 15_000 });
      await log.getByText('tick 30 of 30').waitFor({ timeout: 15_000 });
    } finally {
      await browser.close();
      server.kill('SIGTERM');
      follow.child.kill('SIGTERM');
    }
  }, 180_000);
});
