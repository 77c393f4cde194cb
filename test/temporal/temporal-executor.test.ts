import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FIXTURES, executions, runCli, runJson, statuses, waitFor } from '../support/cli.js';
import { isProcessAlive } from '../../cache/process-alive.js';
import { startTemporal, startWorker, type TemporalServer, type WorkerProcess } from '../support/temporal.js';
import { tempDir } from '../support/temp-dir.js';

const gpuDiamond = join(FIXTURES, 'gpu-diamond.ts');
const chain = join(FIXTURES, 'chain.ts');
const flaky = join(FIXTURES, 'flaky.ts');
const sleeper = join(FIXTURES, 'sleeper.ts');

let server: TemporalServer;
let workers: WorkerProcess[] = [];
let shared: string;
let env: Record<string, string>;

beforeAll(async () => {
  server = await startTemporal();
  shared = await import('node:fs/promises').then(({ mkdtemp }) => mkdtemp(join(process.env.TMPDIR ?? '/tmp', 'flywheel-temporal-suite-')));
  env = {
    TEMPORAL_ADDRESS: server.address,
    FLYWHEEL_TASK_QUEUE_PREFIX: 'executor-',
    FLYWHEEL_TEST_EXEC_LOG: join(shared, 'executions.log'),
    FLYWHEEL_TEST_FLAKY_MARKER: join(shared, 'flaky.marker'),
    FLYWHEEL_TEST_PID_FILE: join(shared, 'sleeper.pid'),
    FLYWHEEL_COMPILE_CACHE: join(shared, 'compile-cache'),
  };
  workers = await Promise.all([startWorker('cpu', env), startWorker('gpu-h200', env)]);
}, 120_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await server?.stop();
  if (shared) await rm(shared, { recursive: true, force: true });
}, 60_000);

beforeEach(async () => {
  await writeFile(env.FLYWHEEL_TEST_EXEC_LOG as string, '');
});

async function workspace(): Promise<{ cwd: string; env: Record<string, string> }> {
  return { cwd: await tempDir('flywheel-temporal'), env };
}

const onTemporal = ['--engine', 'temporal'];

/** How many of each activity a run's workflow scheduled, from its history. */
async function activitiesOf(runId: string): Promise<Record<string, number>> {
  const connection = await Connection.connect({ address: server.address });
  try {
    const history = await new Client({ connection }).workflow.getHandle(`flywheel-run-${runId}`).fetchHistory();
    const counts: Record<string, number> = {};
    for (const event of history.events ?? []) {
      const name = event.activityTaskScheduledEventAttributes?.activityType?.name;
      if (name) counts[name] = (counts[name] ?? 0) + 1;
    }
    return counts;
  } finally {
    await connection.close();
  }
}

