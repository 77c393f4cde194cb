import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executions, runJson, statuses } from '../support/cli.js';
import { project } from '../support/code-project.js';
import { startMinio, type MinioServer } from '../support/minio.js';
import { tempDir } from '../support/temp-dir.js';

let minio: MinioServer;

beforeAll(async () => {
  minio = await startMinio();
});

afterAll(async () => {
  await minio?.stop();
});

describe('code fingerprints on a shared S3 cache (real MinIO)', () => {
  it("replaces the entry of other code (S3 keeps a key's first writer), and clones elsewhere agree on the fingerprint", async () => {
    const bucket = `flywheel-code-${process.pid}`;
    await minio.createBucket(bucket);
    const p = await project();
    const s3 = (local: string): Record<string, string> => ({ ...p.env, ...minio.env, FLYWHEEL_STORE: `s3://${bucket}/team`, FLYWHEEL_S3_LOCAL: local });
    const machineA = { cwd: p.cwd, env: s3(join(await tempDir('flywheel-code-a'), 's3-local')) };
    expect(statuses((await runJson('pipeline.ts', [], machineA)).run)).toEqual({ first: 'executed', second: 'executed' });

    await p.edit('steps/first.ts', "'hello\\n'", "['hello', ''].join('\\n')");
    const rerun = await runJson('pipeline.ts', [], machineA);
    expect(statuses(rerun.run)).toEqual({ first: 'executed', second: 'cached' });
    expect(rerun.run.steps.find((s) => s.id === 'first')?.reasonCodes).toEqual(['code-changed']);
    // Had the old entry stayed (first writer wins), this would be another code-changed re-run.
    expect(statuses((await runJson('pipeline.ts', [], machineA)).run)).toEqual({ first: 'cached', second: 'cached' });
    expect(await executions(p.log)).toEqual(['first', 'second', 'first']);

    // Another machine with a clone at another path: the same fingerprints, so plain hits.
    const clone = join(await tempDir('flywheel-code-b'), 'checkout', 'project');
    await cp(p.cwd, clone, { recursive: true });
    const machineB = { cwd: clone, env: s3(join(await tempDir('flywheel-code-b-cache'), 's3-local')) };
    const onB = await runJson('pipeline.ts', [], machineB);
    expect(statuses(onB.run)).toEqual({ first: 'cached', second: 'cached' });
    expect(onB.stderr).not.toContain('warning');
  });
});
