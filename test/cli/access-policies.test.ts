import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheKey } from '../../cache/digest.js';
import type { ActionEntry } from '../../cache/records.js';
import { S3Store } from '../../cache/s3-store.js';
import { executions, runCli, runJson, statuses } from '../support/cli.js';
import { project } from '../support/code-project.js';
import { MINIO_SECRET, MINIO_USER, startMinio, type MinioServer } from '../support/minio.js';
import { tempDir } from '../support/temp-dir.js';

// Who may write what, enforced by MinIO's own access policies (not by Flywheel): `ci` writes main/,
// `pr` reads main/ and writes only pr/ — the namespace isolation advised after CVE-2025-36852. Users
// and policies are made with the real `mc admin`.
const MC_BIN = process.env.FLYWHEEL_MC_BIN ?? join(process.env.FLYWHEEL_TOOLS_DIR ?? join(homedir(), '.cache', 'flywheel-tools'), 'bin', 'mc');
const run = promisify(execFile);

const BUCKET = `flywheel-policies-${process.pid}`;
const arn = (path: string): string => `arn:aws:s3:::${BUCKET}${path}`;

function policy(read: string[], write: string[]): unknown {
  return {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['s3:ListBucket', 's3:GetBucketLocation'], Resource: [arn('')] },
      { Effect: 'Allow', Action: ['s3:GetObject'], Resource: read.map((p) => arn(`/${p}/*`)) },
      { Effect: 'Allow', Action: ['s3:PutObject', 's3:DeleteObject'], Resource: write.map((p) => arn(`/${p}/*`)) },
    ],
  };
}

let minio: MinioServer;
let mcConfig: string;

async function mc(...args: string[]): Promise<string> {
  const url = new URL(minio.endpoint);
  const host = `${url.protocol}//${MINIO_USER}:${MINIO_SECRET}@${url.host}`;
  const { stdout } = await run(MC_BIN, ['--config-dir', mcConfig, ...args], { env: { ...process.env, MC_HOST_test: host } });
  return stdout;
}

async function user(name: string, secret: string, rules: unknown): Promise<Record<string, string>> {
  const file = join(mcConfig, `${name}-policy.json`);
  await writeFile(file, JSON.stringify(rules));
  await mc('admin', 'user', 'add', 'test', name, secret);
  await mc('admin', 'policy', 'create', 'test', `flywheel-${name}`, file);
  await mc('admin', 'policy', 'attach', 'test', `flywheel-${name}`, '--user', name);
  return { ...minio.env, AWS_ACCESS_KEY_ID: name, AWS_SECRET_ACCESS_KEY: secret };
}

async function objects(prefix: string): Promise<string[]> {
  const listed = await minio.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => `${o.Key ?? ''} ${o.ETag ?? ''}`).sort();
}

beforeAll(async () => {
  minio = await startMinio();
  // Not a per-test temp dir: users are made in every test of the suite.
  mcConfig = await mkdtemp(join(tmpdir(), 'flywheel-mc-'));
  await minio.createBucket(BUCKET);
});

afterAll(async () => {
  await minio?.stop();
  if (mcConfig) await rm(mcConfig, { recursive: true, force: true });
});

