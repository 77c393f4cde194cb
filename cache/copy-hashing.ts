import { createHash } from 'node:crypto';
import { constants, createWriteStream, type BigIntStats } from 'node:fs';
import { chmod, copyFile, open, rm } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stampOf } from './blob-stamps.js';
import { sha256Handle, type Digest } from './digest.js';

/** Streams bytes into a new file while hashing them: one read pass for copy and verification. */
export async function copyHashing(source: Readable, destination: string): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(source, hashing, createWriteStream(destination, { flags: 'wx' }));
  return { digest: hash.digest('hex') as Digest, size };
}

/**
 * Copies a file to a new file and hashes it at the same time: the kernel copies (a reflink where the
 * filesystem has them, else `copy_file_range`, no bytes through JavaScript) while this thread hashes the
 * source from the page cache. The digest is the copy's only if the source did not change meanwhile, so
 * its stamp is compared before and after; a source that changed is copied again through one stream that
 * hashes exactly what it writes. `source` is the source's stats when it was opened, for the caller.
 */
export async function copyFileHashing(path: string, destination: string): Promise<{ digest: Digest; size: number; source: BigIntStats }> {
  const handle = await open(path, 'r');
  try {
    const before = await handle.stat({ bigint: true });
    const [copied, hashing] = await Promise.allSettled([
      copyFile(path, destination, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE),
      sha256Handle(handle),
    ]);
    if (copied.status === 'rejected') {
      // EEXIST: the destination was someone else's file, not a partial copy of ours; leave it alone.
      if ((copied.reason as NodeJS.ErrnoException).code !== 'EEXIST') await rm(destination, { force: true });
      throw copied.reason;
    }
    if (hashing.status === 'rejected') {
      await rm(destination, { force: true });
      throw hashing.reason;
    }
    const hashed = hashing.value;
    // The kernel copy takes the source's mode; a copy is an ordinary file like one written by a stream,
    // not a read-only blob (a step may rewrite its copy of an input).
    await chmod(destination, 0o644);
    const after = await handle.stat({ bigint: true });
    if (stampOf(before) === stampOf(after) && hashed.size === Number(after.size)) return { ...hashed, source: after };
    await rm(destination, { force: true });
    const streamed = await copyHashing(handle.createReadStream({ start: 0, autoClose: false, highWaterMark: 1 << 20 }), destination);
    return { ...streamed, source: await handle.stat({ bigint: true }) };
  } finally {
    await handle.close();
  }
}
