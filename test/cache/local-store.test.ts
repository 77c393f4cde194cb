import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Digest } from '../../cache/digest.js';
import { blobsOfOutput, ingestDirectory, materializeDirectory, readManifest } from '../../cache/manifest.js';
import { BlobUnavailableError, type Store } from '../../cache/store.js';
import { actionEntry, actionFile, blobFile, corruptBlob, keyOf, runIdAt, runRecord, stepRecord, tempDir, tempStore } from './helpers.js';

const sha256 = (bytes: string | Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function listAll(store: Store): Promise<Digest[]> {
  const digests: Digest[] = [];
  for await (const blob of store.listBlobs()) digests.push(blob.digest);
  return digests.sort();
}

/** Expects `work` to reject with BlobUnavailableError in the given state. */
async function expectUnavailable(work: Promise<unknown>, state: 'missing' | 'corrupt'): Promise<void> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BlobUnavailableError);
  expect((error as BlobUnavailableError).state).toBe(state);
}

describe('blobs', () => {
  it('putBytes → readBytes round trip, addressed by SHA-256 and stored read-only', async () => {
    const store = await tempStore();
    const stored = await store.putBytes(Buffer.from('hello blob'));
    expect(stored).toEqual({ digest: sha256('hello blob'), size: 10 });
    expect((await store.readBytes(stored.digest)).toString()).toBe('hello blob');
    expect((await stat(blobFile(store, stored.digest))).mode & 0o777).toBe(0o444);
  });

  it('stores the empty blob', async () => {
    const store = await tempStore();
    const stored = await store.putBytes(new Uint8Array());
    expect(stored).toEqual({ digest: sha256(''), size: 0 });
    expect((await store.readBytes(stored.digest)).length).toBe(0);
  });

  it('putFile copies by default and leaves the source in place', async () => {
    const store = await tempStore();
    const source = join(await tempDir(), 'weights.bin');
    await writeFile(source, 'weights');
    const stored = await store.putFile(source);
    expect(stored).toEqual({ digest: sha256('weights'), size: 7 });
    expect(await readFile(source, 'utf8')).toBe('weights');
    expect((await store.readBytes(stored.digest)).toString()).toBe('weights');
    expect((await stat(blobFile(store, stored.digest))).mode & 0o777).toBe(0o444);
  });

  it('putFile with move consumes the source', async () => {
    const store = await tempStore();
    const scratch = store.makeScratchDir('step');
    const source = join(scratch, 'out.txt');
    await writeFile(source, 'moved bytes');
    const stored = await store.putFile(source, { move: true });
    expect(existsSync(source)).toBe(false);
    expect((await store.readBytes(stored.digest)).toString()).toBe('moved bytes');
    expect((await stat(blobFile(store, stored.digest))).mode & 0o777).toBe(0o444);
  });

  it('putFile with move consumes the source when the blob already exists, keeping the stored blob', async () => {
    const store = await tempStore();
    const first = await store.putBytes(Buffer.from('same'));
    const source = join(store.makeScratchDir('step'), 'again.txt');
    await writeFile(source, 'same');
    expect(await store.putFile(source, { move: true })).toEqual(first);
    expect(existsSync(source)).toBe(false);
    expect(await listAll(store)).toEqual([first.digest]);
  });

  // Needs a second filesystem; /dev/shm is tmpfs on Linux. Skipped where it is the same device.
  const otherFs = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(tmpdir()).dev ? '/dev/shm' : undefined;
  it.skipIf(otherFs === undefined)('putFile with move falls back to copy + delete across filesystems', async () => {
    const store = await tempStore();
    const elsewhere = await mkdtemp(join(otherFs as string, 'flywheel-cache-test-'));
    try {
      const source = join(elsewhere, 'far.txt');
      await writeFile(source, 'from another filesystem');
      const stored = await store.putFile(source, { move: true });
      expect(existsSync(source)).toBe(false);
      expect((await store.readBytes(stored.digest)).toString()).toBe('from another filesystem');
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('dedups: the same bytes stored twice (by bytes or by file) are one blob', async () => {
    const store = await tempStore();
    const a = await store.putBytes(Buffer.from('twice'));
    const b = await store.putBytes(Buffer.from('twice'));
    const source = join(await tempDir(), 'f');
    await writeFile(source, 'twice');
    const c = await store.putFile(source);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(await listAll(store)).toEqual([a.digest]);
    // Nothing left behind in scratch space either.
    expect(await readdir(join(store.root, 'tmp'))).toEqual([]);
  });

  it('copyBlobTo writes a verified copy and refuses to overwrite (leaving the existing file intact)', async () => {
    const store = await tempStore();
    const dir = await tempDir();
    const { digest } = await store.putBytes(Buffer.from('payload'));
    await store.copyBlobTo(digest, join(dir, 'copy'));
    expect(await readFile(join(dir, 'copy'), 'utf8')).toBe('payload');
    // An ordinary file the step may rewrite, not a read-only blob like its source.
    expect((await stat(join(dir, 'copy'))).mode & 0o777).toBe(0o644);

    await writeFile(join(dir, 'precious'), 'do not delete');
    await expect(store.copyBlobTo(digest, join(dir, 'precious'))).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(join(dir, 'precious'), 'utf8')).toBe('do not delete');
  });

  it('reports a missing blob as missing, from every reader, and leaves no partial copy', async () => {
    const store = await tempStore();
    const dir = await tempDir();
    const absent = sha256('never stored') as Digest;
    await expectUnavailable(store.readBytes(absent), 'missing');
    await expectUnavailable(store.copyBlobTo(absent, join(dir, 'out')), 'missing');
    expect(existsSync(join(dir, 'out'))).toBe(false);
    expect(await store.checkBlob(absent, 'full')).toBe('missing');
    expect(await store.checkBlob(absent, 'hit')).toBe('missing');
  });

  it('verifies the digest on read: a blob corrupted in place is reported corrupt, never returned', async () => {
    const store = await tempStore();
    const dir = await tempDir();
    const { digest } = await store.putBytes(Buffer.from('original'));
    await corruptBlob(store, digest, 'tampered'); // same length, so only a re-hash can tell
    await expectUnavailable(store.readBytes(digest), 'corrupt');
    await expectUnavailable(store.copyBlobTo(digest, join(dir, 'out')), 'corrupt');
    expect(existsSync(join(dir, 'out'))).toBe(false);
    expect(await store.checkBlob(digest, 'full')).toBe('corrupt');
    expect(await store.checkBlob(digest, 'hit')).toBe('corrupt'); // small blobs are fully re-hashed on a hit
  });

  it('checkBlob: ok for an intact blob, corrupt when the expected size differs', async () => {
    const store = await tempStore();
    const { digest, size } = await store.putBytes(Buffer.from('sized'));
    expect(await store.checkBlob(digest, 'full')).toBe('ok');
    expect(await store.checkBlob(digest, 'hit', size)).toBe('ok');
    expect(await store.checkBlob(digest, 'full', size + 1)).toBe('corrupt');
    expect(await store.checkBlob(digest, 'hit', size - 1)).toBe('corrupt');
  });

  it('deleteBlob removes a blob and ignores one that is already gone', async () => {
    const store = await tempStore();
    const { digest } = await store.putBytes(Buffer.from('bye'));
    await store.deleteBlob(digest);
    await store.deleteBlob(digest);
    expect(await store.checkBlob(digest, 'full')).toBe('missing');
    expect(await listAll(store)).toEqual([]);
  });
});

describe('action-cache entries', () => {
  it('round trip, list and delete', async () => {
    const store = await tempStore();
    const { digest, size } = await store.putBytes(Buffer.from('{"score":1}'));
    const entry = actionEntry(keyOf('evaluate'), { metrics: { kind: 'json', digest, size } });
    expect(await store.getAction(entry.key)).toBeUndefined();
    await store.putAction(entry);
    expect(await store.getAction(entry.key)).toEqual(entry);
    const listed: string[] = [];
    for await (const a of store.listActions()) listed.push(a.key);
    expect(listed).toEqual([entry.key]);
    await store.deleteAction(entry.key);
    expect(await store.getAction(entry.key)).toBeUndefined();
  });

  it('reads a truncated entry file as unreadable, not as an error', async () => {
    const store = await tempStore();
    const entry = actionEntry(keyOf('train'), {});
    await store.putAction(entry);
    const path = actionFile(store, entry.key);
    await truncate(path, Math.floor((await stat(path)).size / 2));
    expect(await store.getAction(entry.key)).toBe('unreadable');
  });

  it('reads valid JSON that is not an entry, or an entry filed under another key, as unreadable', async () => {
    const store = await tempStore();
    const key = keyOf('a');
    await store.putAction(actionEntry(key, {}));
    await writeFile(actionFile(store, key), '{"format":"something-else"}');
    expect(await store.getAction(key)).toBe('unreadable');

    const other = keyOf('b');
    await mkdir(join(actionFile(store, other), '..'), { recursive: true });
    await writeFile(actionFile(store, other), JSON.stringify(actionEntry(key, {})));
    expect(await store.getAction(other)).toBe('unreadable');
  });
});

describe('run records and pins', () => {
  it('put/get round trip; absent runs are undefined', async () => {
    const store = await tempStore();
    const key = keyOf('train');
    const record = runRecord({ runId: runIdAt(1), pipeline: 'weekly', steps: [stepRecord('train', key, {})] });
    await store.putRun(record);
    expect(await store.getRun(record.runId)).toEqual(record);
    expect(await store.getRun(runIdAt(2))).toBeUndefined();
  });

  it('listRunIds returns ids newest first whatever the write order', async () => {
    const store = await tempStore();
    for (const second of [2, 9, 1, 5]) await store.putRun(runRecord({ runId: runIdAt(second), pipeline: 'p', steps: [] }));
    expect(await store.listRunIds()).toEqual([runIdAt(9), runIdAt(5), runIdAt(2), runIdAt(1)]);
  });

  it('rejects run ids that could escape the runs directory', async () => {
    const store = await tempStore();
    await expect(store.putRun(runRecord({ runId: '../escape', pipeline: 'p', steps: [] }))).rejects.toThrow(/invalid run id/);
    await expect(store.setPinned('a/b', true)).rejects.toThrow(/invalid run id/);
  });

  it('reports an unreadable run record with its id', async () => {
    const store = await tempStore();
    await store.putRun(runRecord({ runId: runIdAt(1), pipeline: 'p', steps: [] }));
    await writeFile(join(store.root, 'runs', `${runIdAt(1)}.json`), '{"format":');
    await expect(store.getRun(runIdAt(1))).rejects.toThrow(`run record ${runIdAt(1)}`);
  });

  it('pins and unpins runs', async () => {
    const store = await tempStore();
    expect(await store.listPinned()).toEqual(new Set());
    await store.setPinned(runIdAt(1), true);
    await store.setPinned(runIdAt(2), true);
    await store.setPinned(runIdAt(1), true); // idempotent
    expect(await store.listPinned()).toEqual(new Set([runIdAt(1), runIdAt(2)]));
    await store.setPinned(runIdAt(1), false);
    await store.setPinned(runIdAt(3), false); // unpinning what was never pinned is fine
    expect(await store.listPinned()).toEqual(new Set([runIdAt(2)]));
  });
});

describe('scratch dirs and key locks', () => {
  it('makeScratchDir gives fresh private dirs inside the store, with a sanitised label', async () => {
    const store = await tempStore();
    const a = store.makeScratchDir('fine tune/../x');
    const b = store.makeScratchDir('fine tune/../x');
    expect(a).not.toBe(b);
    for (const dir of [a, b]) {
      expect(dir.startsWith(join(store.root, 'tmp', 'fine_tune_.._x-'))).toBe(true);
      expect((await stat(dir)).isDirectory()).toBe(true);
    }
  });

  it('claimKey holds a lock file under locks/ until released', async () => {
    const store = await tempStore();
    const key = keyOf('train');
    const claim = await store.claimKey(key, { wait: false });
    if (!claim.claimed) throw new Error('expected the claim');
    const path = join(store.root, 'locks', `${key}.lock`);
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ pid: process.pid });
    await claim.lease.release();
    expect(existsSync(path)).toBe(false);
  });

  it("claimKey answers who holds a key, and hands a holder's failure to the claims that waited for it", async () => {
    const store = await tempStore();
    const key = keyOf('flaky');
    const first = await store.claimKey(key, { wait: false });
    if (!first.claimed) throw new Error('expected the first claim');
    const second = await store.claimKey(key, { wait: false });
    expect(second.claimed).toBe(false);
    const holder = second.claimed ? undefined : second.holder;
    expect(holder?.description).toBe(`pid ${process.pid} on ${hostname()}`);

    const waiting = store.claimKey(key, { wait: true });
    await first.lease.release({ code: 'STEP_FAILED', message: 'flaky failed', codeDigest: 'c0de' });
    const waited = await waiting;
    // The failed code's digest travels with the failure, so a waiter running other code does not share it.
    expect(waited).toMatchObject({ claimed: true, sharedFailure: { code: 'STEP_FAILED', message: 'flaky failed', codeDigest: 'c0de' } });
    if (waited.claimed) await waited.lease.release();

    // A claim that never waited for that holder executes afresh; one that was handed its token shares the failure.
    const fresh = await store.claimKey(key, { wait: false });
    expect(fresh).toMatchObject({ claimed: true });
    expect(fresh.claimed && fresh.sharedFailure).toBeFalsy();
    if (fresh.claimed) await fresh.lease.release();
    const handedOn = await store.claimKey(key, { wait: true, waitedFor: [holder?.token ?? ''] });
    expect(handedOn).toMatchObject({ claimed: true, sharedFailure: { message: 'flaky failed' } });
    if (handedOn.claimed) await handedOn.lease.release();
  });
});

