import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf } from '../../cache/entry-signature.js';
import type { CacheKey } from '../../cache/digest.js';
import { LocalStore } from '../../cache/local-store.js';
import type { ActionEntry } from '../../cache/records.js';
import { FIXTURES, runCli, runJson, statuses } from '../support/cli.js';
import { startTemporalSuite, startWorker, type TemporalSuite } from '../support/temporal.js';
import { tempDir } from '../support/temp-dir.js';

// Read-only layers and signed entries on Temporal: the client's layers travel with the run to the
// workers, which sign what they write and verify what they read, as a local run does.
const chain = join(FIXTURES, 'chain.ts');
const mapped = join(FIXTURES, 'mapped.ts');
const lineage = join(FIXTURES, 'lineage.ts');

let suite: TemporalSuite;
let keys: { key: string; pub: string; id: string };
let keyDir: string;

beforeAll(async () => {
  // Not a per-test temp dir: the workers read these keys for the whole suite.
  const dir = (keyDir = await mkdtemp(join(tmpdir(), 'flywheel-temporal-keys-')));
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  keys = { key: join(dir, 'ci.key'), pub: join(dir, 'ci.pub'), id: keyIdOf(publicKey) };
  await writeFile(keys.key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(keys.pub, publicKey.export({ type: 'spki', format: 'pem' }));
  suite = await startTemporalSuite('trust-', ['cpu', 'gpu-h200'], (folder) => ({
    FLYWHEEL_SIGNING_KEY: keys.key,
    FLYWHEEL_TRUSTED_KEYS: keys.pub,
    FLYWHEEL_VERIFIED_SIGNATURES: join(folder, 'verified'),
    FLYWHEEL_TEST_EXEC_LOG: join(folder, 'executions.log'),
  }));
}, 120_000);

afterAll(async () => {
  await suite?.stop();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
}, 60_000);

async function entries(store: string): Promise<ActionEntry[]> {
  const local = new LocalStore(store);
  const found: ActionEntry[] = [];
  for await (const { key } of local.listActions()) found.push((await local.getAction(key as CacheKey)) as ActionEntry);
  return found;
}

describe('trust on Temporal', () => {
  it("workers read the run's layers, sign every entry they write (map elements included) and never write a layer", async () => {
    const cwd = await tempDir('flywheel-temporal-trust');
    const main = join(cwd, 'main');
    const own = join(cwd, 'own');
    // main is filled by a local run with the same key.
    expect((await runJson(chain, [], { cwd, env: { ...suite.env, FLYWHEEL_STORE: main } })).code).toBe(0);
    const mainBefore = (await readdir(join(main, 'ac'), { recursive: true })).sort();

    const onTemporal = { cwd, env: { ...suite.env, FLYWHEEL_STORE: own, FLYWHEEL_READ_FROM: main } };
    const reused = await runJson(chain, ['--engine', 'temporal'], onTemporal);
    expect(reused.code, reused.stderr).toBe(0);
    expect(statuses(reused.run)).toEqual({ emit: 'cached', upper: 'cached', suffix: 'cached', measure: 'cached' });
    expect(reused.run.steps.every((s) => s.reason.includes(`read from local store ${main}`))).toBe(true);

    const forced = await runJson(chain, ['--engine', 'temporal', '--force', 'suffix'], onTemporal);
    expect(forced.code, forced.stderr).toBe(0);
    expect(statuses(forced.run)).toMatchObject({ emit: 'cached', upper: 'cached', suffix: 'executed' });
    const written = await entries(own);
    expect(written.map((e) => e.step)).toContain('transform');
    expect(written.every((e) => e.signature?.signer === keys.id)).toBe(true);
    expect((await readdir(join(main, 'ac'), { recursive: true })).sort()).toEqual(mainBefore);

    // A map on the workers: elements executed on one activity, assembled on another, all signed.
    const mapStore = join(cwd, 'map-store');
    const map = await runJson(mapped, ['--engine', 'temporal'], { cwd, env: { ...suite.env, FLYWHEEL_STORE: mapStore } });
    expect(map.code, map.stderr).toBe(0);
    const mapEntries = await entries(mapStore);
    expect(mapEntries.length).toBeGreaterThan(3);
    expect(mapEntries.every((e) => e.signature?.signer === keys.id)).toBe(true);
    const again = await runJson(mapped, ['--engine', 'temporal'], { cwd, env: { ...suite.env, FLYWHEEL_STORE: mapStore } });
    expect(Object.values(statuses(again.run)).every((s) => s === 'cached')).toBe(true);
  });

  it('a step that asks for its lineage gets every step upstream with keys, code and outputs, locally and on the workers', async () => {
    const cwd = await tempDir('flywheel-temporal-lineage');
    for (const engine of ['local', 'temporal']) {
      const env = { ...suite.env, FLYWHEEL_STORE: join(cwd, engine) };
      const run = await runJson(lineage, ['--engine', engine], { cwd, env });
      expect(run.code, run.stderr).toBe(0);
      const lineageOf = JSON.parse((await runCli(['output', 'witness.lineage'], { cwd, env })).stdout) as {
        run: { runId: string; pipeline: string; engine: string };
        steps: Array<{ id: string; key: string; code?: string; outputs: Record<string, string>; components?: { step: string; config: unknown } }>;
      };
      expect(lineageOf.run, engine).toMatchObject({ runId: run.run.runId, pipeline: 'lineage', engine });
      const given = lineageOf.steps;
      const recorded = Object.fromEntries(run.run.steps.map((s) => [s.id, s]));
      expect(
        given.map((s) => s.id),
        engine,
      ).toEqual(['upper', 'emit']);
      for (const step of given) {
        expect(step.key, engine).toBe(recorded[step.id]?.cacheKey);
        expect(step.outputs, engine).toEqual(recorded[step.id]?.outputs);
        expect(step.code, engine).toMatch(/^[0-9a-f]{64}$/);
      }
      expect(given[0]?.components, engine).toMatchObject({ step: 'transform', config: { upper: true } });
    }
  });

  it('workers refuse a run that trusts keys they do not: they would serve what its client refuses', async () => {
    const cwd = await tempDir('flywheel-temporal-untrusting');
    const { privateKey: _other, publicKey } = generateKeyPairSync('ed25519');
    const otherPub = join(cwd, 'other.pub');
    await writeFile(otherPub, publicKey.export({ type: 'spki', format: 'pem' }));
    const env = { ...suite.env, FLYWHEEL_STORE: join(cwd, 'store'), FLYWHEEL_SIGNING_KEY: '', FLYWHEEL_TRUSTED_KEYS: otherPub };
    const refused = await runCli(['run', chain, '--engine', 'temporal'], { cwd, env });
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain(`the run trusts keys this worker does not: ${keyIdOf(publicKey)}`);
  });

  it('a worker that trusts keys but has none to sign with refuses to start', async () => {
    const { FLYWHEEL_SIGNING_KEY: _key, ...withoutKey } = suite.env;
    const started = startWorker('cpu', { ...withoutKey, FLYWHEEL_SIGNING_KEY: '' }).then(
      () => 'started',
      (error: Error) => error.message,
    );
    const message = await started;
    expect(message).toContain('WORKER_MISCONFIGURED');
    expect(message).toContain('FLYWHEEL_TRUSTED_KEYS is set without FLYWHEEL_SIGNING_KEY');
  });
});
