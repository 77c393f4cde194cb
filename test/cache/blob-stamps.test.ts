import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { chmod, open, rename, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobStamps, stampOf } from '../../cache/blob-stamps.js';
import type { Digest } from '../../cache/digest.js';
import { LocalStore } from '../../cache/local-store.js';
import { definePipeline, defineStep, file, runPipelineForTest } from '../../index.js';
import { blobFile, tempDir, tempStore } from './helpers.js';

/** Bytes this process has read through read(2) and friends so far, page cache included (Linux). */
function bytesRead(): number {
  return Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);
}

/** Overwrites one byte of a stored blob in place, then puts its mtime back as it was, to the nanosecond. */
async function flipByteKeepingMtime(path: string, at: number): Promise<void> {
  const reference = `${path}.times`;
  execFileSync('touch', ['-r', path, reference]);
  await chmod(path, 0o644);
  const handle = await open(path, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, at);
  byte[0] = (byte[0] as number) ^ 0xff;
  await handle.write(byte, 0, 1, at);
  await handle.close();
  await chmod(path, 0o444);
  execFileSync('touch', ['-m', '-r', reference, path]);
  await rm(reference);
}

async function storeRandom(store: LocalStore, bytes: number): Promise<Digest> {
  const source = join(await tempDir(), 'large.bin');
  await writeFile(source, randomBytes(bytes));
  return (await store.putFile(source)).digest;
}

const verifyBefore = process.env.FLYWHEEL_VERIFY;
afterEach(() => {
  if (verifyBefore === undefined) delete process.env.FLYWHEEL_VERIFY;
  else process.env.FLYWHEEL_VERIFY = verifyBefore;
});