/** Type, content, executable bit and link target of every entry under `root`, sorted by path. */
async function describeTree(root: string, relative = ''): Promise<string[]> {
  const lines: string[] = [];
  for (const name of (await readdir(join(root, relative))).sort()) {
    const rel = relative === '' ? name : `${relative}/${name}`;
    const full = join(root, rel);
    const info = await lstat(full);
    if (info.isSymbolicLink()) lines.push(`link ${rel} -> ${await readlink(full)}`);
    else if (info.isDirectory()) lines.push(`dir ${rel}`, ...(await describeTree(root, rel)));
    else lines.push(`file ${rel} ${(info.mode & 0o111) !== 0 ? 'x' : '-'} ${await readFile(full, 'utf8')}`);
  }
  return lines;
}

type TreeStep = () => Promise<void>;

/** The steps that build one test tree; running them in any order gives the same tree. */
function treeSteps(root: string): TreeStep[] {
  const file =
    (rel: string, text: string, mode = 0o644): TreeStep =>
    async () => {
      await mkdir(join(root, rel, '..'), { recursive: true });
      await writeFile(join(root, rel), text);
      await chmod(join(root, rel), mode);
    };
  return [
    file('README.md', 'top'),
    file('model/config.json', '{"layers":2}'),
    file('model/weights/shard-0.bin', 'shard zero'),
    file('model/weights/shard-1.bin', 'shard zero'), // same bytes as shard-0: one blob
    file('bin/serve.sh', '#!/bin/sh\necho serve\n', 0o755),
    async () => void (await mkdir(join(root, 'logs/empty'), { recursive: true })),
    async () => {
      await mkdir(join(root, 'links'), { recursive: true });
      await symlink('../model/config.json', join(root, 'links/config.json'));
    },
  ];
}

