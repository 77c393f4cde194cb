import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, truncate, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CacheKey, Digest } from '../../cache/digest.js';
import type { LocalStore } from '../../cache/local-store.js';
import { collectGarbage, verifyStore, type GcOptions } from '../../cache/maintenance.js';
import { blobsOfOutput, ingestDirectory } from '../../cache/manifest.js';
import type { OutputRecord, RunRecord } from '../../cache/records.js';
import { actionEntry, actionFile, blobFile, corruptBlob, keyOf, runIdAt, runRecord, stepRecord, tempDir, tempStore } from './helpers.js';

const HOUR = 3_600_000;
const longAgo = new Date(Date.now() - 48 * HOUR);
/** GC options under which everything written by the test counts as old. */
const everythingOld = (keepRuns: number, extra: Partial<GcOptions> = {}): GcOptions => ({
  keepRuns,
  graceMs: HOUR,
  dryRun: false,
  now: Date.now() + 2 * HOUR,
  ...extra,
});

interface StoredRun {
  runId: string;
  key: CacheKey;
  output: OutputRecord;
}

/** Stores one run of a one-step pipeline: its output blob, its action entry, then its record. */
async function storeRun(store: LocalStore, pipeline: string, second: number, fields: Partial<RunRecord> = {}, output?: OutputRecord): Promise<StoredRun> {
  const out = output ?? { kind: 'json' as const, ...(await store.putBytes(Buffer.from(`{"${pipeline}":${second}}`))) };
  const key = keyOf(`${pipeline}@${second}`);
  const runId = runIdAt(second);
  await store.putAction(actionEntry(key, { out }, runId));
  await store.putRun(runRecord({ runId, pipeline, steps: [stepRecord('step', key, { out })], ...fields }));
  return { runId, key, output: out };
}

/** Run records newest first, as the CLI passes them. */
async function runsNewestFirst(store: LocalStore): Promise<RunRecord[]> {
  const runs: RunRecord[] = [];
  for (const id of await store.listRunIds()) runs.push((await store.getRun(id)) as RunRecord);
  return runs;
}

async function contents(store: LocalStore): Promise<{ entries: string[]; blobs: string[] }> {
  const entries: string[] = [];
  const blobs: string[] = [];
  for await (const a of store.listActions()) entries.push(a.key);
  for await (const b of store.listBlobs()) blobs.push(b.digest);
  return { entries: entries.sort(), blobs: blobs.sort() };
}

async function isPresent(store: LocalStore, run: StoredRun): Promise<{ entry: boolean; blob: boolean }> {
  const entry = await store.getAction(run.key);
  return { entry: entry !== undefined && entry !== 'unreadable', blob: (await store.checkBlob(run.output.digest, 'full')) === 'ok' };
}

const KEPT = { entry: true, blob: true };
const GONE = { entry: false, blob: false };

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid as number;
}

