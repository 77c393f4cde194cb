import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf, signEntry, type Signer } from '../../cache/entry-signature.js';
import type { CacheKey } from '../../cache/digest.js';
import { LocalStore } from '../../cache/local-store.js';
import type { ActionEntry } from '../../cache/records.js';
import { S3Store } from '../../cache/s3-store.js';
import type { Store } from '../../cache/store.js';
import { executions, FIXTURES, runCli, runJson, statuses } from '../support/cli.js';
import { project, type Project } from '../support/code-project.js';
import { startMinio, type MinioServer } from '../support/minio.js';
import { tempDir } from '../support/temp-dir.js';

// Signed action entries against real files, real key files made by `flywheel keys generate`, real
// processes and a real MinIO. An attacker who can write the store plants entries for the key the
// trusted run looks up, pointing at a "poisoned" blob: unsigned, signed by their own key, or a
// genuine entry altered after signing. None of them is ever served.

interface KeyPair {
  id: string;
  key: string;
  pub: string;
}

async function generate(dir: string, name: string): Promise<KeyPair> {
  const made = await runCli(['keys', 'generate', '--out', dir, '--name', name, '--json'], { cwd: dir });
  expect(made.code, made.stderr).toBe(0);
  const { id, privateKey, publicKey } = JSON.parse(made.stdout) as { id: string; privateKey: string; publicKey: string };
  return { id, key: privateKey, pub: publicKey };
}

async function signerOf(pair: KeyPair): Promise<Signer> {
  const privateKey = createPrivateKey(await readFile(pair.key, 'utf8'));
  const publicKey = createPublicKey(privateKey);
  return { id: keyIdOf(publicKey), privateKey, publicKey };
}

/** Replaces whatever entry the store has for `key` with `entry`, as an attacker with write access would. */
async function plant(store: Store, entry: ActionEntry): Promise<void> {
  await store.deleteAction(entry.key);
  await store.putAction(entry);
}

/** The genuine entry for `key` turned into a poisoned one: its output points at bytes of the attacker's choosing. */
async function poisoned(store: Store, genuine: ActionEntry): Promise<ActionEntry> {
  const bytes = Buffer.from('POISONED\n');
  const blob = await store.putBytes(bytes);
  const { signature: _signature, ...rest } = genuine;
  return { ...rest, runId: 'attacker', outputs: { out: { kind: 'file', digest: blob.digest, size: bytes.length, fileName: 'first.txt' } } };
}

async function keyOfFirst(p: Project, env: Record<string, string>): Promise<CacheKey> {
  const plan = await runCli(['plan', 'pipeline.ts', '--json'], { cwd: p.cwd, env });
  expect(plan.code, plan.stderr).toBe(0);
  const steps = (JSON.parse(plan.stdout) as { steps: Array<{ id: string; cacheKey: string | null }> }).steps;
  return steps.find((s) => s.id === 'first')?.cacheKey as CacheKey;
}

const reasonOf = (run: { steps: Array<{ id: string; reasonCodes: string[]; reason: string }> }, id: string): { codes: string[]; reason: string } => {
  const step = run.steps.find((s) => s.id === id);
  return { codes: step?.reasonCodes ?? [], reason: step?.reason ?? '' };
};

