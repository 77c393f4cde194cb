import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Bytes } from '../../cache/digest.js';
import { ingestDirectory, materializeDirectory } from '../../cache/manifest.js';
import { collectGarbage } from '../../cache/maintenance.js';
import type { LeaseTiming } from '../../cache/s3-lease.js';
import { createS3Client, loadS3Sdk } from '../../cache/s3-client.js';
import { S3Store } from '../../cache/s3-store.js';
import { actionEntry, keyOf, runIdAt, runRecord, stepRecord } from './helpers.js';
import { startMinio, type MinioServer } from '../support/minio.js';
import { tempDir } from '../support/temp-dir.js';

let minio: MinioServer;
let bucketCount = 0;

beforeAll(async () => {
  minio = await startMinio();
});

afterAll(async () => {
  await minio?.stop();
});

/** A store on its own fresh bucket, with its own local directory (its own "machine"). */
async function freshStore(options: ConstructorParameters<typeof S3Store>[1] = {}): Promise<S3Store> {
  const bucket = `store-test-${process.pid}-${++bucketCount}`;
  await minio.createBucket(bucket);
  Object.assign(process.env, minio.env);
  return new S3Store({ bucket, prefix: 'team/cache' }, { localRoot: await tempDir('flywheel-s3-local'), ...options });
}

/** A real client whose GET bodies pass through `change` (which sees the request's Range header). */
async function clientChangingBodies(change: (body: Readable, range: string | undefined) => Readable): Promise<S3Client> {
  Object.assign(process.env, minio.env);
  const real = createS3Client(await loadS3Sdk());
  const send = async (command: { input: { Range?: string } }): Promise<unknown> => {
    const output = (await real.send(command as never)) as { Body?: unknown };
    if (command instanceof GetObjectCommand && output.Body !== undefined) output.Body = change(output.Body as Readable, command.input.Range);
    return output;
  };
  return Object.assign(Object.create(real) as S3Client, { send });
}

/** A file of `mib` MiB whose every MiB differs, so a byte in the wrong place changes the digest. */
async function patternedFile(dir: string, mib: number): Promise<string> {
  const file = join(dir, 'patterned.bin');
  const parts = Array.from({ length: mib }, (_, m) => {
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + m * 7) % 251;
    return chunk;
  });
  await writeFile(file, Buffer.concat(parts));
  return file;
}

