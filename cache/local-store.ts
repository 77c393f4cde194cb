import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
  type BigIntStats,
} from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobStamps, stampOf } from './blob-stamps.js';
import { canonicalJson } from './canonical.js';
import { copyFileHashing } from './copy-hashing.js';
import { asCacheKey, asDigest, isSha256Hex, sha256Bytes, sha256FileWithStats, type CacheKey, type Digest } from './digest.js';
import { FlywheelError } from './errors.js';
import { claimFileLock } from './file-lock.js';
import { makeScratchIn, removeStaleScratchIn } from './scratch.js';
import { asRunRecord, parseActionEntry, withJournal, type ActionEntry, type RunRecord, type StepRunRecord } from './records.js';
import { BlobUnavailableError, type BlobState, type ClaimOptions, type KeyClaim, type Store, type StoredBlob } from './store.js';
import { verifyPolicy, type VerifyPolicy } from './verify-policy.js';
import { stepLogName } from './step-log-name.js';

/**
 * Blobs smaller than this are hashed on every cache hit: one read and hash of a few KiB costs what
 * reading a stamp does, and proves more. Larger ones are trusted on an unchanged stamp (see BlobStamps).
 */
const STAMPED_FROM_BYTES = 64 * 1024;

/**
 * Files up to this size are read synchronously. A cached run reads thousands of tiny entries and blobs;
 * a synchronous read of a small local file takes microseconds, an asynchronous one a thread-pool
 * round trip that costs ten times more and piles up garbage. Large files stay asynchronous.
 */
const SMALL_FILE_BYTES = 1024 * 1024;

/** Journals kept open at once by one process. */
const OPEN_JOURNALS = 16;

/** Run ids become file and object names: letters, digits, `.`, `_` and `-` only. Returns the id. */
export function checkRunId(runId: string): string {
  if (!/^[\w.-]+$/.test(runId)) throw new FlywheelError('INVALID_RUN_ID', `invalid run id ${JSON.stringify(runId)}`, { fix: 'list runs with `flywheel runs`' });
  return runId;
}

/** A small blob of known size, verified in one read: a byte more than expected, or one less, is damage. */
function checkSmallBlob(fd: number, digest: Digest, expectedSize: number): BlobState {
  const bytes = Buffer.allocUnsafe(expectedSize + 1);
  if (readInto(fd, bytes) !== expectedSize) return 'corrupt';
  return sha256Bytes(bytes.subarray(0, expectedSize)) === digest ? 'ok' : 'corrupt';
}

