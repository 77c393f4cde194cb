import { Worker } from 'node:worker_threads';
import * as zlib from 'node:zlib';

// Runs in a worker thread (CommonJS, evaluated from this string so it works from sources and from dist/):
// hashes each batch of chunks the main thread hands over (their memory moves here, nothing is copied),
// writes the batch to its offset in the file (on the thread pool, while the next batch is hashed), and
// reports the bytes written. The same bytes are hashed and written.
const WRITER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { writev } = require('node:fs');
const hash = createHash('sha256');
// Writes still running on the thread pool; 'stop' answers only once there are none, so the file can be closed.
let pending = 0;
let stopping = false;
const settled = () => {
  pending--;
  if (stopping && pending === 0) parentPort.postMessage({ type: 'stopped' });
};
parentPort.on('message', (message) => {
  if (message.type === 'chunks') {
    const chunks = message.buffers.map((buffer) => Buffer.from(buffer));
    for (const chunk of chunks) hash.update(chunk);
    pending++;
    const writeFrom = (chunks, position) =>
      writev(workerData.fd, chunks, position, (error, written) => {
        if (error) {
          parentPort.postMessage({ type: 'failed', message: error.message, code: error.code });
          return settled();
        }
        const rest = [];
        for (let skip = written, i = 0; i < chunks.length; i++) {
          if (skip >= chunks[i].length) skip -= chunks[i].length;
          else {
            rest.push(chunks[i].subarray(skip));
            skip = 0;
          }
        }
        if (rest.length > 0) return writeFrom(rest, position + written);
        parentPort.postMessage({ type: 'written', length: message.length });
        settled();
      });
    writeFrom(chunks, message.position);
  } else if (message.type === 'stop') {
    stopping = true;
    if (pending === 0) parentPort.postMessage({ type: 'stopped' });
  } else {
    parentPort.postMessage({ type: 'digest', digest: hash.digest('hex') });
  }
});
`;

/** Chunks are handed to the worker in batches of about this size. */
const BATCH_BYTES = 1024 * 1024;

/**
 * Writes a file that arrives as ranges streamed in parallel, and hashes exactly the bytes it writes,
 * without reading any back. Chunks are taken in file order: one at the cursor goes to a worker thread at
 * once (its memory is transferred, not copied), which hashes it and writes it, so hashing runs beside the
 * network instead of after it. A chunk further on waits in memory until the cursor reaches it.
 *
 * `add` returns a promise when the caller should wait before reading more: past `aheadBytes` of waiting
 * chunks, or while more than `inFlightBytes` are with the worker, the stream pauses (and TCP slows its
 * sender), so memory stays bounded.
 */
export class StreamingRangeHasher {
  private readonly worker: Worker;
  private readonly waitingChunks = new Map<number, Buffer>();
  private waitingBytes = 0;
  /** Everything before this file offset has been taken in order. */
  private cursor = 0;
  private batch: ArrayBuffer[] = [];
  private batchLength = 0;
  private batchPosition = 0;
  /** Bytes handed to the worker (or batched for it) and not yet written. */
  private unwritten = 0;
  /** Streams paused because the chunks waiting in memory passed the bound. */
  private leadWaiters: Array<() => void> = [];
  /** Streams paused because the worker is behind. */
  private writeWaiters: Array<() => void> = [];
  /** abandon(), waiting for the writes still running to end before the file is closed. */
  private stopWaiters: Array<() => void> = [];
  private exited = false;
  private failure: unknown;
  private digestListener: ((digest: string) => void) | undefined;

  constructor(
    fd: number,
    private readonly aheadBytes: number,
    private readonly inFlightBytes: number,
  ) {
    // execArgv: [] so a parent started with `--input-type=module` does not make this CommonJS source ESM.
    this.worker = new Worker(WRITER_SOURCE, { eval: true, execArgv: [], workerData: { fd } });
    this.worker.on('message', (message: { type: string; length?: number; digest?: string; message?: string; code?: string }) => {
      if (message.type === 'written') {
        this.unwritten -= message.length as number;
        if (this.unwritten <= this.inFlightBytes / 2) this.writeWaiters = wakeAll(this.writeWaiters);
      } else if (message.type === 'failed') this.fail(Object.assign(new Error(message.message), { code: message.code }));
      else if (message.type === 'digest') this.digestListener?.(message.digest as string);
      else if (message.type === 'stopped') this.stopWaiters = wakeAll(this.stopWaiters);
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', () => {
      this.exited = true;
      this.stopWaiters = wakeAll(this.stopWaiters);
      this.fail(new Error('the hashing thread stopped'));
    });
  }

  /**
   * Takes the chunk at `offset` (each byte exactly once; the chunk must not be used afterwards: its
   * memory may move to the worker). Returns a promise to await before reading more when this stream
   * should pause: its chunk waits in memory and the lead is full, or the worker is behind. After a
   * failure the promise resolves, and the next `add` throws.
   */
  add(offset: number, chunk: Buffer): Promise<void> | undefined {
    if (this.failure !== undefined) throw this.failure;
    if (offset !== this.cursor) {
      this.waitingChunks.set(offset, chunk);
      this.waitingBytes += chunk.length;
      return this.waitingBytes > this.aheadBytes ? new Promise<void>((resolve) => this.leadWaiters.push(resolve)) : undefined;
    }
    this.take(chunk);
    for (let next = this.waitingChunks.get(this.cursor); next !== undefined; next = this.waitingChunks.get(this.cursor)) {
      this.waitingChunks.delete(this.cursor);
      this.waitingBytes -= next.length;
      this.take(next);
    }
    if (this.waitingBytes <= this.aheadBytes) this.leadWaiters = wakeAll(this.leadWaiters);
    return this.unwritten > this.inFlightBytes ? new Promise<void>((resolve) => this.writeWaiters.push(resolve)) : undefined;
  }

  /** The digest of every byte, once all of them are written; throws if writing failed or bytes are missing. */
  async finish(): Promise<string> {
    if (this.failure !== undefined) throw this.failure;
    if (this.waitingChunks.size > 0) throw new Error(`bytes after offset ${this.cursor} arrived but the bytes before them never did`);
    this.post();
    while (this.unwritten > 0) {
      await new Promise<void>((resolve) => this.writeWaiters.push(resolve));
      if (this.failure !== undefined) throw this.failure;
    }
    const digest = new Promise<string>((resolve, reject) => {
      this.digestListener = resolve;
      this.writeWaiters.push(() => reject(this.failure as Error));
    });
    this.worker.postMessage({ type: 'digest' });
    try {
      return await digest;
    } finally {
      await this.worker.terminate();
    }
  }

  /**
   * Lets every paused stream go on to see the failure, and stops the worker once the writes it started
   * have ended: after this resolves nothing writes to the file descriptor, so it can be closed (a write
   * left running could otherwise land in whatever file reuses the number).
   */
  async abandon(reason: unknown = new Error('transfer abandoned')): Promise<void> {
    this.fail(reason);
    this.waitingChunks.clear();
    this.batch = [];
    if (!this.exited) {
      const stopped = new Promise<void>((resolve) => this.stopWaiters.push(resolve));
      this.worker.postMessage({ type: 'stop' });
      await stopped;
    }
    await this.worker.terminate();
  }

  private take(chunk: Buffer): void {
    const length = chunk.length;
    // A chunk that owns its whole memory (network chunks do) moves to the worker; any other is copied first,
    // so that no memory something else still uses is taken away.
    const owned = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
    this.batch.push(owned ? (chunk.buffer as ArrayBuffer) : (new Uint8Array(chunk).buffer as ArrayBuffer));
    this.cursor += length;
    this.batchLength += length;
    this.unwritten += length;
    if (this.batchLength >= BATCH_BYTES) this.post();
  }

  private post(): void {
    if (this.batchLength === 0) return;
    const buffers = this.batch;
    this.worker.postMessage({ type: 'chunks', buffers, length: this.batchLength, position: this.batchPosition }, buffers);
    this.batchPosition += this.batchLength;
    this.batch = [];
    this.batchLength = 0;
  }

  private fail(error: unknown): void {
    this.failure ??= error;
    this.leadWaiters = wakeAll(this.leadWaiters);
    this.writeWaiters = wakeAll(this.writeWaiters);
  }
}

/** Resumes everyone waiting; returns the new (empty) list. */
function wakeAll(waiters: Array<() => void>): Array<() => void> {
  for (const resume of waiters) resume();
  return [];
}

const PARTS_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const { crc32 } = require('node:zlib');
const { path, size, partBytes, algorithm } = workerData;
const fd = openSync(path, 'r');
const buffer = Buffer.allocUnsafe(Math.min(4 * 1024 * 1024, partBytes));
const checksums = [];
for (let start = 0; start < size; start += partBytes) {
  const hash = algorithm === 'SHA256' ? createHash('sha256') : undefined;
  let crc = 0;
  const end = Math.min(size, start + partBytes);
  for (let at = start; at < end; ) {
    const n = readSync(fd, buffer, 0, Math.min(buffer.length, end - at), at);
    if (n === 0) break;
    if (hash) hash.update(buffer.subarray(0, n));
    else crc = crc32(buffer.subarray(0, n), crc);
    at += n;
  }
  if (hash) checksums.push(hash.digest('base64'));
  else {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(crc >>> 0);
    checksums.push(bytes.toString('base64'));
  }
}
closeSync(fd);
parentPort.postMessage(checksums);
`;

/** The checksum S3 verifies each part of a multipart upload with. */
export type PartChecksumAlgorithm = 'CRC32' | 'SHA256';

/**
 * CRC32 where this Node has a native one (zlib.crc32, Node 20.15 and later): several times cheaper than
 * SHA-256 for this process and for the server, and a part checksum only guards the bytes in transit (the
 * blob's address, its SHA-256, is computed here and checked on every download).
 */
export const PART_CHECKSUM_ALGORITHM: PartChecksumAlgorithm = typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? 'CRC32' : 'SHA256';

/**
 * Base64 checksum (PART_CHECKSUM_ALGORITHM) of each `partBytes` slice of a file, computed on another
 * thread: S3 verifies each part of a multipart upload with these, while this thread hashes the whole
 * file for its address.
 */
export function checksumPartsOnWorker(path: string, size: number, partBytes: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(PARTS_WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { path, size, partBytes, algorithm: PART_CHECKSUM_ALGORITHM },
    });
    worker.once('message', (checksums: string[]) => {
      resolve(checksums);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}