describe('signed action entries (local store)', () => {
  it('keys generate writes a pair, the private key readable by its owner only, and never overwrites one', async () => {
    const dir = await tempDir('flywheel-keys');
    const pair = await generate(dir, 'ci');
    expect(pair.id).toMatch(/^ed25519:[0-9a-f]{16}$/);
    expect((await stat(pair.key)).mode & 0o777).toBe(0o600);
    expect(await readFile(pair.pub, 'utf8')).toContain('BEGIN PUBLIC KEY');
    const again = await runCli(['keys', 'generate', '--out', dir, '--name', 'ci'], { cwd: dir });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`${pair.key} already exists`);
  });

  it('serves no entry the trusted keys did not sign: unsigned, signed by another key, or altered after signing', async () => {
    const p = await project();
    const keys = await tempDir('flywheel-trust-keys');
    const ci = await generate(keys, 'ci');
    const attacker = await generate(keys, 'attacker');
    const trusted = { ...p.env, FLYWHEEL_SIGNING_KEY: ci.key, FLYWHEEL_TRUSTED_KEYS: ci.pub, FLYWHEEL_VERIFIED_SIGNATURES: join(keys, 'verified') };
    const ws = { cwd: p.cwd, env: trusted };
    const store = new LocalStore(join(p.cwd, '.flywheel'));

    const first = await runJson('pipeline.ts', [], ws);
    expect(statuses(first.run)).toEqual({ first: 'executed', second: 'executed' });
    const key = first.run.steps.find((s) => s.id === 'first')?.cacheKey as CacheKey;
    const genuine = (await store.getAction(key)) as ActionEntry;
    expect(genuine.signature?.signer).toBe(ci.id);
    const verified = await runCli(['cache', 'verify'], ws);
    expect(verified.code, verified.stdout).toBe(0);
    expect(verified.stdout).toContain(`signatures: 2 signed by ${ci.id}`);

    const attacks: Array<[string, () => Promise<ActionEntry>, RegExp]> = [
      ['unsigned', async () => poisoned(store, genuine), /cached result not trusted: the stored entry is unsigned/],
      [
        'signed by the attacker',
        async () => signEntry(await poisoned(store, genuine), await signerOf(attacker)),
        new RegExp(`signed by ${attacker.id}, not a trusted key`),
      ],
      [
        'altered after signing',
        async () => ({ ...signEntry(genuine, await signerOf(ci)), outputs: (await poisoned(store, genuine)).outputs }),
        new RegExp(`signature by ${ci.id} does not verify`),
      ],
    ];
    for (const [what, make, reason] of attacks) {
      await plant(store, await make());
      const run = await runJson('pipeline.ts', [], ws);
      expect(run.code, `${what}: ${run.stderr}`).toBe(0);
      // The step runs again, and its genuine output leaves its downstream cached (early cutoff).
      expect(statuses(run.run), what).toEqual({ first: 'executed', second: 'cached' });
      expect(reasonOf(run.run, 'first').codes, what).toEqual(['untrusted-entry']);
      expect(reasonOf(run.run, 'first').reason, what).toMatch(reason);
      expect((await runCli(['output', 'second.out'], ws)).stdout, what).toBe('HELLO\n');
      // The trusted result replaced the planted entry: the next run is a plain hit.
      expect(statuses((await runJson('pipeline.ts', [], ws)).run), what).toEqual({ first: 'cached', second: 'cached' });
    }
    expect(await executions(p.log)).toEqual(['first', 'second', 'first', 'first', 'first']);

    // A writer with a key and no list still checks what it reads: it trusts its own key, so it neither
    // serves nor re-signs an entry planted for it.
    await plant(store, await poisoned(store, genuine));
    const writerOnly = await runJson('pipeline.ts', [], {
      cwd: p.cwd,
      env: { ...p.env, FLYWHEEL_SIGNING_KEY: ci.key, FLYWHEEL_VERIFIED_SIGNATURES: join(keys, 'verified') },
    });
    expect(reasonOf(writerOnly.run, 'first').codes).toEqual(['untrusted-entry']);
    expect(await executions(p.log)).toEqual(['first', 'second', 'first', 'first', 'first', 'first']);

    // `cache verify` with trusted keys names a planted entry (exit 1), and --fix removes it.
    await plant(store, await poisoned(store, genuine));
    const found = await runCli(['cache', 'verify'], ws);
    expect(found.code).toBe(1);
    expect(found.stdout).toContain(`untrusted entry ${key}: the stored entry is unsigned`);
    expect(found.stdout).toContain(`signatures: 1 signed by ${ci.id}, 1 unsigned`);
    expect((await runCli(['cache', 'verify', '--fix'], ws)).code).toBe(0);
    expect(await store.getAction(key)).toBeUndefined();

    // Without trusted keys a run uses entries as written (today's behaviour), and verify says the store is unsigned.
    const plain = { cwd: p.cwd, env: p.env };
    const unsignedStore = await tempDir('flywheel-unsigned');
    await runJson('pipeline.ts', [], { ...plain, env: { ...p.env, FLYWHEEL_STORE: unsignedStore } });
    const said = await runCli(['cache', 'verify'], { ...plain, env: { ...p.env, FLYWHEEL_STORE: unsignedStore } });
    expect(said.stdout).toContain('signatures: none, the store is unsigned');
  });

  it('signs every element of a map, and refuses a key it cannot read before anything runs', async () => {
    const cwd = await tempDir('flywheel-signed-map');
    const keys = await generate(cwd, 'ci');
    const env = {
      FLYWHEEL_TEST_EXEC_LOG: join(cwd, 'executions.log'),
      FLYWHEEL_SIGNING_KEY: keys.key,
      FLYWHEEL_TRUSTED_KEYS: keys.pub,
      FLYWHEEL_VERIFIED_SIGNATURES: join(cwd, 'verified'),
    };
    const run = await runJson(join(FIXTURES, 'mapped.ts'), [], { cwd, env });
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse((await runCli(['cache', 'verify', '--json'], { cwd, env })).stdout) as {
      entriesChecked: number;
      signatures: { signedBy: Record<string, number>; unsigned: number };
      untrustedEntries: unknown[];
    };
    expect(report.entriesChecked).toBeGreaterThan(3);
    expect(report.signatures).toEqual({ signedBy: { [keys.id]: report.entriesChecked }, unsigned: 0 });
    expect(report.untrustedEntries).toEqual([]);

    const runsBefore = (await runCli(['runs', '--json'], { cwd, env })).stdout;
    const bad = await runCli(['run', join(FIXTURES, 'mapped.ts')], { cwd, env: { ...env, FLYWHEEL_SIGNING_KEY: join(cwd, 'missing.key') } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`error TRUST_KEY_INVALID: FLYWHEEL_SIGNING_KEY: cannot read ${join(cwd, 'missing.key')} (ENOENT)`);
    const wrongKind = await runCli(['run', join(FIXTURES, 'mapped.ts')], { cwd, env: { ...env, FLYWHEEL_TRUSTED_KEYS: keys.key } });
    expect(wrongKind.code).toBe(2);
    expect(wrongKind.stderr).toContain(`error TRUST_KEY_INVALID: FLYWHEEL_TRUSTED_KEYS: ${keys.key} is a private key`);
    // Nothing was started: no run record was written.
    expect((await runCli(['runs', '--json'], { cwd, env })).stdout).toBe(runsBefore);

    // Trusting keys without one to sign with: the run signs with a key of its own (its map still
    // assembles), says so, and the next run, which does not trust that key, computes it again.
    const readerOnly = { FLYWHEEL_TEST_EXEC_LOG: env.FLYWHEEL_TEST_EXEC_LOG, FLYWHEEL_TRUSTED_KEYS: keys.pub, FLYWHEEL_STORE: join(cwd, 'reader-store') };
    const own = await runJson(join(FIXTURES, 'mapped.ts'), [], { cwd, env: readerOnly });
    expect(own.code, own.stderr).toBe(0);
    expect(own.stderr).toContain('FLYWHEEL_TRUSTED_KEYS is set without FLYWHEEL_SIGNING_KEY');
    const again = await runJson(join(FIXTURES, 'mapped.ts'), [], { cwd, env: readerOnly });
    expect(again.run.steps.find((s) => s.id === 'numbers')?.reasonCodes).toEqual(['untrusted-entry']);
  });
});