describe('S3 store against a real MinIO', () => {
  it('round-trips files, bytes and directories, verifying what it reads', async () => {
    const store = await freshStore();
    const dir = await tempDir('flywheel-s3-files');
    const file = join(dir, 'model.bin');
    await writeFile(file, Buffer.alloc(3 * 1024 * 1024, 7));
    const stored = await store.putFile(file);
    expect(stored.size).toBe(3 * 1024 * 1024);
    const copy = join(dir, 'copy.bin');
    await store.copyBlobTo(stored.digest, copy);
    expect(sha256Bytes(await readFile(copy))).toBe(stored.digest);
    const bytes = await store.putBytes(Buffer.from('{"a":1}'));
    expect((await store.readBytes(bytes.digest)).toString()).toBe('{"a":1}');

    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'sub'), { recursive: true });
    await writeFile(join(tree, 'sub', 'x.txt'), 'x');
    await writeFile(join(tree, 'y.txt'), 'y');
    const manifest = await ingestDirectory(store, tree);
    const restored = join(dir, 'restored');
    await materializeDirectory(store, manifest.digest, restored);
    expect(await readFile(join(restored, 'sub', 'x.txt'), 'utf8')).toBe('x');
    const listed = [];
    for await (const blob of store.listBlobs()) listed.push(blob.digest);
    expect(listed).toEqual(expect.arrayContaining([stored.digest, bytes.digest, manifest.digest]));
  });

  it('uploads large blobs in parts and downloads them streamed and verified', async () => {
    const store = await freshStore();
    const dir = await tempDir('flywheel-s3-large');
    const file = join(dir, 'big.bin');
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) % 251;
    // 130 MiB: several upload parts and several download ranges.
    await writeFile(file, Buffer.concat(Array.from({ length: 130 }, () => chunk)));
    const stored = await store.putFile(file);
    const copy = join(dir, 'copy.bin');
    await store.copyBlobTo(stored.digest, copy);
    expect(sha256Bytes(await readFile(copy))).toBe(stored.digest);
    expect(await store.checkBlob(stored.digest, 'full', stored.size)).toBe('ok');
  });

  it('detects an object changed inside the bucket', async () => {
    const store = await freshStore();
    const stored = await store.putBytes(Buffer.from('original bytes'));
    const key = `team/cache/cas/sha256/${stored.digest.slice(0, 2)}/${stored.digest}`;
    await minio.client.send(new PutObjectCommand({ Bucket: store.location.bucket, Key: key, Body: Buffer.from('tampered bytes') }));
    expect(await store.checkBlob(stored.digest, 'hit', stored.size)).toBe('corrupt');
    await expect(store.readBytes(stored.digest)).rejects.toThrow(/corrupt/);
  });

  it('downloads ranges in parallel and resumes dropped connections without hashing a byte twice', async () => {
    const dir = await tempDir('flywheel-s3-resume');
    const uploader = await freshStore();
    const stored = await uploader.putFile(await patternedFile(dir, 40));
    // Every range's first connection drops after 1.5 MiB, mid-chunk; a resumed one asks for the same end.
    const requests: string[] = [];
    const client = await clientChangingBodies((body, range) => {
      requests.push(range ?? 'whole');
      const end = range?.split('-')[1];
      if (requests.filter((r) => r.split('-')[1] === end).length > 1) return body;
      return Readable.from(
        (async function* () {
          let sent = 0;
          for await (const chunk of body as AsyncIterable<Buffer>) {
            const room = 1.5 * 1024 * 1024 - sent;
            if (chunk.length >= room) {
              yield chunk.subarray(0, room);
              throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
            }
            sent += chunk.length;
            yield chunk;
          }
        })(),
      );
    });
    const rangeBytes = 6 * 1024 * 1024;
    const reader = new S3Store(uploader.location, {
      client,
      localRoot: await tempDir('flywheel-s3-local'),
      downloadRanges: { bytes: rangeBytes, concurrency: 3 },
    });
    const copy = join(dir, 'copy.bin');
    await reader.copyBlobTo(stored.digest, copy);
    expect(sha256Bytes(await readFile(copy))).toBe(stored.digest);
    // Seven ranges, each dropped once and resumed from where it stopped.
    const size = 40 * 1024 * 1024;
    const expected = Array.from({ length: 7 }, (_, i) => {
      const end = Math.min(size, (i + 1) * rangeBytes) - 1;
      return [`bytes=${i * rangeBytes}-${end}`, `bytes=${i * rangeBytes + 1.5 * 1024 * 1024}-${end}`];
    }).flat();
    expect([...requests].sort()).toEqual(expected.sort());
  });

  it('reports a download whose bytes changed on the way as corrupt and leaves no file behind', async () => {
    const dir = await tempDir('flywheel-s3-flipped');
    const uploader = await freshStore();
    const stored = await uploader.putFile(await patternedFile(dir, 20));
    const client = await clientChangingBodies((body) =>
      Readable.from(
        (async function* () {
          let first = true;
          for await (const chunk of body as AsyncIterable<Buffer>) {
            if (first) chunk[0] = (chunk[0] as number) ^ 1;
            first = false;
            yield chunk;
          }
        })(),
      ),
    );
    const reader = new S3Store(uploader.location, {
      client,
      localRoot: await tempDir('flywheel-s3-local'),
      downloadRanges: { bytes: 4 * 1024 * 1024, concurrency: 2 },
    });
    const copy = join(dir, 'copy.bin');
    await expect(reader.copyBlobTo(stored.digest, copy)).rejects.toThrow(/corrupt/);
    expect(existsSync(copy)).toBe(false);
  });

  it("re-hashes the bucket's bytes on every hit when FLYWHEEL_VERIFY=always", async () => {
    const store = await freshStore();
    const dir = await tempDir('flywheel-s3-always');
    const file = join(dir, 'blob.bin');
    await writeFile(file, Buffer.alloc(2 * 1024 * 1024, 5)); // above the size a hit downloads anyway
    const stored = await store.putFile(file);
    const key = `team/cache/cas/sha256/${stored.digest.slice(0, 2)}/${stored.digest}`;
    // Same size, other bytes, and no SHA-256 for the bucket to compare: only a download can tell.
    await minio.client.send(new PutObjectCommand({ Bucket: store.location.bucket, Key: key, Body: Buffer.alloc(2 * 1024 * 1024, 6) }));
    expect(await store.checkBlob(stored.digest, 'hit', stored.size)).toBe('ok');
    const before = process.env.FLYWHEEL_VERIFY;
    process.env.FLYWHEEL_VERIFY = 'always';
    try {
      expect(await store.checkBlob(stored.digest, 'hit', stored.size)).toBe('corrupt');
    } finally {
      if (before === undefined) delete process.env.FLYWHEEL_VERIFY;
      else process.env.FLYWHEEL_VERIFY = before;
    }
  });

  it('lets eight concurrent writers store the same blob, intact', async () => {
    const store = await freshStore();
    const payload = Buffer.alloc(20 * 1024 * 1024, 3); // multipart
    const dir = await tempDir('flywheel-s3-writers');
    const results = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const file = join(dir, `w${i}.bin`);
        await writeFile(file, payload);
        return store.putFile(file, { move: true });
      }),
    );
    expect(new Set(results.map((r) => r.digest)).size).toBe(1);
    const digest = results[0]?.digest as string;
    const object = await minio.client.send(
      new GetObjectCommand({ Bucket: store.location.bucket, Key: `team/cache/cas/sha256/${digest.slice(0, 2)}/${digest}` }),
    );
    expect(sha256Bytes(Buffer.from(await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()))).toBe(digest);
  });

  it('collects garbage in the bucket: keeps what the newest runs reference, --dry-run deletes nothing', async () => {
    const store = await freshStore();
    const stored = [];
    for (const second of [1, 2]) {
      const out = { kind: 'json' as const, ...(await store.putBytes(Buffer.from(`{"run":${second}}`))) };
      const key = keyOf(`s3-gc@${second}`);
      const runId = runIdAt(second);
      await store.putAction(actionEntry(key, { out }, runId));
      await store.putRun(runRecord({ runId, pipeline: 'weekly', steps: [stepRecord('step', key, { out })] }));
      stored.push({ key, out });
    }
    const runs = (await Promise.all((await store.listRunIds()).map((id) => store.getRun(id)))).filter((r) => r !== undefined);
    const future = Date.now() + 3_600_000; // everything is older than the grace period
    const dry = await collectGarbage(store, runs, { keepRuns: 1, graceMs: 60_000, dryRun: true, now: future });
    expect(dry.deletedEntries).toEqual([stored[0]?.key]);
    expect(dry.deletedBlobs).toEqual([stored[0]?.out.digest]);
    expect(await store.getAction(stored[0]?.key as never)).toBeDefined();
    await collectGarbage(store, runs, { keepRuns: 1, graceMs: 60_000, dryRun: false, now: future });
    expect(await store.getAction(stored[0]?.key as never)).toBeUndefined();
    expect(await store.checkBlob(stored[0]?.out.digest as never, 'hit')).toBe('missing');
    expect(await store.checkBlob(stored[1]?.out.digest as never, 'full')).toBe('ok');
  });

  it('keeps the first action-cache entry when two writers race (conditional write)', async () => {
    const store = await freshStore();
    const blob = await store.putBytes(Buffer.from('"x"'));
    const entry = (runId: string) => ({
      format: 'flywheel.action/v1' as const,
      key: 'e'.repeat(64) as never,
      step: 's',
      createdAt: new Date().toISOString(),
      durationMs: 1,
      runId,
      outputs: { out: { kind: 'json' as const, ...blob } },
      components: { step: 's', version: '1', ports: { inputs: {}, outputs: { out: 'json' } }, config: {}, inputs: {}, env: {} },
    });
    await Promise.all([store.putAction(entry('first')), store.putAction(entry('second'))]);
    const stored = await store.getAction('e'.repeat(64) as never);
    if (stored === undefined || stored === 'unreadable') throw new Error(`expected an entry, got ${String(stored)}`);
    expect(['first', 'second']).toContain(stored.runId);
  });
});

