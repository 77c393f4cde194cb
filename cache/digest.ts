import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** A lowercase hex SHA-256 of some bytes: the address of a blob in the content-addressed store. */
export type Digest = string & { readonly __brand: 'Digest' };

/** A lowercase hex SHA-256 of a step's canonical key components: the address of an action-cache entry. */
export type CacheKey = string & { readonly __brand: 'CacheKey' };

const HEX_SHA256 = /^[0-9a-f]{64}$/;

export function isSha256Hex(value: string): boolean {
  return HEX_SHA256.test(value);
}

/** Validates untrusted text (file names, JSON records) before it is used as a digest. */
export function asDigest(value: string): Digest {
  if (!isSha256Hex(value)) throw new Error(`not a SHA-256 digest: ${JSON.stringify(value)}`);
  return value as Digest;
}

export function asCacheKey(value: string): CacheKey {
  if (!isSha256Hex(value)) throw new Error(`not a cache key: ${JSON.stringify(value)}`);
  return value as CacheKey;
}

export function sha256Bytes(bytes: Uint8Array): Digest {
  return createHash('sha256').update(bytes).digest('hex') as Digest;
}

/** Short form for humans: enough to tell two digests apart in a plan. */
export function shortDigest(digest: string): string {
  return digest.slice(0, 12);
}

// 4 MiB reads keep the hashing loop in OpenSSL rather than in JavaScript; see bench/hash.
const READ_CHUNK = 4 * 1024 * 1024;

/** Streams a file through SHA-256 with one reused buffer, so memory stays flat for any size. */
export async function sha256File(path: string): Promise<{ digest: Digest; size: number }> {
  const handle = await open(path, 'r');
  try {
    return await sha256Handle(handle);
  } finally {
    await handle.close();
  }
}

/** SHA-256 of an open file from its start: the caller can stat the very file it hashed, before and after. */
export async function sha256Handle(handle: FileHandle): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  // Sized to the file: a 4 MiB buffer per small file would leave the garbage collector most of the work.
  const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(READ_CHUNK, (await handle.stat()).size)));
  let size = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, size);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    size += bytesRead;
  }
  return { digest: hash.digest('hex') as Digest, size };
}

/** SHA-256 of a file with its stats as hashing began and ended: equal stats mean the digest is the file's. */
export async function sha256FileWithStats(path: string): Promise<{ digest: Digest; size: number; before: BigIntStats; after: BigIntStats }> {
  const handle = await open(path, 'r');
  try {
    const before = await handle.stat({ bigint: true });
    const hashed = await sha256Handle(handle);
    return { ...hashed, before, after: await handle.stat({ bigint: true }) };
  } finally {
    await handle.close();
  }
}
