import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, write } from 'node:fs';
import { copyFile, link, open, readFile, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type * as S3Sdk from '@aws-sdk/client-s3';
import type {
  DeleteObjectCommandOutput,
  GetObjectCommandOutput,
  HeadObjectCommandOutput,
  ListObjectsV2CommandOutput,
  PutObjectCommandInput,
  PutObjectCommandOutput,
  S3Client,
} from '@aws-sdk/client-s3';
import { canonicalJson } from './canonical.js';
import { createS3Client, loadS3Sdk, type S3Location, type Sdk } from './s3-client.js';
import { LocalBlobCache } from './blob-cache.js';
import { asCacheKey, asDigest, isSha256Hex, sha256Bytes, sha256File, type CacheKey, type Digest } from './digest.js';
import { copyHashing } from './copy-hashing.js';
import { checkRunId } from './local-store.js';
import { asRunRecord, parseActionEntry, withJournal, type ActionEntry, type RunRecord, type StepRunRecord } from './records.js';
import { claimS3Lease, DEFAULT_LEASE_TIMING, type LeaseObjects, type LeaseTiming } from './s3-lease.js';
import { BlobUnavailableError, type BlobState, type ClaimOptions, type KeyClaim, type Store, type StoredBlob } from './store.js';
import type { Readable } from 'node:stream';
import { checksumPartsOnWorker, PART_CHECKSUM_ALGORITHM, StreamingRangeHasher } from './range-hasher.js';
import { directGet, DirectGetUnsupported, directTarget } from './s3-direct-get.js';
import { describeS3Error, isTransientS3Error, withS3Retries } from './s3-errors.js';
import { verifyPolicy } from './verify-policy.js';
import { makeScratchIn, removeStaleScratchIn, stagingPathIn } from './scratch.js';
import { stepLogName } from './step-log-name.js';

interface CommandOutputs {
  CreateMultipartUploadCommand: S3Sdk.CreateMultipartUploadCommandOutput;
  UploadPartCommand: S3Sdk.UploadPartCommandOutput;
  CompleteMultipartUploadCommand: S3Sdk.CompleteMultipartUploadCommandOutput;
  AbortMultipartUploadCommand: S3Sdk.AbortMultipartUploadCommandOutput;
  HeadObjectCommand: HeadObjectCommandOutput;
  GetObjectCommand: GetObjectCommandOutput;
  PutObjectCommand: PutObjectCommandOutput;
  DeleteObjectCommand: DeleteObjectCommandOutput;
  ListObjectsV2Command: ListObjectsV2CommandOutput;
}

/**
 * Above this size a blob goes up in parts of PART_BYTES, PART_QUEUE at a time, each streamed from its
 * slice of the file. Measured on MinIO over loopback (bench/s3.ts): 64 MiB parts edge out 16 MiB ones.
 */
const MULTIPART_FROM_BYTES = 16 * 1024 * 1024;
const PART_BYTES = 64 * 1024 * 1024;
const PART_QUEUE = 4;
/**
 * Downloads come as ranged GETs of RANGE_BYTES, RANGE_CONCURRENCY at a time; ranges past the one being
 * hashed keep at most RANGE_AHEAD_BYTES in memory. Measured on MinIO over loopback on two cores (bench/s3.ts):
 * one stream at a time is fastest there, because a second stream's chunks held in memory cost more
 * (garbage collection, cold caches) than the overlap saves when the CPU, not the network, is the limit.
 * Behind a slow link, more streams at once pay off (the `downloadRanges` option).
 */
const RANGE_BYTES = 256 * 1024 * 1024;
const RANGE_CONCURRENCY = 1;
const RANGE_AHEAD_BYTES = 32 * 1024 * 1024;
/** Bytes with the hashing thread and not yet written; past this the network waits. */
const UNWRITTEN_MAX_BYTES = 8 * 1024 * 1024;
/** Body bytes a direct download holds while the disk catches up; past this, reads wait. */
const DIRECT_HELD_MAX_BYTES = 16 * 1024 * 1024;
/** Below this a blob comes in one GET hashed on this thread. */
const STREAMING_FROM_BYTES = 8 * 1024 * 1024;
/** On a hit, blobs up to this size are downloaded and re-hashed; larger ones are checked by size and stored checksum. */
const HIT_DOWNLOAD_MAX_BYTES = 1024 * 1024;

function base64Sha256(digest: Digest): string {
  return Buffer.from(digest, 'hex').toString('base64');
}

/** A missing object (not a missing bucket, which is a configuration error and is reported as one). */
function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (e.name === 'NoSuchBucket') return false;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/** S3 answers 409 when two conditional writes of one key race; the loser retries as if the condition failed. */
function isConflict(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'ConditionalRequestConflict' || e.$metadata?.httpStatusCode === 409;
}

function isPreconditionFailed(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412;
}

/**
 * The shared store for teams: the same contract as the local store, in an S3 bucket (AWS, MinIO or any
 * S3-compatible service). Endpoint, region and credentials come from the standard AWS chain and
 * `AWS_ENDPOINT_URL`; a custom endpoint switches to path-style addressing, as MinIO needs.
 *
 *   <prefix>/cas/sha256/ab/<digest>   blobs, uploaded with a checksum S3 verifies (SHA-256; CRC32 per part)
 *   <prefix>/ac/<key>                 action-cache entries, written last and only if absent
 *   <prefix>/runs/<runId>.json        run records;  <prefix>/pins/<runId>  pinned runs
 *   <prefix>/run-journals/<runId>/    steps finished while a run runs, one object per save
 *   <prefix>/locks/<key>              single-flight leases (and <key>.failed: the last failure, for waiters)
 *   <prefix>/logs/<runId>/<stepId>/   a running step's log, one object per segment shipped (removed with the run)
 *
 * Streams both ways (multipart above 16 MiB), verifies every download, keeps a bounded local copy of
 * what it downloaded (LRU), and claims keys with leases in the bucket, so machines sharing it execute
 * each key once.
 */
export class S3Store implements Store {
  readonly description: string;
  private connection: Promise<{ sdk: Sdk; client: S3Client }> | undefined;
  private readonly injectedClient: S3Client | undefined;
  private readonly localRoot: string;
  private readonly blobCache: LocalBlobCache;
  private readonly leaseTiming: LeaseTiming;
  private readonly downloadRanges: { bytes: number; concurrency: number };

  constructor(
    readonly location: S3Location,
    options: {
      client?: S3Client;
      localRoot?: string;
      cacheMaxBytes?: number;
      leaseTiming?: LeaseTiming;
      /** Size and number at a time of the ranged GETs a large download is split into. */
      downloadRanges?: { bytes: number; concurrency: number };
    } = {},
  ) {
    const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    this.description = `S3 store s3://${location.bucket}/${location.prefix}${endpoint ? ` at ${endpoint}` : ''}`;
    this.injectedClient = options.client;
    this.leaseTiming = options.leaseTiming ?? DEFAULT_LEASE_TIMING;
    this.downloadRanges = options.downloadRanges ?? { bytes: RANGE_BYTES, concurrency: RANGE_CONCURRENCY };
    const id = createHash('sha256')
      .update(`${endpoint ?? 'aws'}\0${location.bucket}\0${location.prefix}`)
      .digest('hex')
      .slice(0, 16);
    this.localRoot = options.localRoot ?? join(process.env.FLYWHEEL_S3_LOCAL ?? join(homedir(), '.cache', 'flywheel', 's3'), id);
    this.blobCache = new LocalBlobCache(
      join(this.localRoot, 'blobs'),
      options.cacheMaxBytes ?? Number(process.env.FLYWHEEL_S3_CACHE_MAX_BYTES ?? 10 * 1024 ** 3),
    );
  }

  /** The AWS SDK is loaded on first use: a run on the local store never pays for it. */
  private connect(): Promise<{ sdk: Sdk; client: S3Client }> {
    this.connection ??= loadS3Sdk().then((sdk) => ({ sdk, client: this.injectedClient ?? createS3Client(sdk) }));
    return this.connection;
  }

  /** Sends one command by name, e.g. `send('HeadObjectCommand', { Bucket, Key })`, loading the SDK on first use. */
  private async send<N extends keyof CommandOutputs>(name: N, input: ConstructorParameters<Sdk[N]>[0]): Promise<CommandOutputs[N]> {
    const { sdk, client } = await this.connect();
    const Command = sdk[name] as unknown as new (input: unknown) => Parameters<S3Client['send']>[0];
    return (await client.send(new Command(input))) as CommandOutputs[N];
  }

  private objectKey(...parts: string[]): string {
    return [this.location.prefix, ...parts].filter((p) => p !== '').join('/');
  }

  private blobKey(digest: Digest): string {
    return this.objectKey('cas', 'sha256', digest.slice(0, 2), asDigest(digest));
  }

  private actionKey(key: CacheKey): string {
    return this.objectKey('ac', asCacheKey(key));
  }

  private runKey(runId: string): string {
    return this.objectKey('runs', `${checkRunId(runId)}.json`);
  }

  /** Runs an S3 call with retries for dropped connections, turning failures into errors that name the endpoint and bucket. */
  private call<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return withS3Retries(operation).catch((error: unknown) => {
      // Answers the caller reads as such: absent, a condition that did not hold, a conditional write that lost a race.
      if (isNotFound(error) || isPreconditionFailed(error) || isConflict(error)) throw error;
      throw describeS3Error(error, what, this.description);
    });
  }

  private async head(key: string): Promise<{ size: number; sha256?: string } | undefined> {
    try {
      const head = await this.call(`HEAD ${key}`, () => this.send('HeadObjectCommand', { Bucket: this.location.bucket, Key: key, ChecksumMode: 'ENABLED' }));
      // Only a whole-object checksum is the blob's SHA-256; a multipart upload reports a checksum of part checksums.
      const wholeObject = head.ChecksumSHA256 !== undefined && head.ChecksumType !== 'COMPOSITE' && !head.ChecksumSHA256.includes('-');
      return { size: head.ContentLength ?? 0, ...(wholeObject && head.ChecksumSHA256 !== undefined ? { sha256: head.ChecksumSHA256 } : {}) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private async getText(key: string): Promise<string | undefined> {
    try {
      const object = await this.call(`GET ${key}`, () => this.send('GetObjectCommand', { Bucket: this.location.bucket, Key: key }));
      return await (object.Body as { transformToString(): Promise<string> }).transformToString();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private async put(input: Omit<PutObjectCommandInput, 'Bucket'>): Promise<void> {
    await this.call(`PUT ${input.Key ?? ''}`, () => this.send('PutObjectCommand', { Bucket: this.location.bucket, ...input }));
  }

  /** Uploads a file as a blob unless an intact copy is there; S3 checks what arrives against checksums computed here. */
  private async upload(path: string, digest: Digest, size: number, partChecksums?: string[]): Promise<void> {
    const key = this.blobKey(digest);
    const existing = await this.head(key);
    if (existing !== undefined && existing.size === size && (existing.sha256 === undefined || existing.sha256 === base64Sha256(digest))) return;
    if (size < MULTIPART_FROM_BYTES) {
      // A fresh stream per attempt: a body that was half sent cannot be replayed.
      await withS3Retries(() =>
        this.send('PutObjectCommand', {
          Bucket: this.location.bucket,
          Key: key,
          Body: createReadStream(path),
          ContentLength: size,
          ChecksumSHA256: base64Sha256(digest),
        }),
      ).catch((error: unknown) => {
        throw describeS3Error(error, `PUT ${key}`, this.description);
      });
      return;
    }
    await this.uploadParts(path, key, size, partChecksums ?? (await checksumPartsOnWorker(path, size, PART_BYTES)));
  }

  /**
   * A multipart upload whose every part carries its checksum (PART_CHECKSUM_ALGORITHM, computed beforehand
   * on another thread while the whole-file hash ran here), so S3 verifies each part and the SDK hashes
   * nothing again.
   * Parts go PART_QUEUE at a time, each streamed from its slice of the file; a failure aborts the upload.
   */
  private async uploadParts(path: string, key: string, size: number, partChecksums: string[]): Promise<void> {
    const bucket = this.location.bucket;
    const created = await this.call(`start multipart ${key}`, () =>
      this.send('CreateMultipartUploadCommand', { Bucket: bucket, Key: key, ChecksumAlgorithm: PART_CHECKSUM_ALGORITHM }),
    );
    const uploadId = created.UploadId as string;
    const checksumField = `Checksum${PART_CHECKSUM_ALGORITHM}` as const;
    const parts: Array<{ PartNumber: number; ETag: string } & Partial<Record<typeof checksumField, string>>> = [];
    try {
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let index = next++; index < partChecksums.length; index = next++) {
          const start = index * PART_BYTES;
          const end = Math.min(size, start + PART_BYTES);
          const checksum = partChecksums[index] as string;
          const uploaded = await withS3Retries(() =>
            // A fresh stream per attempt: a body that was half sent cannot be replayed.
            this.send('UploadPartCommand', {
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: index + 1,
              Body: createReadStream(path, { start, end: end - 1, highWaterMark: 1 << 20 }),
              ContentLength: end - start,
              [checksumField]: checksum,
            }),
          );
          parts[index] = { PartNumber: index + 1, ETag: uploaded.ETag as string, [checksumField]: checksum };
        }
      };
      await Promise.all(Array.from({ length: Math.min(PART_QUEUE, partChecksums.length) }, worker));
      await withS3Retries(() =>
        this.send('CompleteMultipartUploadCommand', { Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      );
    } catch (error) {
      await this.send('AbortMultipartUploadCommand', { Bucket: bucket, Key: key, UploadId: uploadId }).catch(() => undefined);
      throw describeS3Error(error, `multipart PUT ${key}`, this.description);
    }
  }

  /**
   * Uploads a file whose digest is already known (a blob of a local store being pushed): nothing is
   * hashed whole here. S3 checks a small one against its SHA-256 and a large one part by part (CRC32).
   */
  async putKnownFile(path: string, digest: Digest, size: number): Promise<void> {
    await this.upload(path, digest, size);
  }

  async putFile(path: string, options: { move?: boolean } = {}): Promise<{ digest: Digest; size: number }> {
    const { size: expected } = await stat(path);
    // Parts of a large file are checksummed on another thread while this one hashes the whole file.
    const partChecksums = expected >= MULTIPART_FROM_BYTES ? checksumPartsOnWorker(path, expected, PART_BYTES) : undefined;
    partChecksums?.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
    const { digest, size } = await sha256File(path);
    await this.upload(path, digest, size, size === expected ? await partChecksums : undefined);
    if (options.move) await rm(path, { force: true });
    return { digest, size };
  }

  async putBytes(bytes: Uint8Array): Promise<{ digest: Digest; size: number }> {
    const digest = sha256Bytes(bytes);
    const key = this.blobKey(digest);
    const existing = await this.head(key);
    if (existing === undefined || existing.size !== bytes.length)
      await this.put({ Key: key, Body: bytes, ContentLength: bytes.length, ChecksumSHA256: base64Sha256(digest) });
    return { digest, size: bytes.length };
  }

  /** Downloads a blob to a new file, verifying its SHA-256: directly where it can, else through the SDK. */
  private async download(digest: Digest, destination: string): Promise<void> {
    const key = this.blobKey(digest);
    // Keys from the environment and no client of the caller's: one direct GET, no SDK at all.
    const direct = this.injectedClient === undefined ? directTarget(this.location.bucket, key) : undefined;
    if (direct !== undefined) return this.downloadDirect(digest, direct, destination);
    return this.downloadWithSdk(digest, destination);
  }

  /**
   * Downloads a blob through the SDK. Large objects come as ranged GETs, each streamed into a
   * StreamingRangeHasher, which hashes and writes the bytes on another thread as they arrive (ranges past
   * the one being hashed keep a bounded lead in memory), so no byte is read back from disk. A dropped
   * connection resumes where its range stopped, so no byte is hashed twice; any failure removes the
   * half-written file.
   */
  private async downloadWithSdk(digest: Digest, destination: string): Promise<void> {
    const key = this.blobKey(digest);
    const head = await this.head(key);
    if (head === undefined) throw new BlobUnavailableError(digest, 'missing', this.description);
    const size = head.size;
    if (size < STREAMING_FROM_BYTES) return this.downloadSmall(digest, key, destination);
    const { bytes: rangeBytes, concurrency } = this.downloadRanges;
    const ranges = Math.max(1, Math.ceil(size / rangeBytes));
    const handle = await open(destination, 'wx');
    const hasher = new StreamingRangeHasher(handle.fd, RANGE_AHEAD_BYTES, UNWRITTEN_MAX_BYTES);
    let actual: string;
    try {
      let failure: unknown;
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let index = next++; index < ranges && failure === undefined; index = next++) {
          const start = index * rangeBytes;
          try {
            const range = { start, end: Math.min(size, start + rangeBytes), whole: ranges === 1 };
            await this.fetchRange(digest, range, hasher, () => failure !== undefined);
          } catch (error) {
            failure ??= error;
            await hasher.abandon(error); // also lets a stream paused for room see the failure and stop
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, ranges) }, worker));
      if (failure !== undefined) throw failure;
      actual = await hasher.finish();
    } catch (error) {
      await hasher.abandon(error);
      await handle.close();
      await rm(destination, { force: true });
      if (error instanceof BlobUnavailableError) throw error;
      if (isNotFound(error)) throw new BlobUnavailableError(digest, 'missing', this.description);
      throw describeS3Error(error, `GET ${key}`, this.description);
    }
    await handle.close();
    if (actual !== digest) {
      await rm(destination, { force: true });
      throw new BlobUnavailableError(digest, 'corrupt', this.description);
    }
  }

  /**
   * Downloads a blob with direct GETs (see directGet): each piece is hashed on this thread as it arrives
   * and written at its offset by the thread pool meanwhile, so the bytes are read once, never back from
   * disk. A dropped connection resumes at the first byte that did not arrive (`Range: bytes=<n>-`), the
   * hash carrying on, so nothing is hashed twice; retries start over while bytes keep coming. Any failure
   * removes the half-written file; an answer a direct GET cannot read goes to the SDK's path instead.
   */
  private async downloadDirect(digest: Digest, { object, credentials }: NonNullable<ReturnType<typeof directTarget>>, destination: string): Promise<void> {
    const handle = await open(destination, 'wx');
    const hash = createHash('sha256');
    let position = 0;
    let size: number | undefined;
    let writing = 0;
    let writeError: unknown;
    let allWritten: (() => void) | undefined;
    const writesDone = (): Promise<void> => (writing === 0 ? Promise.resolve() : new Promise<void>((resolve) => (allWritten = resolve)));
    const get = (): Promise<void> =>
      directGet(object, credentials, {
        ...(position === 0 ? {} : { range: `bytes=${position}-` }),
        onSize: (total, start) => {
          if (start !== position) throw new DirectGetUnsupported(`asked for bytes from ${position}, got them from ${start}`);
          size = total;
        },
        onBytes: (bytes, release) => {
          if (writeError !== undefined) throw writeError; // a full disk stops the download, not its end
          hash.update(bytes);
          writing++;
          writeFully(handle.fd, bytes, position, (error) => {
            release();
            writeError ??= error;
            if (--writing === 0) allWritten?.();
          });
          position += bytes.length;
        },
        heldMaxBytes: DIRECT_HELD_MAX_BYTES,
      });
    try {
      for (;;) {
        const from = position;
        try {
          await withS3Retries(async () => {
            if (size === undefined || position < size) await get();
          });
          break;
        } catch (error) {
          if (position === from || !isTransientS3Error(error)) throw error; // bytes kept coming: a fresh set of tries
        }
      }
      await writesDone();
      if (writeError !== undefined) throw writeError;
      await handle.close();
    } catch (error) {
      await writesDone();
      await handle.close().catch(() => undefined);
      await rm(destination, { force: true });
      if (error instanceof DirectGetUnsupported) return this.downloadWithSdk(digest, destination);
      if (isNotFound(error)) throw new BlobUnavailableError(digest, 'missing', this.description);
      throw describeS3Error(error, `GET ${object.key}`, this.description);
    }
    if (position !== size || hash.digest('hex') !== digest) {
      await rm(destination, { force: true });
      throw new BlobUnavailableError(digest, 'corrupt', this.description);
    }
  }

  /**
   * Streams bytes [start, end) of an object into the hasher (which writes them). A retry after a dropped
   * connection asks only for what has not arrived yet: what did arrive is taken already, so nothing is
   * hashed or written twice.
   */
  private async fetchRange(
    digest: Digest,
    { start, end, whole }: { start: number; end: number; whole: boolean },
    hasher: StreamingRangeHasher,
    stopped: () => boolean,
  ): Promise<void> {
    const key = this.blobKey(digest);
    let position = start;
    await withS3Retries(async () => {
      if (stopped()) return;
      const object = await this.send('GetObjectCommand', {
        Bucket: this.location.bucket,
        Key: key,
        ...(whole && position === 0 ? {} : { Range: `bytes=${position}-${end - 1}` }),
      });
      for await (const chunk of object.Body as AsyncIterable<Buffer>) {
        if (stopped()) return; // another range failed
        // More bytes than the object had when asked: not the blob (the final digest would say so too).
        if (position + chunk.length > end) throw new BlobUnavailableError(digest, 'corrupt', this.description);
        const length = chunk.length; // the hasher may take the chunk's memory
        const pause = hasher.add(position, chunk);
        position += length;
        if (pause !== undefined) await pause;
      }
      if (stopped()) return;
      // A connection that ended early is retried from where it stopped.
      if (position !== end) throw Object.assign(new Error(`short read of ${key} range ${start}-${end - 1}`), { code: 'ECONNRESET' });
    });
  }

  /** One GET, hashed as it streams: below a few MiB a hashing thread would cost more than it saves. */
  private async downloadSmall(digest: Digest, key: string, destination: string): Promise<void> {
    let received: { digest: Digest };
    try {
      received = await withS3Retries(async () => {
        await rm(destination, { force: true });
        const object = await this.send('GetObjectCommand', { Bucket: this.location.bucket, Key: key });
        return copyHashing(object.Body as Readable, destination);
      });
    } catch (error) {
      await rm(destination, { force: true });
      if (isNotFound(error)) throw new BlobUnavailableError(digest, 'missing', this.description);
      throw describeS3Error(error, `GET ${key}`, this.description);
    }
    if (received.digest !== digest) {
      await rm(destination, { force: true });
      throw new BlobUnavailableError(digest, 'corrupt', this.description);
    }
  }

  /** The local copy of a blob, downloaded (and verified) first if this machine does not have it. */
  private async fetch(digest: Digest): Promise<string> {
    const cached = await this.blobCache.lookup(digest);
    if (cached !== undefined) return cached;
    const staging = await this.stagingPath('download');
    await this.download(digest, staging);
    return this.blobCache.adopt(staging, digest);
  }

  private async stagingPath(label: string): Promise<string> {
    return stagingPathIn(join(this.localRoot, 'tmp'), label);
  }

  async readBytes(digest: Digest): Promise<Buffer> {
    const bytes = await readFile(await this.fetch(digest));
    if (sha256Bytes(bytes) !== digest) {
      await this.blobCache.forget(digest);
      throw new BlobUnavailableError(digest, 'corrupt', `${this.description} (local copy)`);
    }
    return bytes;
  }

  async copyBlobTo(digest: Digest, destination: string): Promise<void> {
    const cached = await this.blobCache.lookup(digest);
    if (cached === undefined) {
      // Straight to the destination (verified), then shared with the local copy for the next reader on
      // this machine: a hard link costs nothing, and a later edit of the destination is caught because
      // local copies are re-hashed whenever they are read. Another filesystem gets a real copy.
      await this.download(digest, destination);
      const staging = await this.stagingPath('cache');
      await link(destination, staging).catch(() => copyFile(destination, staging));
      await this.blobCache.adopt(staging, digest);
      return;
    }
    const copied = await copyHashing(createReadStream(cached, { highWaterMark: 1 << 20 }), destination);
    if (copied.digest !== digest) {
      await rm(destination, { force: true });
      await this.blobCache.forget(digest);
      throw new BlobUnavailableError(digest, 'corrupt', `${this.description} (local copy)`);
    }
  }

  async checkBlob(digest: Digest, mode: 'full' | 'hit', expectedSize?: number): Promise<BlobState> {
    const head = await this.head(this.blobKey(digest));
    if (head === undefined) return 'missing';
    if (expectedSize !== undefined && head.size !== expectedSize) return 'corrupt';
    if (head.sha256 !== undefined && head.sha256 !== base64Sha256(digest)) return 'corrupt';
    // S3 checked these bytes against this very SHA-256 when they arrived: a hit needs no download,
    // unless FLYWHEEL_VERIFY=always asks every hit to re-hash what the bucket serves.
    const trustHit = mode === 'hit' && verifyPolicy() !== 'always';
    if (trustHit && head.sha256 !== undefined) return 'ok';
    if (trustHit && head.size > HIT_DOWNLOAD_MAX_BYTES) return 'ok';
    // Re-hash what the bucket serves now (bypassing the local copy, which was verified when it arrived).
    await this.blobCache.forget(digest);
    try {
      await this.fetch(digest);
      return 'ok';
    } catch (error) {
      if (error instanceof BlobUnavailableError) return error.state;
      throw error;
    }
  }

  async deleteBlob(digest: Digest): Promise<void> {
    await this.blobCache.forget(digest);
    await this.call('DELETE blob', () => this.send('DeleteObjectCommand', { Bucket: this.location.bucket, Key: this.blobKey(digest) }));
  }

  private async *list(prefix: string): AsyncIterable<{ key: string; size: number; modifiedMs: number }> {
    let token: string | undefined;
    do {
      const page = await this.call(`LIST ${prefix}`, () =>
        this.send('ListObjectsV2Command', { Bucket: this.location.bucket, Prefix: prefix, ...(token === undefined ? {} : { ContinuationToken: token }) }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) yield { key: object.Key, size: object.Size ?? 0, modifiedMs: object.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async *listBlobs(): AsyncIterable<StoredBlob> {
    for await (const object of this.list(`${this.objectKey('cas', 'sha256')}/`)) {
      const name = object.key.slice(object.key.lastIndexOf('/') + 1);
      if (isSha256Hex(name)) yield { digest: asDigest(name), size: object.size, modifiedMs: object.modifiedMs };
    }
  }

  async getAction(key: CacheKey): Promise<ActionEntry | 'unreadable' | undefined> {
    const text = await this.getText(this.actionKey(key));
    if (text === undefined) return undefined;
    return parseActionEntry(text, key);
  }

  async putAction(entry: ActionEntry): Promise<void> {
    try {
      // If-None-Match: the first writer of a key wins; a second writer computed the same result.
      await this.put({ Key: this.actionKey(entry.key), Body: canonicalJson(entry), ContentType: 'application/json', IfNoneMatch: '*' });
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
    }
  }

  async markUsed(): Promise<void> {
    // Objects cannot be touched cheaply in S3; runs in progress protect what they use through their
    // saved records and gc's grace period instead.
  }

  async deleteAction(key: CacheKey): Promise<void> {
    await this.call('DELETE entry', () => this.send('DeleteObjectCommand', { Bucket: this.location.bucket, Key: this.actionKey(key) }));
  }

  async *listActions(): AsyncIterable<{ key: CacheKey; modifiedMs: number }> {
    for await (const object of this.list(`${this.objectKey('ac')}/`)) {
      const name = object.key.slice(object.key.lastIndexOf('/') + 1);
      if (isSha256Hex(name)) yield { key: asCacheKey(name), modifiedMs: object.modifiedMs };
    }
  }

  private logPrefix(runId: string, stepId: string): string {
    // Step ids made key-safe as the local store makes them file names (see stepLogName).
    return `${this.objectKey('logs', checkRunId(runId), stepLogName(stepId))}/`;
  }

  async putLogSegment(runId: string, stepId: string, name: string, text: string): Promise<void> {
    await this.put({ Key: `${this.logPrefix(runId, stepId)}${name}`, Body: text, ContentType: 'text/plain; charset=utf-8' });
  }

  async readLogSegments(runId: string, stepId: string, after: string | undefined, limit = 100): Promise<Array<{ name: string; text: string }>> {
    const prefix = this.logPrefix(runId, stepId);
    const page = await this.call(`LIST ${prefix}`, () =>
      this.send('ListObjectsV2Command', {
        Bucket: this.location.bucket,
        Prefix: prefix,
        MaxKeys: limit,
        ...(after === undefined ? {} : { StartAfter: `${prefix}${after}` }),
      }),
    );
    const names = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key.slice(prefix.length)]));
    const texts = await Promise.all(names.map((name) => this.getText(`${prefix}${name}`)));
    return names.map((name, i) => ({ name, text: texts[i] ?? '' }));
  }

  async removeLiveLogs(runId: string): Promise<void> {
    for await (const object of this.list(`${this.objectKey('logs', checkRunId(runId))}/`))
      await this.call(`DELETE ${object.key}`, () => this.send('DeleteObjectCommand', { Bucket: this.location.bucket, Key: object.key }));
  }

  private journalPrefix(runId: string): string {
    return `${this.objectKey('run-journals', checkRunId(runId))}/`;
  }

  async putRun(record: RunRecord): Promise<void> {
    await this.put({ Key: this.runKey(record.runId), Body: JSON.stringify(record), ContentType: 'application/json' });
    if (record.status === 'running') return;
    // A finished record holds every step: its journal has nothing more to say.
    for await (const object of this.list(this.journalPrefix(record.runId))) {
      await this.call(`DELETE ${object.key}`, () => this.send('DeleteObjectCommand', { Bucket: this.location.bucket, Key: object.key }));
    }
  }

  async appendRunSteps(runId: string, steps: readonly StepRunRecord[]): Promise<void> {
    if (steps.length === 0) return;
    // Objects cannot be appended to: each save is its own object, named to sort in the order written.
    const name = `${Date.now().toString().padStart(15, '0')}-${randomBytes(4).toString('hex')}.jsonl`;
    await this.put({
      Key: `${this.journalPrefix(runId)}${name}`,
      Body: steps.map((s) => `${JSON.stringify(s)}\n`).join(''),
      ContentType: 'application/x-ndjson',
    });
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const text = await this.getText(this.runKey(runId));
    if (text === undefined) return undefined;
    const record = asRunRecord(JSON.parse(text));
    if (record.status !== 'running') return record;
    const parts: string[] = [];
    for await (const object of this.list(this.journalPrefix(runId))) parts.push((await this.getText(object.key)) ?? '');
    return withJournal(record, parts.join(''));
  }

  async listRunIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const object of this.list(`${this.objectKey('runs')}/`)) {
      const name = object.key.slice(object.key.lastIndexOf('/') + 1);
      if (name.endsWith('.json')) ids.push(name.slice(0, -'.json'.length));
    }
    return ids.sort().reverse();
  }

  async setPinned(runId: string, pinned: boolean): Promise<void> {
    const key = this.objectKey('pins', checkRunId(runId));
    if (pinned) await this.put({ Key: key, Body: '' });
    else await this.call('DELETE pin', () => this.send('DeleteObjectCommand', { Bucket: this.location.bucket, Key: key }));
  }

  async listPinned(): Promise<Set<string>> {
    const pins = new Set<string>();
    for await (const object of this.list(`${this.objectKey('pins')}/`)) pins.add(object.key.slice(object.key.lastIndexOf('/') + 1));
    return pins;
  }

  claimKey(key: CacheKey, options: ClaimOptions): Promise<KeyClaim> {
    return claimS3Lease(this.leaseObjects, this.objectKey('locks', asCacheKey(key)), options, this.leaseTiming);
  }

  /** Conditional writes on small objects: what leases are made of. */
  private readonly leaseObjects: LeaseObjects = {
    create: (key, body) => this.conditionalPut(key, body, { IfNoneMatch: '*' }),
    replace: (key, body, etag) => this.conditionalPut(key, body, { IfMatch: etag }),
    read: async (key) => {
      try {
        const object = await this.call(`GET ${key}`, () => this.send('GetObjectCommand', { Bucket: this.location.bucket, Key: key }));
        return { etag: object.ETag ?? '', body: await (object.Body as { transformToString(): Promise<string> }).transformToString() };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    remove: async (key, etag) => {
      try {
        await this.call(`DELETE ${key}`, () => this.send('DeleteObjectCommand', { Bucket: this.location.bucket, Key: key, IfMatch: etag }));
      } catch (error) {
        if (!isPreconditionFailed(error) && !isNotFound(error)) throw error; // taken over meanwhile: not ours to delete
      }
    },
    write: (key, body) => this.put({ Key: key, Body: body, ContentType: 'application/json' }),
  };

  /** A PUT under a precondition: the new ETag, or undefined when the precondition did not hold. */
  private async conditionalPut(key: string, body: string, condition: { IfNoneMatch: string } | { IfMatch: string }): Promise<string | undefined> {
    try {
      const put = await this.call(`PUT ${key}`, () =>
        this.send('PutObjectCommand', { Bucket: this.location.bucket, Key: key, Body: body, ContentType: 'application/json', ...condition }),
      );
      return put.ETag ?? '';
    } catch (error) {
      if (isPreconditionFailed(error) || isConflict(error)) return undefined;
      throw error;
    }
  }

  makeScratchDir(label: string): string {
    return makeScratchIn(join(this.localRoot, 'tmp'), label);
  }

  removeStaleScratch(graceMs: number, now?: number): Promise<number> {
    return removeStaleScratchIn(join(this.localRoot, 'tmp'), graceMs, now);
  }
}

/** Writes all of `bytes` at `position`, continuing after short writes (a nearly full disk, NFS). */
function writeFully(fd: number, bytes: Buffer, position: number, done: (error?: unknown) => void): void {
  write(fd, bytes, 0, bytes.length, position, (error, written) => {
    if (error) done(error);
    else if (written === bytes.length) done();
    else if (written === 0) done(Object.assign(new Error('no room to write the download'), { code: 'ENOSPC' }));
    else writeFully(fd, bytes.subarray(written), position + written, done);
  });
}
