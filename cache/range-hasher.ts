import { Worker } from 'node:worker_threads';

// Runs in a worker thread (CommonJS, evaluated from this string so it works from sources and from dist/):
// hashes byte ranges of a file in the order they are sent, so the main thread keeps the network busy.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const hash = createHash('sha256');
const fd = openSync(workerData.path, 'r');
const buffer = Buffer.allocUnsafe(workerData.bufferBytes);
parentPort.on('message', (message) => {
  if (message.type === 'range') {
    for (let done = 0; done < message.length; ) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, message.length - done), message.start + done);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
      done += n;
    }
    parentPort.postMessage({ type: 'hashed', index: message.index });
  } else {
    closeSync(fd);
    parentPort.postMessage({ type: 'digest', digest: hash.digest('hex') });
  }
});
`;

/**
 * SHA-256 of a file that is being written range by range: `add` each finished range in order; the
 * hashing happens on another thread, reading the bytes back from the page cache.
 */
export class RangeHasher {
  private readonly worker: Worker;
  private readonly hashedListeners: Array<(index: number) => void> = [];

  constructor(path: string, bufferBytes: number) {
    // execArgv: [] so a parent started with `--input-type=module` does not make this CommonJS source ESM.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { path, bufferBytes } });
    this.worker.on('message', (message: { type: string; index?: number }) => {
      if (message.type === 'hashed') for (const listener of this.hashedListeners) listener(message.index as number);
    });
  }

  /** Called with each range index once it has been hashed. */
  onHashed(listener: (index: number) => void): void {
    this.hashedListeners.push(listener);
  }

  add(index: number, start: number, length: number): void {
    this.worker.postMessage({ type: 'range', index, start, length });
  }

  /** The digest of everything added, in order. */
  async digest(): Promise<string> {
    const result = new Promise<string>((resolve, reject) => {
      this.worker.on('message', (message: { type: string; digest?: string }) => {
        if (message.type === 'digest') resolve(message.digest as string);
      });
      this.worker.once('error', reject);
    });
    this.worker.postMessage({ type: 'finish' });
    try {
      return await result;
    } finally {
      await this.worker.terminate();
    }
  }

  async abandon(): Promise<void> {
    await this.worker.terminate();
  }
}

const PARTS_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const { path, size, partBytes } = workerData;
const fd = openSync(path, 'r');
const buffer = Buffer.allocUnsafe(Math.min(4 * 1024 * 1024, partBytes));
const digests = [];
for (let start = 0; start < size; start += partBytes) {
  const hash = createHash('sha256');
  const end = Math.min(size, start + partBytes);
  for (let at = start; at < end; ) {
    const n = readSync(fd, buffer, 0, Math.min(buffer.length, end - at), at);
    if (n === 0) break;
    hash.update(buffer.subarray(0, n));
    at += n;
  }
  digests.push(hash.digest('base64'));
}
closeSync(fd);
parentPort.postMessage(digests);
`;

/**
 * Base64 SHA-256 of each `partBytes` slice of a file, computed on another thread: S3 verifies each
 * part of a multipart upload with these, while this thread hashes the whole file for its address.
 */
export function hashPartsOnWorker(path: string, size: number, partBytes: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(PARTS_WORKER_SOURCE, { eval: true, execArgv: [], workerData: { path, size, partBytes } });
    worker.once('message', (digests: string[]) => {
      resolve(digests);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}
