import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FIXTURES, executions, runCli, runJson, startCli, statuses, waitFor } from '../support/cli.js';
import { replayHistories, startTemporal, startWorker, stopSuite, type TemporalServer, type WorkerProcess } from '../support/temporal.js';
import { tempDir } from '../support/temp-dir.js';

const gpuDiamond = join(FIXTURES, 'gpu-diamond.ts');
const longChain = join(FIXTURES, 'long-chain.ts');
const onTemporal = ['--engine', 'temporal'];

let server: TemporalServer;
let cpu: WorkerProcess;
let gpu: WorkerProcess;
let shared: string;
let env: Record<string, string>;
let execLog: string;

beforeAll(async () => {
  // A low history limit makes Temporal suggest continue-as-new after a few steps.
  server = await startTemporal({ persistent: true, dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 60 } });
  shared = await mkdtemp(join(tmpdir(), 'flywheel-durability-'));
  execLog = join(shared, 'executions.log');
  env = {
    TEMPORAL_ADDRESS: server.address,
    FLYWHEEL_TASK_QUEUE_PREFIX: 'durability-',
    FLYWHEEL_TEST_EXEC_LOG: execLog,
    FLYWHEEL_COMPILE_CACHE: join(shared, 'compile-cache'),
    // Lost workers are noticed after 2 s instead of 30.
    FLYWHEEL_HEARTBEAT_TIMEOUT: 'PT2S',
  };
  [cpu, gpu] = await Promise.all([startWorker('cpu', env), startWorker('gpu-h200', env)]);
}, 120_000);

afterAll(() => stopSuite([cpu, gpu], server, shared), 60_000);

beforeEach(async () => {
  await writeFile(execLog, '');
});

async function trainStarts(): Promise<number[]> {
  return (await executions(execLog)).filter((l) => l.startsWith('resumable-train@')).map((l) => Number(l.split('@')[1]));
}