describe('flywheel run --engine temporal', () => {
  it('runs a pipeline across the cpu and gpu-h200 queues with the same results and summary as a local run', async () => {
    const ws = await workspace();
    const remote = await runJson(gpuDiamond, onTemporal, ws);
    expect(remote.code, remote.stderr).toBe(0);
    expect(statuses(remote.run)).toEqual({ emit: 'executed', left: 'executed', right: 'executed', train: 'executed', join: 'executed' });
    // The gpu step ran on the gpu-h200 worker, the others on the cpu worker.
    const gpuLog = workers[1]?.output() ?? '';
    expect(gpuLog).toContain(`"stepId":"train"`);
    expect(gpuLog).not.toContain(`"stepId":"left"`);

    // Same keys and bytes as the local executor: a local run on the same store is fully cached.
    const local = await runJson(gpuDiamond, [], ws);
    expect(local.code).toBe(0);
    expect(statuses(local.run)).toEqual({ emit: 'cached', left: 'cached', right: 'cached', train: 'cached', join: 'cached' });
    expect(local.run.steps.map((s) => s.cacheKey)).toEqual(remote.run.steps.map((s) => s.cacheKey));
    const output = await runCli(['output', 'join.out', '--run', remote.run.runId], ws);
    expect(output.stdout).toBe('model(seed-L) after 4 ticks + seed-R\n');

    const listed = await runCli(['runs', '--engine', 'temporal', '--pipeline', 'gpu-diamond', '--json'], ws);
    const rows = JSON.parse(listed.stdout) as Array<{ runId: string; status: string }>;
    expect(rows.find((r) => r.runId === remote.run.runId)?.status).toBe('completed');
    const shown = await runCli(['show', remote.run.runId], ws);
    expect(shown.stdout).toContain('succeeded');
  });

  it('carries the chosen profile to the workers, which rebuild the same wiring', async () => {
    const { cwd } = await workspace();
    const full = await runJson(join(FIXTURES, 'profiled.ts'), [...onTemporal, '--profile', 'full'], { cwd, env });
    expect(full.code, full.stderr).toBe(0);
    expect(statuses(full.run)).toEqual({ emit: 'executed', upper: 'executed' });
    expect((await runCli(['output', 'upper.out', '--run', full.run.runId], { cwd, env })).stdout).toBe('ABC\n');
    const quick = await runJson(join(FIXTURES, 'profiled.ts'), onTemporal, { cwd, env });
    expect(statuses(quick.run)).toEqual({ emit: 'cached' });
  });

  it('after a --set change executes exactly the affected steps', async () => {
    const ws = await workspace();
    expect((await runJson(chain, onTemporal, ws)).code).toBe(0);
    await writeFile(env.FLYWHEEL_TEST_EXEC_LOG as string, '');
    const changed = await runJson(chain, [...onTemporal, '--set', 'suffix.suffix=?'], ws);
    expect(changed.code).toBe(0);
    expect(statuses(changed.run)).toEqual({ emit: 'cached', upper: 'cached', suffix: 'executed', measure: 'executed' });
    expect(changed.run.steps.find((s) => s.id === 'suffix')?.reason).toContain('suffix: "!" → "?"');
    expect(await executions(env.FLYWHEEL_TEST_EXEC_LOG as string)).toEqual(['suffix', 'measure']);
  });

  it('looks up the steps below an executed one on its worker: a chain of misses costs one activity a step, not two', async () => {
    const ws = await workspace();
    const longChain = join(FIXTURES, 'long-chain.ts');
    const first = await runJson(longChain, onTemporal, ws);
    expect(first.code, first.stderr).toBe(0);
    expect(first.run.steps.every((s) => s.status === 'executed')).toBe(true);
    const activities = await activitiesOf(first.run.runId);
    expect(activities.executeStep).toBe(41);
    // The first round is asked by activity (emit and, below its miss, nothing); every later one was answered ahead.
    expect(activities.resolveSteps).toBe(1);

    // Identical output stops the spread as before: t20 re-runs with the same output, t21 (looked up ahead
    // by t20's worker) is a hit, and the chain of hits below it resolves in one more look-up activity.
    const same = await runJson(longChain, [...onTemporal, '--set', 't20.sleepMs=1'], ws);
    expect(same.run.steps.filter((s) => s.status === 'executed').map((s) => s.id)).toEqual(['t20']);
    expect((await activitiesOf(same.run.runId)).resolveSteps).toBe(2);
    const moved = await runJson(longChain, [...onTemporal, '--set', 't39.suffix=!'], ws);
    expect(moved.run.steps.filter((s) => s.status === 'executed').map((s) => s.id)).toEqual(['t39', 't40']);
    expect(moved.run.steps.find((s) => s.id === 't40')?.reasonCodes).toEqual(['upstream-changed']);
    const again = await runJson(longChain, [...onTemporal, '--set', 't39.suffix=!'], ws);
    expect(again.run.steps.every((s) => s.status === 'cached')).toBe(true);
  });

  it('picks up an edited pipeline on the next run without restarting the workers', async () => {
    const ws = await workspace();
    const path = join(ws.cwd, 'edited.ts');
    const source = (version: number, text: string): string => `import { writeFile } from 'node:fs/promises';
import { definePipeline, defineStep, file } from 'flywheel';
const write = defineStep({ id: 'write-text', version: ${version}, outputs: { out: file() }, async run({ outputs }) { await writeFile(outputs.out, '${text}'); } });
export default definePipeline({ name: 'edited', build(p) { p.add(write, {}); } });
`;
    await writeFile(path, source(1, 'one'));
    expect((await runJson(path, onTemporal, ws)).run.steps[0]?.status).toBe('executed');
    await writeFile(path, source(2, 'two'));
    const edited = await runJson(path, onTemporal, ws);
    expect(edited.code, edited.stderr).toBe(0);
    expect(edited.run.steps[0]).toMatchObject({ status: 'executed', reasonCodes: ['version-changed'] });
    expect((await runCli(['output', 'write-text.out', '--run', edited.run.runId], ws)).stdout).toBe('two');
  });

  it('executes each shared key once when ten runs need it at the same moment', async () => {
    const ws = await workspace();
    const runs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => runJson(chain, [...onTemporal, '--set', 'emit.sleepMs=1500', '--set', `measure.label=measure-${i}`], ws)),
    );
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const log = await executions(env.FLYWHEEL_TEST_EXEC_LOG as string);
    expect(log.filter((s) => s === 'emit')).toHaveLength(1);
    expect(log.filter((s) => s === 'upper')).toHaveLength(1);
    expect(log.filter((s) => s === 'suffix')).toHaveLength(1);
    expect(log.filter((s) => s.startsWith('measure-')).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `measure-${i}`).sort());
    const emits = runs.map((r) => r.run.steps.find((s) => s.id === 'emit'));
    expect(emits.filter((s) => s?.status === 'executed')).toHaveLength(1);
    expect(emits.filter((s) => s?.status === 'cached' && s.reasonCodes.includes('shared-execution')).length).toBeGreaterThanOrEqual(1);
    expect(new Set(runs.map((r) => r.run.steps.find((s) => s.id === 'suffix')?.outputs.out)).size).toBe(1);
  }, 120_000);

  it('reports a failed shared execution to every waiting run, and a later run tries again', async () => {
    const ws = await workspace();
    await writeFile(env.FLYWHEEL_TEST_FLAKY_MARKER as string, 'fail');
    const failed = await Promise.all(Array.from({ length: 3 }, () => runJson(flaky, onTemporal, ws)));
    for (const r of failed) {
      expect(r.code).toBe(1);
      const step = r.run.steps.find((s) => s.id === 'flaky');
      expect(step?.status).toBe('failed');
      expect(step?.error?.message).toContain('flaky fails while');
      expect(statuses(r.run).measure).toBe('skipped');
    }
    expect(await executions(env.FLYWHEEL_TEST_EXEC_LOG as string)).toEqual(['flaky']);
    // Temporal shows the failed runs as failed workflows too (UI, schedules, `runs`).
    await waitFor(async () => {
      const rows = JSON.parse((await runCli(['runs', '--engine', 'temporal', '--pipeline', 'flaky', '--json'], ws)).stdout) as Array<{
        runId: string;
        status: string;
      }>;
      return failed.every((r) => rows.find((row) => row.runId === r.run.runId)?.status === 'failed');
    }, 'the failed runs to be listed as failed');

    await rm(env.FLYWHEEL_TEST_FLAKY_MARKER as string);
    const retried = await runJson(flaky, onTemporal, ws);
    expect(retried.code, retried.stderr).toBe(0);
    expect(statuses(retried.run)).toEqual({ flaky: 'executed', measure: 'executed' });
  }, 90_000);

  it('cancels a run: the step gets its AbortSignal and its whole process group ends', async () => {
    const ws = await workspace();
    await rm(env.FLYWHEEL_TEST_PID_FILE as string, { force: true });
    const started = await runCli(['run', sleeper, ...onTemporal, '--detach', '--json'], ws);
    expect(started.code, started.stderr).toBe(0);
    const { runId } = JSON.parse(started.stdout) as { runId: string };
    await waitFor(
      async () => existsSync(env.FLYWHEEL_TEST_PID_FILE as string) && (await readFile(env.FLYWHEEL_TEST_PID_FILE as string, 'utf8')).trim() !== '',
      'the step to start its process',
    );
    const grandchild = Number((await readFile(env.FLYWHEEL_TEST_PID_FILE as string, 'utf8')).trim());
    expect(isProcessAlive(grandchild)).toBe(true);

    const live = await runCli(['show', runId, '--json'], ws);
    expect((JSON.parse(live.stdout) as { steps: Array<{ status: string }> }).steps[0]?.status).toBe('running');

    const cancelled = await runCli(['cancel', runId], ws);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    await waitFor(async () => !isProcessAlive(grandchild), 'the process group to end', 30_000);
    await waitFor(
      async () => JSON.parse((await runCli(['show', runId, '--json'], ws)).stdout).status === 'cancelled',
      'the run record to say cancelled',
      30_000,
    );
    const record = JSON.parse((await runCli(['show', runId, '--json'], ws)).stdout) as { steps: Array<{ status: string; error?: { code: string } }> };
    expect(record.steps[0]?.status).toBe('failed');
    expect(record.steps[0]?.error?.code).toBe('STEP_CANCELLED');
  }, 90_000);

  it('creates, triggers, describes, pauses and deletes a schedule', async () => {
    const ws = await workspace();
    const create = await runCli(
      ['schedule', 'create', 'nightly-chain', '--pipeline', chain, '--cron', '0 2 * * 1', '--set', 'suffix.suffix=?', '--catchup-window', 'PT6H'],
      ws,
    );
    expect(create.code, create.stderr).toBe(0);
    expect(create.stdout).toContain('overlap skip');
    expect((await runCli(['schedule', 'trigger', 'nightly-chain'], ws)).code).toBe(0);
    await waitFor(async () => (await executions(env.FLYWHEEL_TEST_EXEC_LOG as string)).includes('measure'), 'the triggered run to execute');
    const described = JSON.parse((await runCli(['schedule', 'describe', 'nightly-chain', '--json'], ws)).stdout) as {
      cron: string;
      overlap: string;
      catchupWindowMs: number;
      recentRuns: unknown[];
      paused: boolean;
    };
    expect(described).toMatchObject({ cron: '0 2 * * 1', overlap: 'SKIP', catchupWindowMs: 6 * 3600_000, paused: false });
    expect(described.recentRuns).toHaveLength(1);
    expect((await runCli(['schedule', 'pause', 'nightly-chain'], ws)).code).toBe(0);
    expect((await runCli(['schedule', 'list', '--json'], ws)).stdout).toContain('"paused": true');
    expect((await runCli(['schedule', 'delete', 'nightly-chain'], ws)).code).toBe(0);
    const gone = await runCli(['schedule', 'describe', 'nightly-chain'], ws);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain('SCHEDULE_NOT_FOUND');
  });

  it('rejects bad input before starting anything, and says where Temporal was looked for', async () => {
    const ws = await workspace();
    const bad = await runCli(['run', chain, ...onTemporal, '--set', 'suffix.nope=1'], ws);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('CONFIG_INVALID');
    const unreachable = await runCli(['run', chain, ...onTemporal], { ...ws, env: { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' } });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('TEMPORAL_UNREACHABLE');
    expect(unreachable.stderr).toContain('127.0.0.1:1');
    const badCron = await runCli(['schedule', 'create', 'x', '--pipeline', chain, '--cron', 'every monday'], ws);
    expect(badCron.code).toBe(2);
    expect(badCron.stderr).toContain('five-field cron');
  });
});
