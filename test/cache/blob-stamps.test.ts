import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, type BigIntStats } from 'node:fs';
import { chmod, open, readdir, rename, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobStamps, stampOf } from '../../cache/blob-stamps.js';
import type { Digest } from '../../cache/digest.js';
import { LocalStore } from '../../cache/local-store.js';
import { definePipeline, defineStep, dir, runPipelineForTest } from '../../index.js';
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
    // utimes moves ctime to now; a stamp is kept only once the last change is 2 s old (not "racy").
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
    // Even a stamp that matches the damaged file does not spare a small blob its hash.
    new BlobStamps(join(store.root, 'stamps')).recordWritten(small, statSync(blobFile(store, small), { bigint: true }));
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

  it('a stamp is not recorded for a file that changed while it was hashed, or changed too recently to tell', async () => {
    const dir = await tempDir();
    const path = join(dir, 'blob');
    await writeFile(path, 'x'.repeat(100));
    const stamps = new BlobStamps(join(dir, 'stamps'));
    const digest = 'ab'.repeat(32) as Digest;
    const hashing = statSync(path, { bigint: true });
    const later = (stats: BigIntStats, ms: number): number => Number(stats.ctimeNs / 1_000_000n) + ms;

    await writeFile(path, 'y'.repeat(200)); // changed while "hashing": another size
    const changed = statSync(path, { bigint: true });
    stamps.recordHashed(digest, hashing, changed, later(changed, 60_000));
    expect(stamps.matches(digest, changed)).toBe(false);

    stamps.recordHashed(digest, changed, changed, later(changed, 100)); // racy: changed 100 ms ago
    expect(stamps.matches(digest, changed)).toBe(false);
    stamps.recordHashed(digest, changed, changed, later(changed, 3000));
    expect(stamps.matches(digest, changed)).toBe(true);
    expect(stampOf(changed)).toMatch(/^v1 200 \d+ \d+ \d+ \d+$/);
  });

  it('a moved-in file is stamped only if it still has the bytes that were hashed, written at least a tick before', async () => {
    const dir = await tempDir();
    const path = join(dir, 'out.bin');
    await writeFile(path, 'z'.repeat(100));
    const stamps = new BlobStamps(join(dir, 'stamps'));
    const digest = 'cd'.repeat(32) as Digest;
    const hashed = statSync(path, { bigint: true });
    const writtenMs = Number(hashed.mtimeNs / 1_000_000n);
    await chmod(path, 0o444); // what publishing does: ctime moves, the content stays
    const published = statSync(path, { bigint: true });

    stamps.recordMoved(digest, hashed, published, writtenMs + 5); // hashed within a tick of the last write
    expect(stamps.matches(digest, published)).toBe(false);
    const writer = await open(path, 'r+').catch(async () => {
      await chmod(path, 0o644);
      return open(path, 'r+');
    });
    await writer.write('Z', 0); // the producer wrote again after the hash
    await writer.close();
    const rewritten = statSync(path, { bigint: true });
    stamps.recordMoved(digest, hashed, rewritten, writtenMs + 1000);
    expect(stamps.matches(digest, rewritten)).toBe(false);
    stamps.recordMoved(digest, hashed, published, writtenMs + 1000);
    expect(stamps.matches(digest, published)).toBe(true);
  });

  it('a source written to while it is stored never yields a blob whose bytes differ from its digest', async () => {
    for (const move of [false, true]) {
      const store = await tempStore();
      const source = join(move ? store.makeScratchDir('out') : await tempDir(), 'changing.bin');
      await writeFile(source, randomBytes(24 * 1024 * 1024));
      const old = new Date(Date.now() - 60_000);
      await utimes(source, old, old);
      await new Promise((resolve) => setTimeout(resolve, 2100)); // not racy: the fast path is taken
      const writer = await open(source, 'r+');
      let storing = true;
      const scribbling = (async () => {
        for (let i = 0; storing; i++) {
          await writer.write(randomBytes(1), 0, 1, (i * 7_919_993) % (24 * 1024 * 1024));
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const stored = await store.putFile(source, { move }).then(
        (result) => result,
        (error: unknown) => error as Error,
      );
      storing = false;
      await scribbling;
      await writer.close();
      if (stored instanceof Error) {
        expect(stored.message).toContain('changed while it was being stored');
        continue;
      }
      // Whatever was stored, its bytes hash to its address, and a hit agrees with a full check.
      expect(await store.checkBlob(stored.digest, 'full')).toBe('ok');
      expect(await store.checkBlob(stored.digest, 'hit', stored.size)).toBe('ok');
    }
  }, 60_000);

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

/**
 * One step writing 16 sparse files of 128 MiB (holes read as zeros, so the test costs no disk): 2 GiB,
 * each file under the 256 MiB up to which hits used to re-hash.
 */
const sparse = defineStep({
  id: 'stamps-sparse',
  version: 1,
  outputs: { shards: dir() },
  async run({ outputs }) {
    for (let index = 0; index < 16; index++) {
      const path = join(outputs.shards, `shard-${index}.bin`);
      await writeFile(path, `shard ${index}\n`);
      await truncate(path, 128 * 1024 ** 2);
    }
  },
});

describe('a fully cached run over 2 GiB of blobs', () => {
  it('reads no blob bytes: every shard was stamped when it was stored', async () => {
    const storeDir = join(await tempDir(), 'store');
    const pipeline = definePipeline({ name: 'stamps-2gib', build: (p) => void p.add(sparse) });
    const first = await runPipelineForTest(pipeline, { storeDir });
    expect(first.step('stamps-sparse').status).toBe('executed');
    const stamped = (await readdir(join(storeDir, 'stamps'), { recursive: true })).filter((name) => /[0-9a-f]{64}$/.test(name));
    expect(stamped).toHaveLength(16);

    const before = bytesRead();
    const again = await runPipelineForTest(pipeline, { storeDir });
    const read = bytesRead() - before;
    expect(again.step('stamps-sparse').status).toBe('cached');
    // Module loads, the entry, the manifest, the run record and 16 stamp lines: kilobytes, not gibibytes.
    expect(read).toBeLessThan(1024 * 1024);
  }, 120_000);
});
