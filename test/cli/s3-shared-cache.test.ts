import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, executions, runCli, runJson, startCli, statuses, waitFor } from '../support/cli.js';
import { MINIO_SECRET, MINIO_USER, startMinio, type MinioServer } from '../support/minio.js';
import { tempDir } from '../support/temp-dir.js';

const chain = join(FIXTURES, 'chain.ts');
const bigOutput = join(FIXTURES, 'big-output.ts');
let minio: MinioServer;
let buckets = 0;

beforeAll(async () => {
  minio = await startMinio();
});

afterAll(async () => {
  await minio?.stop();
});

/** A fresh bucket and one "machine": its own working directory and local S3 cache directory. */
async function machineOn(bucket: string): Promise<{ cwd: string; log: string; env: Record<string, string> }> {
  const cwd = await tempDir('flywheel-machine');
  const log = join(cwd, 'executions.log');
  return { cwd, log, env: { ...minio.env, FLYWHEEL_STORE: `s3://${bucket}/team`, FLYWHEEL_S3_LOCAL: join(cwd, 's3-local'), FLYWHEEL_TEST_EXEC_LOG: log } };
}

async function newBucket(): Promise<string> {
  const name = `flywheel-cli-${process.pid}-${++buckets}`;
  await minio.createBucket(name);
  return name;
}

async function bodyOf(bucket: string, key: string): Promise<string> {
  const object = await minio.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (object.Body as { transformToString(): Promise<string> }).transformToString();
}

describe('a team sharing one S3 cache (real MinIO)', () => {
  it('a second machine running the same pipeline is fully cached', async () => {
    const bucket = await newBucket();
    const first = await machineOn(bucket);
    const second = await machineOn(bucket);
    expect(statuses((await runJson(chain, [], first)).run)).toEqual({ emit: 'executed', upper: 'executed', suffix: 'executed', measure: 'executed' });
    const other = await runJson(chain, [], second);
    expect(other.code).toBe(0);
    expect(statuses(other.run)).toEqual({ emit: 'cached', upper: 'cached', suffix: 'cached', measure: 'cached' });
    expect(await executions(second.log)).toEqual([]);
    // And it can read the results back, downloaded and verified.
    expect((await runCli(['output', 'suffix.out'], second)).stdout).toBe('ABC!\n');
  });

  it('ten runs on two machines needing the same keys at the same moment execute each key once', async () => {
    const bucket = await newBucket();
    const machines = [await machineOn(bucket), await machineOn(bucket)];
    const log = join(machines[0]?.cwd ?? '', 'shared-executions.log'); // one log for both, to count every execution
    const runs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        const machine = machines[i % 2] as (typeof machines)[number];
        return runJson(chain, ['--set', 'emit.sleepMs=1500', '--set', `measure.label=measure-${i}`], {
          cwd: machine.cwd,
          env: { ...machine.env, FLYWHEEL_TEST_EXEC_LOG: log },
        });
      }),
    );
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    const executed = await executions(log);
    expect(executed.filter((s) => s === 'emit')).toHaveLength(1);
    expect(executed.filter((s) => s === 'upper')).toHaveLength(1);
    expect(executed.filter((s) => s === 'suffix')).toHaveLength(1);
    expect(executed.filter((s) => s.startsWith('measure-')).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `measure-${i}`).sort());
    const emits = runs.map((r) => r.run.steps.find((s) => s.id === 'emit'));
    expect(emits.filter((s) => s?.status === 'executed')).toHaveLength(1);
    expect(emits.filter((s) => s?.reasonCodes.includes('shared-execution')).length).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('an object corrupted inside the bucket is detected, reported and recomputed', async () => {
    const bucket = await newBucket();
    const machine = await machineOn(bucket);
    const first = await runJson(chain, [], machine);
    const digest = first.run.steps.find((s) => s.id === 'suffix')?.outputs.out as string;
    await minio.client.send(new PutObjectCommand({ Bucket: bucket, Key: `team/cas/sha256/${digest.slice(0, 2)}/${digest}`, Body: 'XYZ!\n' }));
    const other = await machineOn(bucket); // a machine without a local copy
    const again = await runJson(chain, [], other);
    const suffix = again.run.steps.find((s) => s.id === 'suffix');
    expect(suffix?.status).toBe('executed');
    expect(suffix?.reasonCodes).toEqual(['blob-corrupt']);
    expect(await bodyOf(bucket, `team/cas/sha256/${digest.slice(0, 2)}/${digest}`)).toBe('ABC!\n');
  });

  it('MinIO killed mid-upload leaves no action-cache entry, and the run succeeds once it is back', async () => {
    const bucket = await newBucket();
    const machine = await machineOn(bucket);
    machine.env.FLYWHEEL_S3_ATTEMPTS = '2';
    const run = startCli(['run', bigOutput, '--json'], machine);
    // The step has written its 300 MiB output; the upload starts right after it returns.
    await waitFor(async () => (await executions(machine.log)).includes('big'), 'the big step to finish writing');
    await sleep(400);
    await minio.halt('SIGKILL');
    let failed;
    try {
      failed = await run.done;
    } finally {
      await minio.restart();
    }
    expect(failed.code).toBe(1);
    const report = JSON.parse(failed.stdout) as { steps: Array<{ id: string; status: string; error?: { code: string } }> };
    expect(report.steps[0]?.status).toBe('failed');
    expect(report.steps[0]?.error?.code).toBe('S3_UNREACHABLE');

    const entries = await minio.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'team/ac/' }));
    expect(entries.Contents ?? []).toEqual([]);
    const retried = await runJson(bigOutput, [], machine);
    expect(retried.code).toBe(0);
    expect(statuses(retried.run)).toEqual({ big: 'executed' });
    expect(statuses((await runJson(bigOutput, [], machine)).run)).toEqual({ big: 'cached' });
  });

  it('never writes credentials to a log line or a run record', async () => {
    const bucket = await newBucket();
    const machine = await machineOn(bucket);
    const result = await runCli(['run', chain, '--json', '--log-level', 'debug'], machine);
    expect(result.code).toBe(0);
    const records = await minio.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'team/runs/' }));
    const recordTexts = await Promise.all((records.Contents ?? []).map((o) => bodyOf(bucket, o.Key as string)));
    for (const text of [result.stdout, result.stderr, ...recordTexts]) {
      expect(text).not.toContain(MINIO_SECRET);
      expect(text).not.toContain(MINIO_USER);
    }
    expect(recordTexts.length).toBeGreaterThan(0);
  });

  it.each([
    ['bad credentials', { AWS_SECRET_ACCESS_KEY: 'wrong-secret-value' }, 'S3_ACCESS_DENIED', (b: string) => b],
    ['a missing bucket', {}, 'S3_BUCKET_MISSING', () => 'flywheel-no-such-bucket'],
    ['an unreachable endpoint', { AWS_ENDPOINT_URL: 'http://127.0.0.1:9' }, 'S3_UNREACHABLE', (b: string) => b],
  ])('%s gives a clear error naming endpoint and bucket, never a secret, and a non-zero exit', async (_name, env, code, bucketOf) => {
    const bucket = bucketOf(await newBucket());
    const machine = await machineOn(bucket);
    const result = await runCli(['run', chain], { cwd: machine.cwd, env: { ...machine.env, ...env, FLYWHEEL_S3_ATTEMPTS: '1' } });
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain(code);
    expect(result.stdout + result.stderr).toContain(bucket);
    expect(result.stdout + result.stderr).not.toContain(MINIO_SECRET);
    expect(result.stdout + result.stderr).not.toContain('wrong-secret-value');
  });
});
