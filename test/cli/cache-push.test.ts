// `flywheel cache push`: a local run's results shared on S3 (real MinIO). Another machine reading that S3
// store is then fully cached, maps included, and can read the outputs back; the S3 store verifies clean.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, runCli, runJson, statuses } from '../support/cli.js';
import { startMinio, type MinioServer } from '../support/minio.js';
import { tempDir } from '../support/temp-dir.js';

let minio: MinioServer;
beforeAll(async () => {
  minio = await startMinio();
}, 60_000);
afterAll(async () => {
  await minio?.stop();
});

describe('flywheel cache push', () => {
  it('sends a local run’s entries, blobs, map elements and record to S3, where another machine is then fully cached', async () => {
    await minio.createBucket('flywheel-push');
    const s3 = 's3://flywheel-push/team';
    const local = await tempDir('flywheel-push-local');
    const mapped = join(FIXTURES, 'mapped.ts');
    const chain = join(FIXTURES, 'chain.ts');
    const env = { ...minio.env, FLYWHEEL_S3_LOCAL: join(local, 's3-local') };
    const first = await runJson(mapped, [], { cwd: local, env });
    expect(first.code, first.stderr).toBe(0);

    const pushed = await runCli(['cache', 'push', s3, '--json'], { cwd: local, env });
    expect(pushed.code, pushed.stderr).toBe(0);
    const report = JSON.parse(pushed.stdout) as { runs: number; entries: number; blobs: number; bytes: number; present: number };
    // The map's whole entry, each of its 20 elements' entries, the producing step's entry; the blobs they name.
    expect(report.runs).toBe(1);
    expect(report.entries).toBeGreaterThanOrEqual(22);
    expect(report.blobs).toBeGreaterThan(20);

    const machine = await tempDir('flywheel-push-reader');
    const readerEnv = { ...minio.env, FLYWHEEL_STORE: s3, FLYWHEEL_S3_LOCAL: join(machine, 's3-local') };
    const onS3 = await runJson(mapped, [], { cwd: machine, env: readerEnv });
    expect(onS3.code, onS3.stderr).toBe(0);
    expect(new Set(Object.values(statuses(onS3.run)))).toEqual(new Set(['cached']));
    // The record went along: the run is listed there, and its outputs read back, downloaded and verified.
    expect((await runCli(['runs', '--json'], { cwd: machine, env: readerEnv })).stdout).toContain(first.run.runId);
    const verify = await runCli(['cache', 'verify'], { cwd: machine, env: readerEnv });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/all good/);

    // Pushing again sends nothing new; another run is pushed by its id, sharing what is already there.
    const again = JSON.parse((await runCli(['cache', 'push', s3, '--json', '--run', first.run.runId], { cwd: local, env })).stdout) as typeof report;
    expect(again).toMatchObject({ entries: 0, blobs: 0 });
    expect(again.present).toBeGreaterThanOrEqual(report.entries);
    const second = await runJson(chain, [], { cwd: local, env });
    const chainPush = await runCli(['cache', 'push', s3], { cwd: local, env });
    expect(chainPush.stdout).toMatch(new RegExp(`pushed run ${second.run.runId} to .*: 4 entries, \\d+ blobs`));
    expect(new Set(Object.values(statuses((await runJson(chain, [], { cwd: machine, env: readerEnv })).run)))).toEqual(new Set(['cached']));
  }, 120_000);

  it('refuses a missing target or run with exit 2, naming the fix', async () => {
    const local = await tempDir('flywheel-push-bad');
    const none = await runCli(['cache', 'push'], { cwd: local });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('flywheel cache push s3://<bucket>/<prefix>');
    const empty = await runCli(['cache', 'push', 's3://flywheel-push/x'], { cwd: local, env: minio.env });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('holds no finished run to push');
    // A run whose entries are gone from this store (gc): nothing claims they were shared.
    const env = { ...minio.env, FLYWHEEL_S3_LOCAL: join(local, 's3-local') };
    expect((await runJson(join(FIXTURES, 'chain.ts'), [], { cwd: local, env })).code).toBe(0);
    await rm(join(local, '.flywheel', 'ac'), { recursive: true, force: true });
    const gone = await runCli(['cache', 'push', 's3://flywheel-push/gone'], { cwd: local, env });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/4 of the run's entries are no longer in .* so they were not pushed/);
  });
});