describe('verified stamps: a hit re-hashes a blob only when its file changed', () => {
  it('a hit on an unchanged large blob reads none of its bytes; a byte flipped in place, mtime restored, is caught', async () => {
    const store = await tempStore();
    const digest = await storeRandom(store, 4 * 1024 * 1024);
    const before = bytesRead();
    expect(await store.checkBlob(digest, 'hit', 4 * 1024 * 1024)).toBe('ok');
    expect(bytesRead() - before).toBeLessThan(4096); // the stamp line, not the 4 MiB

    const path = blobFile(store, digest);
    const { mtimeNs } = await stat(path, { bigint: true });
    await flipByteKeepingMtime(path, 1234567);
    expect((await stat(path, { bigint: true })).mtimeNs).toBe(mtimeNs);
    expect(await store.checkBlob(digest, 'hit', 4 * 1024 * 1024)).toBe('corrupt');
  });

  it('a same-size file put in the blob’s place (another inode) is re-hashed and caught', async () => {
    const store = await tempStore();
    const digest = await storeRandom(store, 256 * 1024);
    const path = blobFile(store, digest);
    const impostor = `${path}.new`;
    await writeFile(impostor, randomBytes(256 * 1024));
    const { atime, mtime } = await stat(path);
    await utimes(impostor, atime, mtime);
    await rename(impostor, path);
    expect(await store.checkBlob(digest, 'hit', 256 * 1024)).toBe('corrupt');
  });

  it('a blob without a stamp (a store from before stamps) is hashed once, then trusted', async () => {
    const store = await tempStore();
    const digest = await storeRandom(store, 1024 * 1024);
    new BlobStamps(join(store.root, 'stamps')).forget(digest);
    // Old enough that its stamp is not "racy": nothing can change it within the same timestamp tick.
    const old = new Date(Date.now() - 60_000);
    await utimes(blobFile(store, digest), old, old);
    await new Promise((resolve) => setTimeout(resolve, 2100));

    let before = bytesRead();
    expect(await store.checkBlob(digest, 'hit', 1024 * 1024)).toBe('ok');
    expect(bytesRead() - before).toBeGreaterThanOrEqual(1024 * 1024);
    before = bytesRead();
    expect(await store.checkBlob(digest, 'hit', 1024 * 1024)).toBe('ok');
    expect(bytesRead() - before).toBeLessThan(4096);
  });

  it('small blobs are hashed on every hit, and FLYWHEEL_VERIFY=always hashes large ones too', async () => {
    const store = await tempStore();
    const small = (await store.putBytes(Buffer.from('tiny'))).digest;
    await flipByteKeepingMtime(blobFile(store, small), 0);
    expect(await store.checkBlob(small, 'hit', 4)).toBe('corrupt');

    process.env.FLYWHEEL_VERIFY = 'always';
    const paranoid = new LocalStore(store.root);
    const large = await storeRandom(paranoid, 2 * 1024 * 1024);
    const before = bytesRead();
    expect(await paranoid.checkBlob(large, 'hit', 2 * 1024 * 1024)).toBe('ok');
    expect(bytesRead() - before).toBeGreaterThanOrEqual(2 * 1024 * 1024);
  });

  it('FLYWHEEL_VERIFY with an unknown value is refused, naming the values it takes', async () => {
    process.env.FLYWHEEL_VERIFY = 'sometimes';
    const root = join(await tempDir(), 'store');
    expect(() => new LocalStore(root)).toThrow(/FLYWHEEL_VERIFY="sometimes" is not a verification mode/);
    try {
      new LocalStore(root);
    } catch (error) {
      expect((error as { code: string; fix: string }).code).toBe('ENV_INVALID');
      expect((error as { fix: string }).fix).toContain('`always`');
    }
  });

  it('a stamp is not recorded for a file that changed while it was hashed, or changed too recently by someone else', async () => {
    const dir = await tempDir();
    const path = join(dir, 'blob');
    await writeFile(path, 'x'.repeat(100));
    const stamps = new BlobStamps(join(dir, 'stamps'));
    const digest = 'ab'.repeat(32) as Digest;
    const stats = statSync(path, { bigint: true });
    const changedMs = Number(stats.ctimeNs / 1_000_000n);

    await writeFile(path, 'y'.repeat(100));
    stamps.record(digest, stats, statSync(path, { bigint: true }), { now: changedMs + 60_000 });
    expect(stamps.matches(digest, statSync(path, { bigint: true }))).toBe(false);

    const current = statSync(path, { bigint: true });
    const currentMs = Number(current.ctimeNs / 1_000_000n);
    stamps.record(digest, current, current, { now: currentMs + 100 });
    expect(stamps.matches(digest, current)).toBe(false);
    stamps.record(digest, current, current, { now: currentMs + 100, ownChange: true });
    expect(stamps.matches(digest, current)).toBe(true);
    expect(stampOf(current)).toMatch(/^v1 100 \d+ \d+ \d+ \d+$/);
  });

  it('copy-mode ingest hashes while the kernel copies: the stored blob is byte-identical and stamped', async () => {
    const store = await tempStore();
    const source = join(await tempDir(), 'data.bin');
    const bytes = randomBytes(9 * 1024 * 1024 + 17);
    await writeFile(source, bytes);
    const stored = await store.putFile(source);
    expect(readFileSync(blobFile(store, stored.digest)).equals(bytes)).toBe(true);
    const before = bytesRead();
    expect(await store.checkBlob(stored.digest, 'hit', bytes.length)).toBe('ok');
    expect(bytesRead() - before).toBeLessThan(4096);
  });
});

/** One step writing `GiB` 1-GiB sparse files (holes read as zeros, so the test costs no disk), one reading none. */
const sparse = defineStep({
  id: 'stamps-sparse',
  version: 1,
  outputs: { a: file({ fileName: 'a.bin' }), b: file({ fileName: 'b.bin' }) },
  async run({ outputs }) {
    for (const [index, path] of [outputs.a, outputs.b].entries()) {
      await writeFile(path, `part ${index}\n`);
      await truncate(path, 1024 ** 3);
    }
  },
});

describe('a fully cached run over 2 GiB of blobs', () => {
  it('reads no blob bytes', async () => {
    const storeDir = join(await tempDir(), 'store');
    const pipeline = definePipeline({ name: 'stamps-2gib', build: (p) => void p.add(sparse) });
    const first = await runPipelineForTest(pipeline, { storeDir });
    expect(first.step('stamps-sparse').status).toBe('executed');

    const before = bytesRead();
    const again = await runPipelineForTest(pipeline, { storeDir });
    const read = bytesRead() - before;
    expect(again.step('stamps-sparse').status).toBe('cached');
    // Module loads, the entry, the run record and two stamp lines: kilobytes, not gibibytes.
    expect(read).toBeLessThan(1024 * 1024);
  }, 120_000);
});