describe('collectGarbage', () => {
  it('keeps what the newest N runs of each pipeline reference and deletes the rest', async () => {
    const store = await tempStore();
    const w1 = await storeRun(store, 'weekly', 1);
    const w2 = await storeRun(store, 'weekly', 2);
    const w3 = await storeRun(store, 'weekly', 3);
    const o4 = await storeRun(store, 'other', 4);
    const orphan = await store.putBytes(Buffer.from('referenced by nothing'));

    const report = await collectGarbage(store, await runsNewestFirst(store), everythingOld(1));

    expect(report.keptRuns).toEqual([o4.runId, w3.runId]);
    expect(report.deletedEntries.sort()).toEqual([w1.key, w2.key].sort());
    expect(report.deletedBlobs.sort()).toEqual([w1.output.digest, w2.output.digest, orphan.digest].sort());
    expect(report.freedBytes).toBe(w1.output.size + w2.output.size + orphan.size);
    expect(report).toMatchObject({ keptEntries: 2, keptBlobs: 2 });
    expect(await isPresent(store, w1)).toEqual(GONE);
    expect(await isPresent(store, w2)).toEqual(GONE);
    expect(await isPresent(store, w3)).toEqual(KEPT);
    expect(await isPresent(store, o4)).toEqual(KEPT);
    expect(await store.checkBlob(orphan.digest, 'full')).toBe('missing');
    // Run records are history and stay; no surviving entry points at a deleted blob.
    expect(await store.listRunIds()).toHaveLength(4);
    expect((await verifyStore(store, false)).brokenEntries).toEqual([]);
  });

  it("keeps another code's result under a key as long as the key, and collects it with the key", async () => {
    const store = await tempStore();
    const old = await storeRun(store, 'weekly', 1);
    const kept = await storeRun(store, 'weekly', 2);
    // Each key also holds a result of another branch's code, kept under a key of its own (see codeVariantKey).
    const variants = [old, kept].map(async (run, i) => {
      const out = { kind: 'json' as const, ...(await store.putBytes(Buffer.from(`{"branch":${i}}`))) };
      const key = keyOf(`variant-of-${run.key}`);
      await store.putAction({ ...actionEntry(key, { out }), variantOf: run.key });
      return { key, output: out, runId: run.runId };
    });
    const [oldVariant, keptVariant] = await Promise.all(variants);

    const report = await collectGarbage(store, await runsNewestFirst(store), everythingOld(1));

    expect(report.deletedEntries.sort()).toEqual([old.key, oldVariant?.key].sort());
    expect(await isPresent(store, keptVariant as StoredRun)).toEqual(KEPT);
    expect(await isPresent(store, oldVariant as StoredRun)).toEqual(GONE);
  });

  it('keepRuns counts per pipeline', async () => {
    const store = await tempStore();
    const runs = [await storeRun(store, 'weekly', 1), await storeRun(store, 'weekly', 2), await storeRun(store, 'weekly', 3)];
    const report = await collectGarbage(store, await runsNewestFirst(store), everythingOld(2));
    expect(report.keptRuns).toEqual([runs[2]?.runId, runs[1]?.runId]);
    expect(await Promise.all(runs.map((r) => isPresent(store, r)))).toEqual([GONE, KEPT, KEPT]);
  });

  it('keeps what pinned runs reference, however old', async () => {
    const store = await tempStore();
    const w1 = await storeRun(store, 'weekly', 1);
    const w2 = await storeRun(store, 'weekly', 2);
    const w3 = await storeRun(store, 'weekly', 3);
    await store.setPinned(w1.runId, true);
    const report = await collectGarbage(store, await runsNewestFirst(store), everythingOld(1));
    expect(report.keptRuns).toEqual([w3.runId, w1.runId]);
    expect([await isPresent(store, w1), await isPresent(store, w2), await isPresent(store, w3)]).toEqual([KEPT, GONE, KEPT]);
  });

  it('keeps what in-progress runs reference: alive here, or on a host it cannot check; not a dead local one', async () => {
    const store = await tempStore();
    const aliveHere = await storeRun(store, 'weekly', 1, { status: 'running', pid: process.pid, host: hostname() });
    const elsewhere = await storeRun(store, 'weekly', 2, { status: 'running', pid: 1, host: `not-${hostname()}` });
    const crashed = await storeRun(store, 'weekly', 3, { status: 'running', pid: await deadPid(), host: hostname() });
    const newest = await storeRun(store, 'weekly', 4);
    const report = await collectGarbage(store, await runsNewestFirst(store), everythingOld(1));
    expect(report.keptRuns).toEqual([newest.runId, elsewhere.runId, aliveHere.runId]);
    expect(await isPresent(store, aliveHere)).toEqual(KEPT);
    expect(await isPresent(store, elsewhere)).toEqual(KEPT);
    expect(await isPresent(store, crashed)).toEqual(GONE);
  });

  it('does not let a run in progress or an interrupted run use up the allowance of finished runs', async () => {
    const store = await tempStore();
    const lastFinished = await storeRun(store, 'weekly', 1);
    const interrupted = await storeRun(store, 'weekly', 2, { status: 'running', pid: await deadPid(), host: hostname() });
    const inProgress = await storeRun(store, 'weekly', 3, { status: 'running', pid: process.pid, host: hostname() });
    const report = await collectGarbage(store, await runsNewestFirst(store), everythingOld(1));
    // The killed run is newer than every finished run: the next run resumes from what it finished.
    expect(report.keptRuns).toEqual([inProgress.runId, interrupted.runId, lastFinished.runId]);
    expect(await isPresent(store, lastFinished)).toEqual(KEPT);
    expect(await isPresent(store, interrupted)).toEqual(KEPT);
  });

  it('keeps what a run just reused: a cache hit marks its entry and blobs as recently used', async () => {
    const store = await tempStore();
    const reused = await storeRun(store, 'weekly', 1);
    await storeRun(store, 'weekly', 2);
    await storeRun(store, 'weekly', 3);
    const old = new Date(Date.now() - 3 * HOUR);
    for await (const a of store.listActions()) await utimes(join(store.root, 'ac', a.key.slice(0, 2), `${a.key}.json`), old, old);
    for await (const b of store.listBlobs()) await utimes(join(store.root, 'cas', 'sha256', b.digest.slice(0, 2), b.digest), old, old);
    // A run in progress hits run 1's result; its record will list it only when it ends.
    await store.markUsed(reused.key);
    const report = await collectGarbage(store, await runsNewestFirst(store), { keepRuns: 1, graceMs: HOUR, dryRun: false });
    expect(await isPresent(store, reused)).toEqual(KEPT);
    expect(report.deletedEntries).toHaveLength(1); // run 2's
  });

  it('treats a running run younger than the grace period as in progress even if its pid is dead', async () => {
    const store = await tempStore();
    const started = new Date(Date.now() + 90 * 60_000).toISOString(); // 30 min before `now` below
    const young = await storeRun(store, 'weekly', 1, { status: 'running', pid: await deadPid(), host: hostname(), startedAt: started });
    await storeRun(store, 'weekly', 2);
    const report = await collectGarbage(store, await runsNewestFirst(store), everythingOld(1));
    expect(report.keptRuns).toContain(young.runId);
    expect(await isPresent(store, young)).toEqual(KEPT);
  });

  it('keeps a kept directory output’s manifest and every file blob; deletes them all when dropped', async () => {
    const store = await tempStore();
    const dir = await tempDir();
    const ingest = async (name: string, files: Record<string, string>): Promise<OutputRecord> => {
      const root = join(dir, name);
      for (const [rel, text] of Object.entries(files)) {
        await mkdir(join(root, rel, '..'), { recursive: true });
        await writeFile(join(root, rel), text);
      }
      return { kind: 'dir', ...(await ingestDirectory(store, root)) };
    };
    const old = await storeRun(store, 'weekly', 1, {}, await ingest('old', { 'a.txt': 'old a', 'sub/b.txt': 'old b' }));
    const kept = await storeRun(store, 'weekly', 2, {}, await ingest('new', { 'a.txt': 'new a', 'sub/b.txt': 'new b' }));
    const oldBlobs = (await blobsOfOutput(store, old.output)).map((b) => b.digest);
    const keptBlobs = (await blobsOfOutput(store, kept.output)).map((b) => b.digest);

    const report = await collectGarbage(store, await runsNewestFirst(store), everythingOld(1));
    expect(report.deletedBlobs.sort()).toEqual([...oldBlobs].sort());
    expect((await contents(store)).blobs).toEqual([...keptBlobs].sort());
  });

  it('respects the grace period: young entries and blobs stay, and so do the old blobs young entries need', async () => {
    const store = await tempStore();
    const w1 = await storeRun(store, 'weekly', 1);
    const w2 = await storeRun(store, 'weekly', 2);
    const youngOrphan = await store.putBytes(Buffer.from('young orphan'));
    const oldOrphan = await store.putBytes(Buffer.from('old orphan'));
    await utimes(blobFile(store, oldOrphan.digest), longAgo, longAgo);
    const now = { graceMs: HOUR, dryRun: false, now: Date.now() };

    // w1's entry is young (kept by grace) but its blob is old: the entry still protects the blob.
    await utimes(blobFile(store, w1.output.digest), longAgo, longAgo);
    let report = await collectGarbage(store, await runsNewestFirst(store), { keepRuns: 1, ...now });
    expect(report.deletedEntries).toEqual([]);
    expect(report.deletedBlobs).toEqual([oldOrphan.digest]);
    expect(await isPresent(store, w1)).toEqual(KEPT);
    expect(await store.checkBlob(youngOrphan.digest, 'full')).toBe('ok');

    // Once w1's entry is old as well, both go.
    await utimes(actionFile(store, w1.key), longAgo, longAgo);
    report = await collectGarbage(store, await runsNewestFirst(store), { keepRuns: 1, ...now });
    expect(report.deletedEntries).toEqual([w1.key]);
    expect(report.deletedBlobs).toEqual([w1.output.digest]);
    expect(await isPresent(store, w1)).toEqual(GONE);
    expect(await isPresent(store, w2)).toEqual(KEPT);
  });

  it('dry run deletes nothing and reports exactly what a real run then deletes', async () => {
    const store = await tempStore();
    for (const second of [1, 2, 3]) await storeRun(store, 'weekly', second);
    await storeRun(store, 'other', 4);
    await store.putBytes(Buffer.from('orphan'));
    const runs = await runsNewestFirst(store);
    const before = await contents(store);

    const dry = await collectGarbage(store, runs, everythingOld(1, { dryRun: true }));
    expect(await contents(store)).toEqual(before);
    expect(dry.deletedEntries).toHaveLength(2);
    expect(dry.deletedBlobs).toHaveLength(3);

    const real = await collectGarbage(store, runs, everythingOld(1));
    const sorted = (r: typeof real): typeof real => ({ ...r, deletedEntries: [...r.deletedEntries].sort(), deletedBlobs: [...r.deletedBlobs].sort() });
    expect(sorted(real)).toEqual(sorted(dry));
    const after = await contents(store);
    expect(after.entries).toEqual(before.entries.filter((k) => !dry.deletedEntries.includes(k as CacheKey)));
    expect(after.blobs).toEqual(before.blobs.filter((d) => !dry.deletedBlobs.includes(d as Digest)));
  });
});