async function buildTree(root: string, order: 'forward' | 'reverse'): Promise<string> {
  const steps = treeSteps(root);
  for (const step of order === 'forward' ? steps : steps.reverse()) await step();
  return root;
}

describe('directories', () => {
  it('ingestDirectory → materializeDirectory round trip keeps files, empty dirs, exec bits and symlinks', async () => {
    const store = await tempStore();
    const dir = await tempDir();
    const source = await buildTree(join(dir, 'source'), 'forward');
    const { digest } = await ingestDirectory(store, source);
    await materializeDirectory(store, digest, join(dir, 'restored'));
    const restored = await describeTree(join(dir, 'restored'));
    expect(restored).toEqual(await describeTree(source));
    expect(restored).toEqual([
      'file README.md - top',
      'dir bin',
      'file bin/serve.sh x #!/bin/sh\necho serve\n',
      'dir links',
      'link links/config.json -> ../model/config.json',
      'dir logs',
      'dir logs/empty',
      'dir model',
      'file model/config.json - {"layers":2}',
      'dir model/weights',
      'file model/weights/shard-0.bin - shard zero',
      'file model/weights/shard-1.bin - shard zero',
    ]);
  });

  it('equal trees get equal digests regardless of creation order; any difference changes the digest', async () => {
    const store = await tempStore();
    const dir = await tempDir();
    const forward = await ingestDirectory(store, await buildTree(join(dir, 'a'), 'forward'));
    const reverse = await ingestDirectory(store, await buildTree(join(dir, 'b'), 'reverse'));
    expect(reverse).toEqual(forward);

    const variants: Array<[string, (root: string) => Promise<void>]> = [
      ['exec bit dropped', (root) => chmod(join(root, 'bin/serve.sh'), 0o644)],
      ['empty dir added', (root) => mkdir(join(root, 'logs/more'))],
      ['file content', (root) => writeFile(join(root, 'README.md'), 'top!')],
      [
        'symlink target',
        async (root) => {
          await rm(join(root, 'links/config.json'));
          await symlink('../README.md', join(root, 'links/config.json'));
        },
      ],
    ];
    const digests = new Set([forward.digest]);
    for (const [name, change] of variants) {
      const root = await buildTree(join(dir, name.replace(/ /g, '-')), 'forward');
      await change(root);
      digests.add((await ingestDirectory(store, root)).digest);
    }
    expect(digests.size).toBe(variants.length + 1);
  });

  it('the manifest lists every entry sorted by path; blobsOfOutput lists the manifest and its files', async () => {
    const store = await tempStore();
    const source = await buildTree(join(await tempDir(), 'tree'), 'forward');
    const stored = await ingestDirectory(store, source);
    const manifest = await readManifest(store, stored.digest);
    const paths = manifest.entries.map((e) => e.path);
    expect(paths).toEqual([...paths].sort());
    expect(manifest.entries.find((e) => e.path === 'bin/serve.sh')).toMatchObject({ type: 'file', executable: true, size: 21 });

    const blobs = await blobsOfOutput(store, { kind: 'dir', ...stored });
    expect(blobs[0]).toEqual(stored);
    const fileBlobs = blobs
      .slice(1)
      .map((b) => `${b.digest}:${b.size}`)
      .sort();
    const expected = ['top', '{"layers":2}', 'shard zero', 'shard zero', '#!/bin/sh\necho serve\n'].map((t) => `${sha256(t)}:${Buffer.byteLength(t)}`).sort();
    expect(fileBlobs).toEqual(expected);
    // Stored blobs: the manifest plus four distinct file contents.
    expect((await listAll(store)).length).toBe(5);
  });

  it('blobsOfOutput of a file or JSON output is just that blob', async () => {
    const store = await tempStore();
    const stored = await store.putBytes(Buffer.from('x'));
    expect(await blobsOfOutput(store, { kind: 'file', ...stored })).toEqual([stored]);
    expect(await blobsOfOutput(store, { kind: 'json', ...stored })).toEqual([stored]);
  });

  it('ingestDirectory with move consumes the files', async () => {
    const store = await tempStore();
    const source = await buildTree(join(store.makeScratchDir('out'), 'tree'), 'forward');
    const { digest } = await ingestDirectory(store, source, { move: true });
    expect((await describeTree(source)).filter((line) => line.startsWith('file '))).toEqual([]);
    const restored = join(await tempDir(), 'restored');
    await materializeDirectory(store, digest, restored);
    expect(await readFile(join(restored, 'model/weights/shard-1.bin'), 'utf8')).toBe('shard zero');
  });

  it('materializeDirectory verifies every file it restores', async () => {
    const store = await tempStore();
    const source = await buildTree(join(await tempDir(), 'tree'), 'forward');
    const { digest } = await ingestDirectory(store, source);
    await corruptBlob(store, sha256('top') as Digest, 'tip');
    await expectUnavailable(materializeDirectory(store, digest, join(await tempDir(), 'restored')), 'corrupt');
  });

  it('readManifest refuses entries that would escape the destination', async () => {
    const store = await tempStore();
    for (const path of ['../evil', '/etc/evil', 'a//b', 'a/../../b']) {
      const manifest = { format: 'flywheel.dir/v1', entries: [{ type: 'dir', path }] };
      const { digest } = await store.putBytes(Buffer.from(JSON.stringify(manifest)));
      await expect(readManifest(store, digest)).rejects.toThrow(/unsafe manifest path/);
    }
    // A file below a symlink entry would be written wherever the link points.
    const viaLink = {
      format: 'flywheel.dir/v1',
      entries: [
        { type: 'symlink', path: 'out', target: '/etc' },
        { type: 'file', path: 'out/passwd', digest: 'a'.repeat(64), size: 1, executable: false },
      ],
    };
    const { digest } = await store.putBytes(Buffer.from(JSON.stringify(viaLink)));
    await expect(readManifest(store, digest)).rejects.toThrow(/unsafe manifest path "out\/passwd"/);
  });

  it('readManifest refuses a blob that is not a manifest', async () => {
    const store = await tempStore();
    const { digest } = await store.putBytes(Buffer.from('{"format":"flywheel.dir/v0","entries":[]}'));
    await expect(readManifest(store, digest)).rejects.toThrow(/not a directory manifest/);
  });
});

describe('sharing a failure with the runs that waited', () => {
  it('shares it only with the same code: a fix under an unchanged version gets its own try', async () => {
    const { failureToShare } = await import('../../engine/execute/execute-once.js');
    const failure = { code: 'STEP_FAILED', message: 'train diverged', codeDigest: 'old' };
    expect(failureToShare(failure, 'old')).toBe(failure);
    expect(failureToShare(failure, 'fixed')).toBeUndefined();
    expect(failureToShare({ code: 'STEP_FAILED', message: 'no fingerprint' }, 'fixed')).toMatchObject({ message: 'no fingerprint' });
    expect(failureToShare(failure, undefined)).toBe(failure);
    expect(failureToShare(undefined, 'old')).toBeUndefined();
  });
});