describe('signed action entries on a shared S3 store (real MinIO)', () => {
  let minio: MinioServer;
  beforeAll(async () => {
    minio = await startMinio();
  });
  afterAll(async () => {
    await minio?.stop();
  });

  it('an entry planted before the trusted run computed its key is never served, and the trusted result replaces it', async () => {
    const bucket = `flywheel-signed-${process.pid}`;
    await minio.createBucket(bucket);
    const p = await project();
    const keys = await generate(await tempDir('flywheel-s3-keys'), 'ci');
    const env = {
      ...p.env,
      ...minio.env,
      FLYWHEEL_STORE: `s3://${bucket}/main`,
      FLYWHEEL_S3_LOCAL: join(await tempDir('flywheel-s3-local'), 'cache'),
      FLYWHEEL_SIGNING_KEY: keys.key,
      FLYWHEEL_TRUSTED_KEYS: keys.pub,
      FLYWHEEL_VERIFIED_SIGNATURES: join(p.cwd, '..', 'verified'),
    };
    // Keys are deterministic: the attacker computes the key of `first` before any trusted run did.
    const key = await keyOfFirst(p, env);
    Object.assign(process.env, minio.env);
    const admin = new S3Store({ bucket, prefix: 'main' }, { localRoot: await tempDir('flywheel-s3-admin') });
    const bytes = Buffer.from('POISONED\n');
    const blob = await admin.putBytes(bytes);
    await admin.putAction({
      format: 'flywheel.action/v1',
      key,
      step: 'first',
      createdAt: new Date().toISOString(),
      durationMs: 1,
      runId: 'attacker',
      outputs: { out: { kind: 'file', digest: blob.digest, size: bytes.length, fileName: 'first.txt' } },
      components: { step: 'first', version: '1', ports: { inputs: {}, outputs: { out: 'file' } }, config: {}, inputs: {}, env: {} },
    });

    const run = await runJson('pipeline.ts', [], { cwd: p.cwd, env });
    expect(run.code, run.stderr).toBe(0);
    expect(statuses(run.run)).toEqual({ first: 'executed', second: 'executed' });
    expect(reasonOf(run.run, 'first')).toEqual({ codes: ['untrusted-entry'], reason: 'cached result not trusted: the stored entry is unsigned' });
    expect((await runCli(['output', 'second.out'], { cwd: p.cwd, env })).stdout).toBe('HELLO\n');
    // S3 keeps a key's first writer (If-None-Match): the trusted writer replaced the planted entry anyway.
    expect(((await admin.getAction(key)) as ActionEntry).signature?.signer).toBe(keys.id);
    expect(statuses((await runJson('pipeline.ts', [], { cwd: p.cwd, env })).run)).toEqual({ first: 'cached', second: 'cached' });
    expect(await executions(p.log)).toEqual(['first', 'second']);
  });
});