describe('collectGarbage scratch space', () => {
  it('removes old scratch dirs of dead processes, never those of live ones, and nothing in a dry run', async () => {
    const store = await tempStore();
    store.makeScratchDir('lays-out-the-store');
    // Scratch names carry the creator's pid; no process can have this one (above Linux's pid_max).
    const stale = join(store.root, 'tmp', 'killed-run-999999999-abc123');
    await mkdir(stale);
    await writeFile(join(stale, 'partial.bin'), 'half');
    await utimes(stale, longAgo, longAgo);
    const deadButYoung = join(store.root, 'tmp', 'just-died-999999999-def456');
    await mkdir(deadButYoung);
    const liveButOld = store.makeScratchDir('long-fine-tune'); // this process: alive
    await utimes(liveButOld, longAgo, longAgo);
    const options = { keepRuns: 1, graceMs: HOUR, now: Date.now() };

    await collectGarbage(store, [], { ...options, dryRun: true });
    expect([stale, deadButYoung, liveButOld].map((d) => existsSync(d))).toEqual([true, true, true]);

    const report = await collectGarbage(store, [], { ...options, dryRun: false });
    expect(report.removedScratch).toBe(1);
    expect([stale, deadButYoung, liveButOld].map((d) => existsSync(d))).toEqual([false, true, true]);
  });
});

