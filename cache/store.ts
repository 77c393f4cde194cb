import type { CacheKey, Digest } from './digest.js';
import type { ActionEntry, RunRecord, StepRunRecord } from './records.js';

export type BlobState = 'ok' | 'missing' | 'corrupt';

/** A blob that was expected but is absent or does not hash to its address. */
export class BlobUnavailableError extends Error {
  constructor(
    readonly digest: Digest,
    readonly state: Exclude<BlobState, 'ok'>,
    where: string,
  ) {
    super(`blob ${digest} is ${state} in ${where}`);
    this.name = 'BlobUnavailableError';
  }
}

/** Why an execution failed, handed to the runs that waited for it: identical work fails once too. */
export interface SharedFailure {
  code: string;
  message: string;
  /** Digest of the code that failed (its fingerprint), when known: other code under the same key tries for itself. */
  codeDigest?: string;
}

/** Held while one process executes a cache key; others wait for it, then reuse its result or share its failure. */
export interface KeyLease {
  /** Gives the key up; with a failure, those who waited for this claim are told instead of trying again. */
  release(failure?: SharedFailure): Promise<void>;
  /**
   * Whether the key is still this claim's. False once another process took it over: this one was paused
   * (SIGSTOP, a frozen VM) or cut off for longer than a lease lasts, and the other is computing it now.
   */
  held(): Promise<boolean>;
}

/** Who holds a key another process wanted: `token` names that one claim. */
export interface KeyHolder {
  token: string;
  description: string;
}

export type KeyClaim =
  /** `sharedFailure`: a holder this claim waited for failed; report that instead of executing again. */
  { claimed: true; lease: KeyLease; sharedFailure?: SharedFailure } | { claimed: false; holder: KeyHolder };

export interface ClaimOptions {
  /** Wait until the holder gives the key up (true), or return at once saying who holds it (false). */
  wait: boolean;
  /** Holders the caller already waited for before this claim (a run that handed its wait on). */
  waitedFor?: readonly string[];
  /** Called once when the key turns out to be held. */
  onWait?: (holder: string) => void;
  /** Aborting stops the wait (the claim rejects). */
  signal?: AbortSignal;
}

export interface StoredBlob {
  digest: Digest;
  size: number;
  modifiedMs: number;
}

/**
 * What the engine needs from a cache backend. The local directory store is the default; the S3 store
 * implements the same contract so both executors and every machine share results.
 */
export interface Store {
  /** Human description for messages, e.g. `local store /home/me/proj/.flywheel` (never a secret). */
  readonly description: string;

  /** Stores a file's bytes under their SHA-256. With `move`, the file is consumed (renamed when possible). */
  putFile(path: string, options?: { move?: boolean }): Promise<{ digest: Digest; size: number }>;
  putBytes(bytes: Uint8Array): Promise<{ digest: Digest; size: number }>;
  /** Reads a blob whole, verifying its digest; throws BlobUnavailableError. For small blobs only. */
  readBytes(digest: Digest): Promise<Buffer>;
  /** Streams a blob to a new file, verifying its digest on the way; throws BlobUnavailableError. */
  copyBlobTo(digest: Digest, destination: string): Promise<void>;
  /**
   * `full` re-hashes the bytes. `hit` is what a cache hit pays: no blob bytes for a blob proven unchanged
   * since the store last hashed it (locally: its file's stamp; on S3: the SHA-256 the bucket checked on
   * upload), a re-hash otherwise, and always with FLYWHEEL_VERIFY=always. Blobs are verified again
   * whenever they are read.
   */
  checkBlob(digest: Digest, mode: 'full' | 'hit', expectedSize?: number): Promise<BlobState>;
  deleteBlob(digest: Digest): Promise<void>;
  listBlobs(): AsyncIterable<StoredBlob>;

  /** Returns undefined when absent; 'unreadable' when present but truncated or not an entry. */
  getAction(key: CacheKey): Promise<ActionEntry | 'unreadable' | undefined>;
  /** A store with read-only layers: the layer an entry `getAction` returned came from (undefined: its own). */
  layerOf?(entry: ActionEntry): string | undefined;
  /** Must be called only after every blob the entry names is stored. */
  putAction(entry: ActionEntry): Promise<void>;
  /** Records that a run just reused this entry, so `cache gc` keeps it and its blobs as recently used. */
  markUsed(key: CacheKey): Promise<void>;
  deleteAction(key: CacheKey): Promise<void>;
  listActions(): AsyncIterable<{ key: CacheKey; modifiedMs: number }>;

  /** Writes a run record whole; a finished one replaces its journal. */
  putRun(record: RunRecord): Promise<void>;
  /** Journals steps of a running run as they finish: cheap per step however large the run; `getRun` merges them in. */
  appendRunSteps(runId: string, steps: readonly StepRunRecord[]): Promise<void>;
  getRun(runId: string): Promise<RunRecord | undefined>;
  /** Run ids, newest first (ids sort by start time). */
  listRunIds(): Promise<string[]>;
  setPinned(runId: string, pinned: boolean): Promise<void>;
  listPinned(): Promise<Set<string>>;

  /**
   * Claims the right to execute `key`, across every process and machine sharing the store: an exclusive
   * create locally, a conditional write on S3, each renewed while held and taken over from a dead holder.
   */
  claimKey(key: CacheKey, options: ClaimOptions): Promise<KeyClaim>;
  /**
   * Where a running step's log lines are appended as they happen, so a live view can tail them:
   * `<root>/logs/<runId>/<stepId>.log` on the local store; undefined (or absent) where there is no
   * such file (S3: the step's log is there once the step ends, as the blob its record names).
   * `cache gc` removes them with the runs it does not keep (`removeLiveLogs`).
   */
  liveLogPath?(runId: string, stepId: string): string | undefined;
  /**
   * Stores one segment of a running step's log where every machine sharing the store reads it (S3, which
   * has no file to append to): segments are immutable, and `name` sorts after the segments its writer
   * stored before (see engine/execute/live-log-shipper.ts). Absent where `liveLogPath` serves instead.
   */
  putLogSegment?(runId: string, stepId: string, name: string, text: string): Promise<void>;
  /** The next segments of a running step's log after the one named `after` (all from the first without it), in name order. */
  readLogSegments?(runId: string, stepId: string, after: string | undefined, limit?: number): Promise<Array<{ name: string; text: string }>>;
  /** Removes a run's live log files (or segments), if the store keeps any. */
  removeLiveLogs?(runId: string): Promise<void>;
  /** A fresh private directory for a step's work, on the same filesystem as the blobs where possible (made synchronously: see makeScratchIn). */
  makeScratchDir(label: string): string;
  /** Removes scratch space left by killed processes, older than the grace period; returns how many entries. */
  removeStaleScratch(graceMs: number, now?: number): Promise<number>;
}
