import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, FIXTURES, executions, runCli, waitFor } from '../support/cli.js';
import { buildPrevious, type PreviousBuild } from '../support/previous-build.js';
import { replayHistories, startTemporal, startWorker, stopSuite, type TemporalServer, type WorkerProcess } from '../support/temporal.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * The release before the workflow code last changed: its cpu steps did not look up the steps below them
 * (guarded by a patch a run it began must not take up midway), and a running map's record was saved by the
 * workflow clock, which a run it began gives up at its first save decision on this release's workers (the
 * clock there is not the one a replay sees; this test's history failed to replay about one run in ten on
 * a loaded machine until then). Kept at f7e6890 past 8819ab4's workflow change: the releases between differ
 * from this one only in not asking the save rule again, which a run they began answers from the marker it
 * recorded at its start. When the workflow code changes again, move this to the last commit before that change.
 */
const PREVIOUS = 'f7e6890';

const upgrade = join(FIXTURES, 'upgrade.ts');
let previous: PreviousBuild | undefined;
let server: TemporalServer;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  // One after the other: a build that fails leaves no server, a server that fails leaves the build to remove.
  previous = await buildPrevious(PREVIOUS);
  server = await startTemporal();
}, 180_000);

afterAll(async () => {
  await stopSuite(workers, server, undefined);
  await previous?.remove();
}, 60_000);

const chunksDone = (worker: WorkerProcess | undefined, runId: string): number =>
  (worker?.output() ?? '').split('\n').filter((line) => line.includes(runId) && line.includes('map chunk done')).length;

/**
 * Starts the upgrade fixture with the CLI and workers of `from`, kills those workers once two map chunks
 * are done and the GPU step is under way, starts this version's workers, and waits for the run to end.
 */
async function takeOver(from: string, label: string): Promise<{ runId: string; cwd: string; env: Record<string, string>; before: number; execLog: string }> {
  const cwd = await tempDir(`flywheel-${label}`);
  const execLog = join(cwd, 'executions.log');
  const env = {
    TEMPORAL_ADDRESS: server.address,
    FLYWHEEL_TASK_QUEUE_PREFIX: `${label}-`,
    FLYWHEEL_STORE: join(cwd, 'store'),
    FLYWHEEL_TEST_EXEC_LOG: execLog,
    FLYWHEEL_HEARTBEAT_TIMEOUT: 'PT2S',
  };
  // Each version compiles the pipeline against its own engine, in a cache of its own.
  const fromEnv = { ...env, FLYWHEEL_COMPILE_CACHE: join(cwd, 'compile-from') };
  const currentEnv = { ...env, FLYWHEEL_COMPILE_CACHE: join(cwd, 'compile-current') };
  // The previous test's workers go first: afterAll stops only the last ones (they outlived the suite before).
  await Promise.all(workers.map((worker) => worker.stop()));
  workers = [await startWorker('cpu', fromEnv, [], from), await startWorker('gpu-h200', fromEnv, [], from)];
  const sets = ['--set', 'train.ticks=40', '--set', 'train.tickMs=250', '--set', 'square.sleepMs=60'];
  const started = await runCli(['run', upgrade, '--engine', 'temporal', '--detach', '--json', ...sets], { cwd, env: fromEnv, bin: from });
  expect(started.code, started.stderr).toBe(0);
  const { runId } = JSON.parse(started.stdout) as { runId: string };
  await waitFor(
    async () => chunksDone(workers[0], runId) >= 2 && (await executions(execLog)).some((l) => l.startsWith('resumable-train@')),
    'two map chunks and the GPU step',
    60_000,
  );
  const before = chunksDone(workers[0], runId);
  await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
  workers = [await startWorker('cpu', currentEnv), await startWorker('gpu-h200', currentEnv)];
  const status = async (): Promise<string> => {
    const shown = await runCli(['show', runId, '--json'], { cwd, env: currentEnv });
    return shown.code === 0 ? (JSON.parse(shown.stdout) as { status: string }).status : 'unknown';
  };
  await waitFor(async () => !['running', 'unknown'].includes(await status()), 'the run to finish on the new workers', 150_000);
  expect(await status(), workers.map((w) => w.output().slice(-2000)).join('\n')).toBe('succeeded');
  return { runId, cwd, env: currentEnv, before, execLog };
}

/** The run's results: every element squared and summed, the model trained to its last tick, resumed from a checkpoint. */
async function expectFinishedWhole(run: { runId: string; cwd: string; env: Record<string, string>; before: number; execLog: string }): Promise<void> {
  expect(run.before).toBeGreaterThanOrEqual(2);
  expect(chunksDone(workers[0], run.runId)).toBeGreaterThan(0); // the map's last chunks ran on the new workers
  const total = await runCli(['output', 'total.sum', '--run', run.runId], { cwd: run.cwd, env: run.env });
  expect(JSON.parse(total.stdout)).toEqual({ count: 400, sum: (399 * 400 * 799) / 6, model: 'model(400 numbers) after 40 ticks' });
  const starts = (await executions(run.execLog)).filter((l) => l.startsWith('resumable-train@')).map((l) => Number(l.split('@')[1]));
  expect(starts[0]).toBe(0);
  expect(starts.at(-1)).toBeGreaterThan(0);
}

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;

/** The run's whole history replays against this build's workflow bundle; it is returned for a closer look. */
async function expectHistoryReplays(runId: string): Promise<History> {
  const connection = await Connection.connect({ address: server.address });
  try {
    const workflowId = `flywheel-run-${runId}`;
    const history = await new Client({ connection }).workflow.getHandle(workflowId).fetchHistory();
    await replayHistories([{ workflowId, history }]);
    return history;
  } finally {
    await connection.close();
  }
}

/** Each patch marker of a history, with the worker whose workflow task recorded it. */
function patchMarkers(history: History): Array<{ id: string; recordedBy: string }> {
  const markers: Array<{ id: string; recordedBy: string }> = [];
  let completedBy = '';
  for (const event of history.events ?? []) {
    completedBy = event.workflowTaskCompletedEventAttributes?.identity ?? completedBy;
    const data = event.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
    if (data) markers.push({ id: (JSON.parse(Buffer.from(data).toString('utf8')) as { id: string }).id, recordedBy: completedBy });
  }
  return markers;
}

describe('workers replaced while a run is in flight', () => {
  it('a run whose workers are killed mid-map while its GPU step runs finishes on new ones, and its whole history replays', async () => {
    const run = await takeOver(BIN, 'takeover');
    await expectFinishedWhole(run);
    // A history that does not replay hangs the run at the next worker that must replay it (after a crash,
    // an eviction, a query). With the run's own work in local activities about half of these did not.
    await expectHistoryReplays(run.runId);
  }, 300_000);

  it('a run started by the previous release finishes on this release, its workers replaced mid-map while its GPU step runs, and its history replays', async () => {
    const run = await takeOver((previous as PreviousBuild).bin, 'upgrade');
    await expectFinishedWhole(run);
    // Begun by the previous release's workflow code and ended by this one's: every event must still match.
    const markers = patchMarkers(await expectHistoryReplays(run.runId));
    // It saved its map's progress by the clock, and took up tenths at its first decision on this release's
    // workers: the marker was recorded by one of them, mid-history.
    const startedBy = markers[0]?.recordedBy;
    expect(markers.find((m) => m.id === 'map-progress-by-tenths')?.recordedBy).toMatch(/./);
    expect(markers.find((m) => m.id === 'map-progress-by-tenths')?.recordedBy).not.toBe(startedBy);
  }, 300_000);
});