/** Fills `buffer` from the start of an open file, or as much as the file holds; returns how many bytes came. */
function readInto(fd: number, buffer: Buffer): number {
  let read = 0;
  while (read < buffer.length) {
    const n = readSync(fd, buffer, read, buffer.length - read, read);
    if (n === 0) break;
    read += n;
  }
  return read;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * The default store: a directory (`.flywheel/` by default).
 *
 *   cas/sha256/ab/<digest>   immutable blobs, read-only, addressed by SHA-256
 *   stamps/ab/<digest>       each large blob's file stamp when last hashed: a hit on an unchanged one reads no bytes
 *   ac/ab/<key>.json         action-cache entries (key → outputs), written last
 *   runs/<runId>.json        run records;  runs/<runId>.steps.jsonl  steps finished while it runs
 *   pins/<runId>             pinned runs
 *   locks/<key>.lock         single-flight claims (and <key>.lock.failed: the last failure, for waiters)
 *   tmp/                     scratch space on the same filesystem
 *   logs/<runId>/<stepId>.log  a running step's log lines, appended live (the finished log is a blob)
 *
 * Every write goes to tmp/ first and is renamed into place, so a reader never sees half a file.
 */
export class LocalStore implements Store {
  readonly description: string;
  private readonly tmp: string;
  private ready: Promise<void> | undefined;
  /** Journals of running runs this process appends to, by run id (file descriptors). */
  private readonly journals = new Map<string, number>();
  private readonly stamps: BlobStamps;
  private readonly verify: VerifyPolicy;

  /** `readOnly`: a store read as a layer under another (FLYWHEEL_READ_FROM): reading it writes nothing there, not even stamps. */
  constructor(
    readonly root: string,
    options: { readOnly?: boolean } = {},
  ) {
    this.description = `local store ${root}`;
    this.tmp = join(root, 'tmp');
    this.stamps = new BlobStamps(join(root, 'stamps'), options.readOnly === true);
    this.verify = verifyPolicy();
  }

  private ensureLayout(): Promise<void> {
    this.ready ??= Promise.all(['cas/sha256', 'ac', 'runs', 'pins', 'locks', 'tmp'].map((d) => mkdir(join(this.root, d), { recursive: true }))).then(
      () => undefined,
    );
    return this.ready;
  }

  /** Where a stored blob's file is (it may be missing): what a push sends as is, its digest already known. */
  blobFile(digest: Digest): string {
    return this.blobPath(digest);
  }

  private blobPath(digest: Digest): string {
    return join(this.root, 'cas', 'sha256', digest.slice(0, 2), digest);
  }

  private actionPath(key: CacheKey): string {
    return join(this.root, 'ac', key.slice(0, 2), `${key}.json`);
  }

  private tmpPath(label: string): string {
    return join(this.tmp, `${label}-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Renames a finished temp file to its final place, creating the fan-out directory on demand. */
  private async publish(tmpFile: string, finalPath: string): Promise<void> {
    try {
      await rename(tmpFile, finalPath);
    } catch (error) {
      if (!isMissing(error)) throw error;
      await mkdir(join(finalPath, '..'), { recursive: true });
      await rename(tmpFile, finalPath);
    }
  }

  /**
   * Writes a small file whole under a private name, then renames it to its final place, synchronously
   * (see SMALL_FILE_BYTES: a map writes two such files per element, an entry and its result).
   */
  private writeSmallWhole(finalPath: string, label: string, data: string | Uint8Array, mode?: number): void {
    const staged = this.tmpPath(label);
    try {
      writeFileSync(staged, data, mode === undefined ? {} : { mode });
      try {
        renameSync(staged, finalPath);
      } catch (error) {
        if (!isMissing(error)) throw error;
        mkdirSync(join(finalPath, '..'), { recursive: true });
        renameSync(staged, finalPath);
      }
    } catch (error) {
      rmSyncQuietly(staged);
      throw error;
    }
  }

  /**
   * True if a good copy of the blob is already stored, marking it as just used so a concurrent `cache gc`
   * keeps it. A damaged copy (wrong size, or a hash that does not match) is removed so the caller stores
   * the new bytes: re-running a step repairs its outputs.
   */
  private async alreadyStored(digest: Digest, size: number): Promise<boolean> {
    const state = await this.checkBlob(digest, 'hit', size).catch(() => 'corrupt' as const);
    if (state === 'missing') return false;
    if (state === 'corrupt') {
      await this.deleteBlob(digest);
      return false;
    }
    // A stamped blob is marked through its stamp: touching the blob would change its stamp unchecked.
    if (!this.stamps.touch(digest)) {
      const now = new Date();
      if (size < STAMPED_FROM_BYTES) touchQuietly(this.blobPath(digest), now);
      else await utimes(this.blobPath(digest), now, now).catch(() => undefined);
    }
    return true;
  }

  /** Makes a file the store wrote itself (at a private path) a read-only blob, and stamps it. */
  private async publishWritten(file: string, digest: Digest, size: number): Promise<void> {
    await chmod(file, 0o444);
    await this.publish(file, this.blobPath(digest));
    if (size >= STAMPED_FROM_BYTES) this.withBlobStats(digest, (published) => this.stamps.recordWritten(digest, published));
  }

  /** Calls `use` with a blob's current stats, unless it is gone meanwhile (nothing to stamp then). */
  private withBlobStats(digest: Digest, use: (stats: BigIntStats) => void): void {
    let stats: BigIntStats;
    try {
      stats = statSyncBigInt(this.blobPath(digest));
    } catch {
      return;
    }
    use(stats);
  }

  async putFile(path: string, options: { move?: boolean } = {}): Promise<{ digest: Digest; size: number }> {
    await this.ensureLayout();
    if (options.move) {
      // The producer's scratch space lives in this store's tmp/, so moving is a rename: no copy.
      const { digest, size, stats, hashedAtMs } = await hashStable(path);
      if (await this.alreadyStored(digest, size)) {
        await rm(path, { force: true });
        return { digest, size };
      }
      await chmod(path, 0o444);
      try {
        await this.publish(path, this.blobPath(digest));
        if (size >= STAMPED_FROM_BYTES) this.withBlobStats(digest, (published) => this.stamps.recordMoved(digest, stats, published, hashedAtMs));
        return { digest, size };
      } catch (error) {
        // Another filesystem: rename is impossible, so copy (below) and then consume the source.
        if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      }
      const copied = await this.putFile(path);
      await rm(path, { force: true });
      return copied;
    }
    const staged = this.tmpPath('blob');
    try {
      const { digest, size } = await copyFileHashing(path, staged);
      if (await this.alreadyStored(digest, size)) await rm(staged, { force: true });
      else await this.publishWritten(staged, digest, size);
      return { digest, size };
    } catch (error) {
      await rm(staged, { force: true });
      throw error;
    }
  }

  async putBytes(bytes: Uint8Array): Promise<{ digest: Digest; size: number }> {
    await this.ensureLayout();
    const digest = sha256Bytes(bytes);
    if (await this.alreadyStored(digest, bytes.length)) return { digest, size: bytes.length };
    if (bytes.length < STAMPED_FROM_BYTES) {
      // Created read-only: the mode applies to the new file, while the open descriptor still writes it.
      this.writeSmallWhole(this.blobPath(digest), 'blob', bytes, 0o444);
    } else {
      const staged = this.tmpPath('blob');
      await writeFile(staged, bytes);
      await this.publishWritten(staged, digest, bytes.length);
    }
    return { digest, size: bytes.length };
  }

  async readBytes(digest: Digest): Promise<Buffer> {
    let bytes: Buffer;
    let before: BigIntStats;
    const path = this.blobPath(digest);
    try {
      before = statSyncBigInt(path);
      bytes = before.size <= SMALL_FILE_BYTES ? readFileSync(path) : await readFile(path);
    } catch (error) {
      if (isMissing(error)) throw new BlobUnavailableError(digest, 'missing', this.description);
      throw error;
    }
    if (sha256Bytes(bytes) !== digest) throw new BlobUnavailableError(digest, 'corrupt', this.description);
    if (bytes.length >= STAMPED_FROM_BYTES) this.stampHashed(digest, before);
    return bytes;
  }

  /** Records the stamp of a blob just hashed and found right, if the file did not change meanwhile. */
  private stampHashed(digest: Digest, before: BigIntStats): void {
    this.withBlobStats(digest, (after) => this.stamps.recordHashed(digest, before, after));
  }

  async copyBlobTo(digest: Digest, destination: string): Promise<void> {
    // A step reads its inputs through here, so the bytes are hashed whatever their stamp says.
    let copied: { digest: Digest; source?: BigIntStats };
    try {
      copied = await copyFileHashing(this.blobPath(digest), destination);
    } catch (error) {
      if (isMissing(error)) throw new BlobUnavailableError(digest, 'missing', this.description);
      throw error;
    }
    if (copied.digest !== digest) {
      await rm(destination, { force: true });
      throw new BlobUnavailableError(digest, 'corrupt', this.description);
    }
    if (copied.source !== undefined && copied.source.size >= STAMPED_FROM_BYTES) this.stampHashed(digest, copied.source);
  }

  /**
   * `hit`: blobs under STAMPED_FROM_BYTES are hashed, larger ones trusted while their file keeps the stamp
   * recorded when the store last hashed it (or always hashed with FLYWHEEL_VERIFY=always). `full` hashes.
   */
  async checkBlob(digest: Digest, mode: 'full' | 'hit', expectedSize?: number): Promise<BlobState> {
    const path = this.blobPath(digest);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      if (isMissing(error)) return 'missing';
      throw error;
    }
    try {
      // The common hit: a small blob whose size the entry gives, hashed whole in one read, no stat.
      if (mode === 'hit' && expectedSize !== undefined && expectedSize < STAMPED_FROM_BYTES) return checkSmallBlob(fd, digest, expectedSize);
      const stats = fstatSync(fd, { bigint: true });
      const size = Number(stats.size);
      if (expectedSize !== undefined && size !== expectedSize) return 'corrupt';
      if (size < STAMPED_FROM_BYTES) return checkSmallBlob(fd, digest, size);
      if (mode === 'hit' && this.verify === 'stamps' && this.stamps.matches(digest, stats)) return 'ok';
    } finally {
      closeSync(fd);
    }
    return this.hashBlob(digest);
  }

  /** Hashes a stored blob; when it is right, stamps it. */
  private async hashBlob(digest: Digest): Promise<BlobState> {
    let hashed;
    try {
      hashed = await sha256FileWithStats(this.blobPath(digest));
    } catch (error) {
      if (isMissing(error)) return 'missing';
      throw error;
    }
    if (hashed.digest !== digest) return 'corrupt';
    this.stamps.recordHashed(digest, hashed.before, hashed.after);
    return 'ok';
  }

  async deleteBlob(digest: Digest): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
    this.stamps.forget(digest);
  }

  async *listBlobs(): AsyncIterable<StoredBlob> {
    const base = join(this.root, 'cas', 'sha256');
    for (const fan of await readdir(base).catch(() => [] as string[])) {
      for (const name of await readdir(join(base, fan)).catch(() => [] as string[])) {
        if (!isSha256Hex(name)) continue;
        const info = await stat(join(base, fan, name)).catch(() => undefined);
        if (info === undefined) continue;
        const digest = asDigest(name);
        // A stamped blob's last use is its stamp's mtime (see alreadyStored).
        yield { digest, size: info.size, modifiedMs: Math.max(info.mtimeMs, this.stamps.lastUsedMs(digest) ?? 0) };
      }
    }
  }

  async getAction(key: CacheKey): Promise<ActionEntry | 'unreadable' | undefined> {
    let text: string;
    try {
      text = readFileSync(this.actionPath(key), 'utf8'); // entries are small: see SMALL_FILE_BYTES
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    return parseActionEntry(text, key);
  }

  async putAction(entry: ActionEntry): Promise<void> {
    await this.ensureLayout();
    this.writeSmallWhole(this.actionPath(entry.key), 'ac', canonicalJson(entry));
  }

  async markUsed(key: CacheKey): Promise<void> {
    // The entry alone: gc keeps every blob of a recently used entry. Best effort: a file that vanished
    // meanwhile is the next look-up's problem, not this one's.
    touchQuietly(this.actionPath(key), new Date());
  }

  async deleteAction(key: CacheKey): Promise<void> {
    await rm(this.actionPath(key), { force: true });
  }

  async *listActions(): AsyncIterable<{ key: CacheKey; modifiedMs: number }> {
    const base = join(this.root, 'ac');
    for (const fan of await readdir(base).catch(() => [] as string[])) {
      for (const name of await readdir(join(base, fan)).catch(() => [] as string[])) {
        const key = name.replace(/\.json$/, '');
        if (!name.endsWith('.json') || !isSha256Hex(key)) continue;
        const info = await stat(join(base, fan, name)).catch(() => undefined);
        if (info) yield { key: asCacheKey(key), modifiedMs: info.mtimeMs };
      }
    }
  }

  private runPath(runId: string): string {
    return join(this.root, 'runs', `${checkRunId(runId)}.json`);
  }

  /** A running step's live log (see Store): the step id made a file name (see stepLogName). */
  liveLogPath(runId: string, stepId: string): string {
    return join(this.root, 'logs', checkRunId(runId), `${stepLogName(stepId)}.log`);
  }

  async removeLiveLogs(runId: string): Promise<void> {
    await rm(join(this.root, 'logs', checkRunId(runId)), { recursive: true, force: true });
  }

  private journalPath(runId: string): string {
    return join(this.root, 'runs', `${checkRunId(runId)}.steps.jsonl`);
  }

  async putRun(record: RunRecord): Promise<void> {
    await this.ensureLayout();
    const staged = this.tmpPath('run');
    await writeFile(staged, JSON.stringify(record));
    await this.publish(staged, this.runPath(record.runId));
    // A finished record holds every step: its journal has nothing more to say.
    if (record.status === 'running') return;
    this.closeJournal(record.runId);
    await rm(this.journalPath(record.runId), { force: true });
  }

  async appendRunSteps(runId: string, steps: readonly StepRunRecord[]): Promise<void> {
    if (steps.length === 0) return;
    await this.ensureLayout();
    // One append per save, to a journal kept open while the run runs: O(1) per step however large the
    // run; a torn last line is skipped on read. A few journals stay open (a worker serves many runs).
    let fd = this.journals.get(runId);
    if (fd === undefined) {
      fd = openSync(this.journalPath(runId), 'a');
      if (this.journals.size >= OPEN_JOURNALS) this.closeJournal(this.journals.keys().next().value as string);
    }
    this.journals.delete(runId);
    this.journals.set(runId, fd); // most recently used last: the oldest is closed first
    writeSync(fd, steps.map((s) => `${JSON.stringify(s)}\n`).join(''));
  }

  private closeJournal(runId: string): void {
    const fd = this.journals.get(runId);
    if (fd === undefined) return;
    this.journals.delete(runId);
    closeSync(fd);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const path = this.runPath(runId);
    try {
      const record = asRunRecord(JSON.parse(await readFile(path, 'utf8')));
      if (record.status !== 'running') return record;
      return withJournal(record, await readFile(this.journalPath(runId), 'utf8').catch(() => ''));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw new FlywheelError('RUN_RECORD_UNREADABLE', `run record ${runId} in ${this.description} is unreadable: ${(error as Error).message}`, {
        fix: 'the file was damaged (e.g. a full disk); delete it from runs/ or restore it',
      });
    }
  }

  async listRunIds(): Promise<string[]> {
    const names = await readdir(join(this.root, 'runs')).catch(() => [] as string[]);
    return names
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -'.json'.length))
      .sort()
      .reverse();
  }

  async setPinned(runId: string, pinned: boolean): Promise<void> {
    await this.ensureLayout();
    const path = join(this.root, 'pins', checkRunId(runId));
    if (pinned) await writeFile(path, '');
    else await rm(path, { force: true });
  }

  async listPinned(): Promise<Set<string>> {
    return new Set(await readdir(join(this.root, 'pins')).catch(() => [] as string[]));
  }

  async claimKey(key: CacheKey, options: ClaimOptions): Promise<KeyClaim> {
    await this.ensureLayout();
    return claimFileLock(join(this.root, 'locks', `${asCacheKey(key)}.lock`), options);
  }

  removeStaleScratch(graceMs: number, now?: number): Promise<number> {
    return removeStaleScratchIn(this.tmp, graceMs, now);
  }

  makeScratchDir(label: string): string {
    return makeScratchIn(this.tmp, label);
  }
}

function touchQuietly(path: string, now: Date): void {
  try {
    utimesSync(path, now, now);
  } catch {
    // best effort, as markUsed: a blob gone meanwhile is the next look-up's problem
  }
}

function rmSyncQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // a staged file that cannot be removed is tmp/ garbage, which gc clears
  }
}

function statSyncBigInt(path: string): BigIntStats {
  return statSync(path, { bigint: true });
}

/**
 * Hashes a file that is about to be moved into the store, and checks it did not change while being
 * hashed: a producer that still writes to its output must not get a digest of bytes that are not the file's.
 */
async function hashStable(path: string): Promise<{ digest: Digest; size: number; stats: BigIntStats; hashedAtMs: number }> {
  const { digest, size, before, after } = await sha256FileWithStats(path);
  if (stampOf(before) !== stampOf(after)) {
    throw new FlywheelError('STEP_OUTPUT_INVALID', `${path} changed while it was being stored`, {
      fix: 'make sure the step (and anything it started) has finished writing its outputs before it returns',
    });
  }
  return { digest, size, stats: after, hashedAtMs: Date.now() };
}
