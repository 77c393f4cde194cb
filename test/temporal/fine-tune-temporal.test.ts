import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, runCli, startCli, statuses, waitFor } from '../support/cli.js';
import { startTemporal, startWorker, stopSuite, type TemporalServer, type WorkerProcess } from '../support/temporal.js';
import { tempDir } from '../support/temp-dir.js';
import { trainerPids } from '../support/trainer-processes.js';

const rehearsal = join(FIXTURES, 'fine-tune-rehearsal.ts');

let server: TemporalServer;
let cpu: WorkerProcess;
let gpu: WorkerProcess;
let shared: string;
let env: Record<string, string>;

beforeAll(async () => {
  server = await startTemporal();
  shared = await mkdtemp(join(tmpdir(), 'flywheel-fine-tune-'));
  env = { TEMPORAL_ADDRESS: server.address, FLYWHEEL_TASK_QUEUE_PREFIX: 'fine-tune-', FLYWHEEL_COMPILE_CACHE: join(shared, 'compile-cache') };
  [cpu, gpu] = await Promise.all([startWorker('cpu', env), startWorker('gpu-h200', env)]);
}, 120_000);

afterAll(() => stopSuite([cpu, gpu], server, shared), 60_000);

/** Checkpoint folders the trainer has written under the store's scratch area. */
async function checkpointsOnDisk(cwd: string): Promise<string[]> {
  const entries = await readdir(join(cwd, '.flywheel', 'tmp'), { recursive: true }).catch(() => [] as string[]);
  return entries.filter((e) => /checkpoints\/ckpt-\d{8}$/.test(e));
}

describe('the fine-tune step on Temporal (tiny-cpu profile on the gpu-h200 queue)', () => {
  it('survives its gpu worker being killed: the trainer stops with it, and another worker resumes from the last stored checkpoint', async () => {
    const cwd = await tempDir('flywheel-fine-tune-kill');
    const running = startCli(['run', rehearsal, '--engine', 'temporal', '--json', '--set', 'fine-tune.maxSteps=48', '--set', 'fine-tune.checkpointEvery=8'], {
      cwd,
      env,
    });
    await waitFor(async () => (await checkpointsOnDisk(cwd)).length > 0, 'the first checkpoint', 120_000);
    await sleep(3000); // stored and carried in a heartbeat (sent at least every 2 s)
    const first = trainerPids(cwd);
    expect(first).toHaveLength(1);
    await gpu.stop('SIGKILL'); // the worker dies outright, as with a lost machine
    await waitFor(async () => trainerPids(cwd).length === 0, 'the orphaned trainer to stop (parent-death signal)', 30_000);
    gpu = await startWorker('gpu-h200', env);

    const result = await running.done;
    expect(result.code, result.stderr).toBe(0);
    const run = JSON.parse(result.stdout) as Parameters<typeof statuses>[0];
    expect(statuses(run)).toEqual({ data: 'executed', base: 'executed', 'fine-tune': 'executed' });
    const metrics = JSON.parse((await runCli(['output', 'fine-tune.metrics', '--run', run.runId], { cwd, env })).stdout) as {
      steps: number;
      startedAtStep: number;
      finalLoss: number;
      initialLoss: number;
    };
    expect(metrics.steps).toBe(48);
    expect(metrics.startedAtStep).toBeGreaterThan(1); // resumed, not restarted
    expect((metrics.startedAtStep - 1) % 8).toBe(0); // right after a checkpoint
    expect(gpu.output()).toContain('resuming from the last stored checkpoint');
    expect(trainerPids(cwd)).toEqual([]);
  }, 240_000);
});
