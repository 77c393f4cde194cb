import { createHash } from 'node:crypto';
import { constants, createWriteStream, type BigIntStats } from 'node:fs';
import { chmod, copyFile, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isRacy, stampOf } from './blob-stamps.js';
import { sha256File, sha256Handle, type Digest } from './digest.js';

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
 * A kernel copy holds one of libuv's four threads for its whole length: at most this many at once, so
 * hashing, lock heartbeats and other file work always have threads left.
 */
const KERNEL_COPIES_AT_ONCE = 2;
let kernelCopies = 0;
const waitingForCopy: Array<() => void> = [];

async function kernelCopy(source: string, destination: string): Promise<void> {
  while (kernelCopies >= KERNEL_COPIES_AT_ONCE) await new Promise<void>((resolve) => waitingForCopy.push(resolve));
  kernelCopies++;
  try {
    // A reflink where the filesystem has them, else copy_file_range: no bytes pass through JavaScript.
    await copyFile(source, destination, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  } finally {
    kernelCopies--;
    waitingForCopy.shift()?.();
  }
}

/** The source of a copy, named so the kernel opens the very file the caller has open where it can (Linux). */
function sameFile(path: string, handle: FileHandle): string {
  return process.platform === 'linux' ? `/proc/self/fd/${handle.fd}` : path;
}

/**
 * Copies a file to a new file and returns the SHA-256 of the copy, reading the bytes once where it is
 * safe: the kernel copies while this thread hashes the source from the page cache. That digest is the
 * copy's only if the source did not change meanwhile, so the source's stamp is compared before and
 * after (and the path must still name it); a source changed too recently for its stamp to show a
 * further change (see isRacy), or one that did change, is copied and then the copy is hashed, which
 * nothing else writes. `source` is the source's stamp when its hash is known to be the digest, for
 * callers that keep stamps. A failed copy leaves no destination behind (unless it existed before: EEXIST).
 */
export async function copyFileHashing(path: string, destination: string): Promise<{ digest: Digest; size: number; source?: BigIntStats }> {
  const handle = await open(path, 'r');
  let attempted = false; // a copy was started: a failure may have left part of one
  let created = false;
  try {
    const before = await handle.stat({ bigint: true });
    if (!isRacy(before, Date.now())) {
      attempted = true;
      const [copied, hashing] = await Promise.allSettled([kernelCopy(sameFile(path, handle), destination), sha256Handle(handle)]);
      if (copied.status === 'rejected') throw copied.reason;
      created = true;
      if (hashing.status === 'rejected') throw hashing.reason;
      const after = await handle.stat({ bigint: true });
      const named = await stat(path, { bigint: true }).catch(() => undefined);
      if (stampOf(before) === stampOf(after) && named !== undefined && stampOf(named) === stampOf(after) && hashing.value.size === Number(after.size)) {
        await makeOrdinary(destination);
        return { ...hashing.value, source: after };
      }
      await rm(destination, { force: true });
      created = false;
    }
    attempted = true;
    await kernelCopy(sameFile(path, handle), destination);
    created = true;
    await makeOrdinary(destination);
    return await sha256File(destination);
  } catch (error) {
    // EEXIST from the copy: the destination was someone else's file, not a partial copy of ours.
    if (created || (attempted && (error as NodeJS.ErrnoException).code !== 'EEXIST')) await rm(destination, { force: true });
    throw error;
  } finally {
    await handle.close();
  }
}

/** The kernel copy takes the source's mode; a copy is an ordinary file, as a stream would write it (a step may rewrite its input). */
async function makeOrdinary(path: string): Promise<void> {
  await chmod(path, 0o666 & ~process.umask()).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error; // filesystems without modes
  });
}