async function withClient<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: server.address });
  try {
    return await work(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

/** The delivery (attempt) number of the training step's execute activity that the server has pending; 0 when none. */
function trainDelivery(): Promise<number> {
  return withClient(async (client) => {
    let highest = 0;
    for await (const workflow of client.workflow.list({ query: `ExecutionStatus = 'Running'` })) {
      const described = await client.workflow.getHandle(workflow.workflowId, workflow.runId).describe();
      for (const pending of described.raw.pendingActivities ?? [])
        if (pending.activityType?.name === 'executeStep') highest = Math.max(highest, pending.attempt ?? 0);
    }
    return highest;
  });
}

describe('Temporal durability', () => {
  it('finishes a run whose gpu worker is killed mid-step, resuming from the last heartbeat checkpoint', async () => {
    const cwd = await tempDir('flywheel-kill');
    const running = startCli(['run', gpuDiamond, ...onTemporal, '--json', '--set', 'train.ticks=30', '--set', 'train.tickMs=200'], { cwd, env });
    await waitFor(async () => (await trainStarts()).length > 0, 'the training step to start', 60_000);
    await sleep(2500); // a few checkpoints into the 6 s step
    await gpu.stop('SIGKILL');
    gpu = await startWorker('gpu-h200', env);

    const result = await running.done;
    expect(result.code, result.stderr).toBe(0);
    const run = JSON.parse(result.stdout) as Parameters<typeof statuses>[0];
    expect(statuses(run)).toEqual({ emit: 'executed', left: 'executed', right: 'executed', train: 'executed', join: 'executed' });
    const starts = await trainStarts();
    expect(starts[0]).toBe(0);
    expect(starts.length).toBe(2);
    expect(starts[1]).toBeGreaterThan(0); // resumed, not restarted
    const output = await runCli(['output', 'join.out', '--run', run.runId], { cwd, env });
    expect(output.stdout).toBe('model(seed-L) after 30 ticks + seed-R\n');
    const verify = await runCli(['cache', 'verify'], { cwd, env });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 120_000);

  it('does not start a step whose attempt the server handed on while its worker was frozen: one execution, not two', async () => {
    const cwd = await tempDir('flywheel-freeze');
    const frozen = gpu.child.pid as number;
    // Frozen while it waits for work (a paused VM): the server hands the training step to its open poll.
    process.kill(frozen, 'SIGSTOP');
    let thawed = false;
    try {
      const running = startCli(['run', gpuDiamond, ...onTemporal, '--json', '--set', 'train.ticks=5', '--set', 'train.tickMs=100'], { cwd, env });
      // Past the heartbeat timeout the server gives up on that delivery and schedules the step's second one.
      await waitFor(async () => (await trainDelivery()) >= 2, 'the frozen delivery of the training step to time out', 60_000);
      process.kill(frozen, 'SIGCONT');
      thawed = true;
      // Waking, the worker holds both deliveries: it asks the server before starting the first, which is gone.
      const result = await running.done;
      expect(result.code, result.stderr).toBe(0);
      expect(statuses(JSON.parse(result.stdout) as Parameters<typeof statuses>[0])).toMatchObject({ train: 'executed' });
      expect(await trainStarts()).toEqual([0]);
    } finally {
      if (!thawed) process.kill(frozen, 'SIGCONT');
    }
  }, 120_000);

  it('hands a step over when its worker shuts down gracefully: cancelled after the grace period, resumed elsewhere', async () => {
    await gpu.stop();
    gpu = await startWorker('gpu-h200', env, ['--shutdown-grace', 'PT1S']);
    const cwd = await tempDir('flywheel-drain');
    const running = startCli(['run', gpuDiamond, ...onTemporal, '--json', '--set', 'train.ticks=25', '--set', 'train.tickMs=200'], { cwd, env });
    await waitFor(async () => (await trainStarts()).length > 0, 'the training step to start', 60_000);
    await sleep(2000);
    await gpu.stop('SIGTERM'); // drains: the step gets 1 s, then its AbortSignal
    expect(gpu.output()).toContain('shutting down');
    gpu = await startWorker('gpu-h200', env);

    const result = await running.done;
    expect(result.code, result.stderr).toBe(0);
    const starts = await trainStarts();
    expect(starts).toHaveLength(2);
    expect(starts[1]).toBeGreaterThan(0);
    const run = JSON.parse(result.stdout) as Parameters<typeof statuses>[0];
    expect((await runCli(['output', 'join.out', '--run', run.runId], { cwd, env })).stdout).toBe('model(seed-L) after 25 ticks + seed-R\n');
  }, 120_000);

  it('finishes a run while the Temporal server is killed and restarted on the same database', async () => {
    const cwd = await tempDir('flywheel-restart');
    const started = await runCli(['run', gpuDiamond, ...onTemporal, '--detach', '--json', '--set', 'train.ticks=20', '--set', 'train.tickMs=200'], {
      cwd,
      env,
    });
    expect(started.code, started.stderr).toBe(0);
    const { runId } = JSON.parse(started.stdout) as { runId: string };
    await waitFor(async () => (await trainStarts()).length > 0, 'the training step to start', 60_000);
    await server.halt('SIGKILL');
    await sleep(1000);
    await server.restart();

    const status = async (): Promise<string> => {
      const shown = await runCli(['show', runId, '--json'], { cwd, env });
      return shown.code === 0 ? (JSON.parse(shown.stdout) as { status: string }).status : 'unknown';
    };
    await waitFor(async () => (await status()) !== 'running' && (await status()) !== 'unknown', 'the run to finish after the restart', 120_000);
    expect(await status()).toBe('succeeded');
    const output = await runCli(['output', 'join.out', '--run', runId], { cwd, env });
    expect(output.stdout).toBe('model(seed-L) after 20 ticks + seed-R\n');
  }, 180_000);

  it('continues as new when Temporal suggests it, and the run record and a fresh replay stay whole', async () => {
    const cwd = await tempDir('flywheel-can');
    const first = await runJson(longChain, onTemporal, { cwd, env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.run.steps).toHaveLength(41);
    expect(first.run.steps.every((s) => s.status === 'executed')).toBe(true);
    expect((await executions(execLog)).length).toBe(41);

    const workflowId = `flywheel-run-${first.run.runId}`;
    const histories = await withClient(async (client) => {
      const runs: string[] = [];
      await waitFor(
        async () => {
          runs.length = 0;
          for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(w.runId);
          return runs.length > 1;
        },
        'the continued-as-new executions to be listed',
        30_000,
      );
      return Promise.all(runs.map((runId) => client.workflow.getHandle(workflowId, runId).fetchHistory()));
    });
    expect(histories.length).toBeGreaterThan(1);
    // Every generation's history replays against the built bundle: the workflow code is deterministic.
    await replayHistories(histories.map((history) => ({ workflowId, history })));

    const again = await runJson(longChain, onTemporal, { cwd, env });
    expect(again.run.steps.every((s) => s.status === 'cached')).toBe(true);
    // The record saved across generations explains the next miss like a local one would.
    const changed = await runJson(longChain, [...onTemporal, '--set', 't40.suffix=!'], { cwd, env });
    expect(changed.run.steps.filter((s) => s.status === 'executed').map((s) => s.id)).toEqual(['t40']);
    expect(changed.run.steps.find((s) => s.id === 't40')?.reasonCodes).toEqual(['config-changed']);
  }, 180_000);
});
