import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, executions, runCli, waitFor } from '../support/cli.js';
import { buildPrevious, type PreviousBuild } from '../support/previous-build.js';
import { startTemporal, startWorker, stopSuite, type TemporalServer, type WorkerProcess } from '../support/temporal.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * The release before the workflow code last changed: its cpu maps went out in fixed chunks of 50, which
 * this version makes adaptive behind `patched('adaptive-element-chunks')` (workflows/element-chunks.ts).
 * When the workflow code changes again, move this to the last commit before that change.
 */
const PREVIOUS = 'df2aaf5';

const upgrade = join(FIXTURES, 'upgrade.ts');
let previous: PreviousBuild;
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

describe('upgrading Flywheel while a run is in flight', () => {
  it("a run started by the previous version finishes on this version's workers, replacing them mid-map while its GPU step runs", async () => {
    const cwd = await tempDir('flywheel-upgrade');
    const execLog = join(cwd, 'executions.log');
    const env = {
      TEMPORAL_ADDRESS: server.address,
      FLYWHEEL_TASK_QUEUE_PREFIX: 'upgrade-',
      FLYWHEEL_STORE: join(cwd, 'store'),
      FLYWHEEL_TEST_EXEC_LOG: execLog,
      FLYWHEEL_HEARTBEAT_TIMEOUT: 'PT2S',
    };
    // Each version compiles the pipeline against its own engine, in a cache of its own.
    const previousEnv = { ...env, FLYWHEEL_COMPILE_CACHE: join(cwd, 'compile-previous') };
    const currentEnv = { ...env, FLYWHEEL_COMPILE_CACHE: join(cwd, 'compile-current') };
    workers = [await startWorker('cpu', previousEnv, [], previous.bin), await startWorker('gpu-h200', previousEnv, [], previous.bin)];
    const sets = ['--set', 'train.ticks=40', '--set', 'train.tickMs=250', '--set', 'square.sleepMs=60'];
    const started = await runCli(['run', upgrade, '--engine', 'temporal', '--detach', '--json', ...sets], { cwd, env: previousEnv, bin: previous.bin });
    expect(started.code, started.stderr).toBe(0);
    const { runId } = JSON.parse(started.stdout) as { runId: string };

    // Mid-run: some of the map's chunks done under the previous version, the GPU step under way.
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
    const log = workers.map((w) => w.output()).join('\n');
    expect(await status(), log.slice(-4000)).toBe('succeeded');
    // This version took the run over and went on: the map's last chunks ran here. Whether the whole history
    // replays is not asserted: after a worker is killed mid-run, a history sometimes does not, with this
    // version's workflow code or the previous one's (a defect this test found; see issue 32's note).
    expect(before).toBeGreaterThanOrEqual(2);
    expect(chunksDone(workers[0], runId)).toBeGreaterThan(0);
    const total = await runCli(['output', 'total.sum', '--run', runId], { cwd, env: currentEnv });
    expect(JSON.parse(total.stdout)).toEqual({ count: 400, sum: (399 * 400 * 799) / 6, model: 'model(400 numbers) after 40 ticks' });
    // The GPU step went on from its checkpoint on the new worker, not from the start.
    const starts = (await executions(execLog)).filter((l) => l.startsWith('resumable-train@')).map((l) => Number(l.split('@')[1]));
    expect(starts[0]).toBe(0);
    expect(starts.at(-1)).toBeGreaterThan(0);
  }, 300_000);
});
