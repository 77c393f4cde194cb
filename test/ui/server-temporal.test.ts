import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../cache/open-store.js';
import type { RunRecord } from '../../cache/records.js';
import { startUiServer, type UiServer } from '../../ui/server/index.js';
import { FIXTURES, runCli, waitFor } from '../support/cli.js';
import { startTemporalSuite, type TemporalSuite } from '../support/temporal.js';
import { tempDir } from '../support/temp-dir.js';

// The run view of a run on Temporal: the store's record says little while a step runs (Temporal saves
// records as steps settle), so the server overlays the workflow's own progress when TEMPORAL_ADDRESS is set.

let suite: TemporalSuite | undefined;
let server: UiServer | undefined;
const savedAddress = process.env.TEMPORAL_ADDRESS;

beforeAll(async () => {
  suite = await startTemporalSuite('ui-', ['cpu', 'gpu-h200'], (folder) => ({ FLYWHEEL_TEST_PID_FILE: join(folder, 'sleeper.pid') }));
}, 120_000);

afterAll(async () => {
  await server?.close();
  await suite?.stop();
  if (savedAddress === undefined) delete process.env.TEMPORAL_ADDRESS;
  else process.env.TEMPORAL_ADDRESS = savedAddress;
}, 60_000);

describe('flywheel ui over a Temporal run', () => {
  it('shows a step running on a Temporal worker while it runs, then the run as it ended', async () => {
    const { env } = suite as TemporalSuite;
    const cwd = await tempDir('flywheel-ui-temporal');
    const started = await runCli(['run', join(FIXTURES, 'sleeper.ts'), '--engine', 'temporal', '--detach', '--json'], { cwd, env });
    expect(started.code, started.stderr).toBe(0);
    const { runId } = JSON.parse(started.stdout) as { runId: string };
    const pidFile = env.FLYWHEEL_TEST_PID_FILE as string;
    await waitFor(async () => existsSync(pidFile) && (await readFile(pidFile, 'utf8')).trim() !== '', 'the step to start its process');

    process.env.TEMPORAL_ADDRESS = env.TEMPORAL_ADDRESS;
    server = await startUiServer({ store: openStore(join(cwd, '.flywheel')), assetsDir: join(cwd, 'no-assets'), pollMs: 100 });
    const read = async (): Promise<RunRecord> => ((await (await fetch(`${server?.url}api/runs/${runId}`)).json()) as { run: RunRecord }).run;
    await waitFor(async () => (await read()).steps[0]?.status === 'running', 'the view to show the step running on its worker');
    expect((await read()).status).toBe('running');

    // The event stream follows the run to its end, without a reload.
    const events = await fetch(`${server.url}api/runs/${runId}/events`);
    expect(events.headers.get('content-type')).toContain('text/event-stream');
    expect((await runCli(['cancel', runId], { cwd, env })).code).toBe(0);
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of events.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes('event: end')) break;
    }
    expect(text).toContain('"status":"cancelled"');
  }, 120_000);
});
