import { LayeredStore } from '../../cache/layered-store.js';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Digest } from '../../cache/digest.js';
import { LocalStore } from '../../cache/local-store.js';
import { createS3Client, loadS3Sdk } from '../../cache/s3-client.js';
import { S3Store } from '../../cache/s3-store.js';
import { BlobUnavailableError, type Store } from '../../cache/store.js';

/** A digest as the UI accepts it: 64 lowercase hex characters, never a path. */
export const DIGEST_RE = /^[0-9a-f]{64}$/;

/**
 * Byte ranges of stored blobs, streamed: the server never holds a large blob whole. The local store is
 * read from its file, the S3 store with ranged GETs; any other store is copied to scratch space once.
 * Ranges are not re-hashed here (the UI only shows bytes; runs verify what they read).
 */
export interface BlobReader {
  /** The blob's size, or undefined when the store does not have it. */
  size(digest: Digest): Promise<number | undefined>;
  /** Bytes [start, end) of the blob (end defaults to its size). */
  open(digest: Digest, start?: number, end?: number): Promise<Readable>;
}

function fileReader(pathOf: (digest: Digest) => Promise<string>): BlobReader {
  return {
    async size(digest) {
      try {
        const info = await stat(await pathOf(digest));
        return info.isFile() ? info.size : undefined;
      } catch {
        return undefined;
      }
    },
    async open(digest, start = 0, end) {
      if (end !== undefined && end <= start) return emptyStream();
      return createReadStream(await pathOf(digest), { start, ...(end === undefined ? {} : { end: end - 1 }), highWaterMark: 64 * 1024 });
    },
  };
}

async function emptyStream(): Promise<Readable> {
  const { Readable } = await import('node:stream');
  return Readable.from([]);
}

function s3Reader(store: S3Store): BlobReader {
  const { bucket, prefix } = store.location;
  const key = (digest: Digest): string => [prefix, 'cas', 'sha256', digest.slice(0, 2), digest].filter((p) => p !== '').join('/');
  let connection: Promise<{ sdk: Awaited<ReturnType<typeof loadS3Sdk>>; client: ReturnType<typeof createS3Client> }> | undefined;
  const connect = () => (connection ??= loadS3Sdk().then((sdk) => ({ sdk, client: createS3Client(sdk) })));
  return {
    async size(digest) {
      const { sdk, client } = await connect();
      try {
        const head = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key(digest) }));
        return head.ContentLength;
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 404 || (error as Error).name === 'NotFound' || (error as Error).name === 'NoSuchKey') return undefined;
        throw error;
      }
    },
    async open(digest, start = 0, end) {
      if (end !== undefined && end <= start) return emptyStream();
      const { sdk, client } = await connect();
      const range = start === 0 && end === undefined ? undefined : `bytes=${start}-${end === undefined ? '' : end - 1}`;
      const object = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key(digest), ...(range === undefined ? {} : { Range: range }) }));
      return object.Body as Readable;
    },
  };
}

/** Over a store with read-only layers: each blob from the first store that has it (its own first). */
function layeredReader(readers: readonly BlobReader[]): BlobReader {
  const holder = async (digest: Digest): Promise<{ reader: BlobReader; size: number } | undefined> => {
    for (const reader of readers) {
      const size = await reader.size(digest);
      if (size !== undefined) return { reader, size };
    }
    return undefined;
  };
  return {
    size: async (digest) => (await holder(digest))?.size,
    open: async (digest, start, end) => {
      const found = await holder(digest);
      if (found === undefined) throw new BlobUnavailableError(digest, 'missing', 'any store this view reads');
      return found.reader.open(digest, start, end);
    },
  };
}

/** The reader for this store. */
export function blobReader(store: Store): BlobReader {
  if (store instanceof LayeredStore) return layeredReader([store.own, ...store.layers].map(blobReader));
  if (store instanceof LocalStore) return fileReader(async (digest) => join(store.root, 'cas', 'sha256', digest.slice(0, 2), digest));
  if (store instanceof S3Store) return s3Reader(store);
  // Another store: a verified copy in its scratch space, made once per blob.
  const copies = new Map<string, Promise<string>>();
  return fileReader((digest) => {
    let copy = copies.get(digest);
    if (copy === undefined) {
      const path = join(store.makeScratchDir('ui-blob'), digest);
      copy = store.copyBlobTo(digest, path).then(() => path);
      copy.catch(() => copies.delete(digest));
      copies.set(digest, copy);
    }
    return copy;
  });
}