/** Quick leases, so staleness shows in a test: renewed every 100 ms, taken over after 600 ms unchanged. */
const QUICK: LeaseTiming = { renewMs: 100, staleAfterMs: 600, pollMs: 25 };

/** Two "machines" (each its own local directory) on one fresh bucket. */
async function twoMachines(): Promise<[S3Store, S3Store, string]> {
  const bucket = `store-test-${process.pid}-${++bucketCount}`;
  await minio.createBucket(bucket);
  Object.assign(process.env, minio.env);
  const machine = async (): Promise<S3Store> =>
    new S3Store({ bucket, prefix: 'team' }, { localRoot: await tempDir('flywheel-s3-machine'), leaseTiming: QUICK });
  return [await machine(), await machine(), bucket];
}

describe('leases on keys in a shared bucket (real MinIO)', () => {
  it('lets one machine hold a key; the other is told who holds it, or waits and shares its failure', async () => {
    const [a, b] = await twoMachines();
    const key = keyOf('train');
    const held = await a.claimKey(key, { wait: false });
    if (!held.claimed) throw new Error('the first claim must succeed');
    const refused = await b.claimKey(key, { wait: false });
    expect(refused).toMatchObject({ claimed: false, holder: { description: expect.stringMatching(/^pid \d+ on /) } });

    const waiting = b.claimKey(key, { wait: true });
    await new Promise((resolve) => setTimeout(resolve, 300)); // the holder renews meanwhile: still held
    await held.lease.release({ code: 'STEP_FAILED', message: 'train diverged' });
    const waited = await waiting;
    expect(waited).toMatchObject({ claimed: true, sharedFailure: { code: 'STEP_FAILED', message: 'train diverged' } });
    if (waited.claimed) await waited.lease.release();

    // A machine that never waited for that holder gets the key to itself.
    const fresh = await a.claimKey(key, { wait: false });
    expect(fresh.claimed && fresh.sharedFailure === undefined).toBe(true);
    if (fresh.claimed) await fresh.lease.release();
  });

  it('takes over a lease whose holder on another host stopped renewing it, and never one that is renewed', async () => {
    const [a, b, bucket] = await twoMachines();
    const live = keyOf('live');
    const held = await a.claimKey(live, { wait: false });
    expect(held.claimed).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // longer than staleAfterMs: renewals keep it
    expect((await b.claimKey(live, { wait: false })).claimed).toBe(false);
    if (held.claimed) await held.lease.release();

    // A lease written by a machine that died: nobody renews it.
    const dead = keyOf('dead');
    const body = JSON.stringify({ host: 'a-host-that-died', pid: 4242, token: 'dead-token', since: new Date().toISOString() });
    await minio.client.send(new PutObjectCommand({ Bucket: bucket, Key: `team/locks/${dead}`, Body: body }));
    const started = Date.now();
    const taken = await b.claimKey(dead, { wait: true, onWait: () => undefined });
    expect(taken.claimed).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(QUICK.staleAfterMs);
    if (taken.claimed) await taken.lease.release();
  });

  it("journals a running run's steps beside its record and folds them in when the run is written whole", async () => {
    const [a, b, bucket] = await twoMachines();
    const runId = runIdAt(7);
    const pending = (id: string) => ({ id, step: id, status: 'pending' as const, reasonCodes: [], reason: 'not reached', outputs: {} });
    await a.putRun(runRecord({ runId, pipeline: 'p', status: 'running', steps: [pending('one'), pending('two')] }));
    await a.appendRunSteps(runId, [stepRecord('one', keyOf('one'), {})]);
    const midway = await b.getRun(runId);
    expect(midway?.steps.map((s) => [s.id, s.status])).toEqual([
      ['one', 'executed'],
      ['two', 'pending'],
    ]);
    await a.putRun(runRecord({ runId, pipeline: 'p', status: 'succeeded', steps: [stepRecord('one', keyOf('one'), {}), stepRecord('two', keyOf('two'), {})] }));
    const done = await b.getRun(runId);
    expect(done?.status).toBe('succeeded');
    const left = await minio.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `team/run-journals/${runId}/` }));
    expect(left.Contents ?? []).toEqual([]);
  });
});