describe("MinIO's own access policies: main's writer and pull requests' readers", () => {
  it('a pr run reuses main through a read-only layer and writes only pr/; writing main with pr credentials fails clearly and leaves nothing', async () => {
    const ciCredentials = await user('ci-main', 'ci-secret-2c6f1e', policy(['main'], ['main']));
    const prCredentials = await user('pr-build', 'pr-secret-7d41a9', policy(['main', 'pr'], ['pr']));
    const p = await project();
    const local = async (label: string): Promise<string> => join(await tempDir(`flywheel-${label}`), 's3-local');
    const ci = { cwd: p.cwd, env: { ...p.env, ...ciCredentials, FLYWHEEL_STORE: `s3://${BUCKET}/main`, FLYWHEEL_S3_LOCAL: await local('ci') } };
    expect(statuses((await runJson('pipeline.ts', [], ci)).run)).toEqual({ first: 'executed', second: 'executed' });
    const mainBefore = await objects('main/');
    expect(mainBefore.length).toBeGreaterThan(0);

    const pr = {
      cwd: p.cwd,
      env: {
        ...p.env,
        ...prCredentials,
        FLYWHEEL_STORE: `s3://${BUCKET}/pr`,
        FLYWHEEL_READ_FROM: `s3://${BUCKET}/main`,
        FLYWHEEL_S3_LOCAL: await local('pr'),
      },
    };
    const reused = await runJson('pipeline.ts', [], pr);
    expect(reused.code, reused.stderr).toBe(0);
    expect(statuses(reused.run)).toEqual({ first: 'cached', second: 'cached' });
    expect(reused.run.steps.map((s) => (s as { layer?: string }).layer)).toEqual(
      [`s3://${BUCKET}/main`, `s3://${BUCKET}/main`].map((l) => expect.stringContaining(l)),
    );
    // A change in the pull request runs into pr/ only.
    const forced = await runJson('pipeline.ts', ['--force', 'second'], pr);
    expect(statuses(forced.run)).toEqual({ first: 'cached', second: 'executed' });
    expect((await objects('pr/')).some((o) => o.startsWith('pr/ac/'))).toBe(true);
    expect(await objects('main/')).toEqual(mainBefore);

    // The pr credentials pointed at main: MinIO refuses the first write, the run says which store and
    // operation, exits 2, and main is as it was.
    const denied = await runCli(['run', 'pipeline.ts', '--force', 'second'], {
      cwd: p.cwd,
      env: { ...pr.env, FLYWHEEL_STORE: `s3://${BUCKET}/main`, FLYWHEEL_READ_FROM: '' },
    });
    expect(denied.code, denied.stderr).toBe(2);
    expect(denied.stderr).toContain(
      `error S3_ACCESS_DENIED: S3 store s3://${BUCKET}/main at ${minio.endpoint}: access denied (AccessDenied) for PUT main/runs/`,
    );
    expect(await objects('main/')).toEqual(mainBefore);
    expect(await executions(p.log)).toEqual(['first', 'second', 'second']);
  });

  it('the weekly retrain on main/ never serves a fine-tune result planted for its key: it trains again, deploys the genuine model and says why', async () => {
    const keysDir = await tempDir('flywheel-policy-keys');
    const made = await runCli(['keys', 'generate', '--out', keysDir, '--name', 'ci', '--json'], { cwd: keysDir });
    const ci = JSON.parse(made.stdout) as { id: string; privateKey: string; publicKey: string };
    const cwd = await tempDir('flywheel-weekly');
    const local = async (label: string): Promise<string> => join(await tempDir(`flywheel-${label}`), 's3-local');
    // The attacker (admin credentials, no key) runs the same pipeline in a scratch namespace: keys are deterministic.
    const scratch = {
      cwd,
      env: {
        ...minio.env,
        OPENAI_API_KEY: '',
        FLYWHEEL_STORE: `s3://${BUCKET}/scratch`,
        FLYWHEEL_S3_LOCAL: await local('scratch'),
        FLYWHEEL_REGISTRY: join(cwd, 'scratch-registry'),
      },
    };
    const rehearsal = await runJson('flow-agent', [], scratch);
    expect(rehearsal.code, rehearsal.stderr).toBe(0);
    const train = rehearsal.run.steps.find((s) => s.id === 'train');
    const genuine = train?.outputs.model as string;
    // ...and plants, in main/, an entry for that key whose model is theirs.
    Object.assign(process.env, minio.env);
    const admin = new S3Store({ bucket: BUCKET, prefix: 'main' }, { localRoot: await tempDir('flywheel-policy-admin') });
    const scratchStore = new S3Store({ bucket: BUCKET, prefix: 'scratch' }, { localRoot: await tempDir('flywheel-policy-scratch') });
    const honest = (await scratchStore.getAction(train?.cacheKey as CacheKey)) as ActionEntry;
    const poison = Buffer.from('{"kind":"poisoned"}\n');
    const blob = await admin.putBytes(poison);
    await admin.putAction({
      ...honest,
      runId: 'attacker',
      outputs: { ...honest.outputs, model: { ...(honest.outputs.model as ActionEntry['outputs'][string]), digest: blob.digest, size: poison.length } },
    });

    const weekly = {
      cwd,
      env: {
        ...minio.env,
        ...(await user('ci-weekly', 'ci-secret-58e0d2', policy(['main'], ['main']))),
        OPENAI_API_KEY: '',
        FLYWHEEL_STORE: `s3://${BUCKET}/main`,
        FLYWHEEL_S3_LOCAL: await local('weekly'),
        FLYWHEEL_SIGNING_KEY: ci.privateKey,
        FLYWHEEL_TRUSTED_KEYS: ci.publicKey,
        FLYWHEEL_VERIFIED_SIGNATURES: join(keysDir, 'verified'),
      },
    };
    const run = await runJson('flow-agent', [], weekly);
    expect(run.code, run.stderr).toBe(0);
    const trained = run.run.steps.find((s) => s.id === 'train');
    expect(trained?.status).toBe('executed');
    expect(trained?.reasonCodes).toEqual(['untrusted-entry']);
    expect(trained?.reason).toBe('cached result not trusted: the stored entry is unsigned');
    expect(trained?.outputs.model).toBe(genuine);
    // The registry holds the genuine model, with provenance that verifies.
    const verified = await runCli(['model', 'verify', '1'], weekly);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain(`signed by ${ci.id}`);
    expect(verified.stdout).toContain(genuine);
  });
});