describe('verifyStore', () => {
  it('reports a healthy store as healthy', async () => {
    const store = await tempStore();
    await storeRun(store, 'weekly', 1);
    await storeRun(store, 'weekly', 2);
    expect(await verifyStore(store, false)).toEqual({
      blobsChecked: 2,
      corruptBlobs: [],
      entriesChecked: 2,
      brokenEntries: [],
      signatures: { signedBy: {}, unsigned: 2 },
      untrustedEntries: null,
      fixed: false,
    });
  });

  it('finds corrupt blobs and entries that are unreadable or point at missing or corrupt blobs; fix removes them', async () => {
    const store = await tempStore();
    const healthy = await storeRun(store, 'weekly', 1);
    const corrupted = await storeRun(store, 'weekly', 2);
    const missing = await storeRun(store, 'weekly', 3);
    const truncated = await storeRun(store, 'weekly', 4);
    const dirRoot = join(await tempDir(), 'tree');
    await mkdir(dirRoot);
    await writeFile(join(dirRoot, 'file.txt'), 'inside a directory');
    const dirMissingFile = await storeRun(store, 'weekly', 5, {}, { kind: 'dir', ...(await ingestDirectory(store, dirRoot)) });
    const fileInDir = (await blobsOfOutput(store, dirMissingFile.output))[1]?.digest as Digest;

    await corruptBlob(store, corrupted.output.digest, 'garbage');
    await store.deleteBlob(missing.output.digest);
    await truncate(actionFile(store, truncated.key), 10);
    await store.deleteBlob(fileInDir);

    const expectedBroken = [
      { key: corrupted.key, problem: `output out: blob ${corrupted.output.digest} is corrupt` },
      { key: missing.key, problem: `output out: blob ${missing.output.digest} is missing` },
      { key: truncated.key, problem: 'entry unreadable' },
      { key: dirMissingFile.key, problem: `output out: blob ${fileInDir} is missing` },
    ];
    const byKey = (a: { key: string }, b: { key: string }): number => (a.key < b.key ? -1 : 1);

    const found = await verifyStore(store, false);
    expect(found.corruptBlobs).toEqual([corrupted.output.digest]);
    expect(found.brokenEntries.sort(byKey)).toEqual(expectedBroken.sort(byKey));
    expect(found).toMatchObject({ blobsChecked: 4, entriesChecked: 5, fixed: false }); // 6 stored, 2 deleted
    expect(await store.getAction(corrupted.key)).not.toBeUndefined(); // reporting alone changes nothing

    const fixed = await verifyStore(store, true);
    expect(fixed.fixed).toBe(true);
    expect(fixed.brokenEntries.sort(byKey)).toEqual(expectedBroken);
    for (const broken of [corrupted, missing, truncated, dirMissingFile]) expect(await store.getAction(broken.key)).toBeUndefined();
    expect(await store.checkBlob(corrupted.output.digest, 'full')).toBe('missing');
    expect(await isPresent(store, healthy)).toEqual(KEPT);

    expect(await verifyStore(store, false)).toMatchObject({ corruptBlobs: [], brokenEntries: [], entriesChecked: 1 });
  });
});
