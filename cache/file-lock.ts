import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { claimedWith, describeHolder, failureNote, isDeadHere, newHolder, type LeaseHolder } from './lease-holder.js';
import type { ClaimOptions, KeyClaim, SharedFailure } from './store.js';
import { writeFileWhole } from './write-whole.js';

/** A lock held longer than this without a heartbeat is considered abandoned (e.g. its host died). */
const STALE_AFTER_MS = 60_000;
const HEARTBEAT_MS = 10_000;
const POLL_MS = 50;
/** Breaking a lock takes milliseconds; a guard this old belongs to a breaker that died. */
const GUARD_STALE_MS = 10_000;

interface FoundLock {
  holder: LeaseHolder | undefined;
  text: string;
  mtimeMs: number;
}

function foundLock(text: string, mtimeMs: number): FoundLock {
  let holder: LeaseHolder | undefined;
  try {
    holder = JSON.parse(text) as LeaseHolder;
  } catch {
    holder = undefined; // being written right now, or torn by a crash: judged by age alone
  }
  return { holder, text, mtimeMs };
}

/** The lock as it is now: a file of a hundred bytes, read synchronously (see createLock). */
function readLockNow(path: string): FoundLock | undefined {
  try {
    return foundLock(readFileSync(path, 'utf8'), statSync(path).mtimeMs);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Creates the lock file holding `holder`, or returns false when it exists. Synchronous on purpose: a
 * map claims one lock per element, and three thread-pool round trips per claim (open, write, close)
 * cost ten times the microseconds these calls take on a local disk.
 */
function createLock(path: string, holder: LeaseHolder): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, JSON.stringify(holder));
  } finally {
    closeSync(fd);
  }
  return true;
}

/** On this host the pid is the truth (a live holder whose event loop is busy keeps its lock); elsewhere the heartbeat is. */
function isAbandoned(found: FoundLock): boolean {
  return isDeadHere(found.holder) ?? Date.now() - found.mtimeMs > STALE_AFTER_MS;
}

/**
 * Cross-process mutual exclusion with an O_EXCL lock file. A holder that dies (SIGKILL included) is
 * detected by its pid on this host, or by a heartbeat that stops updating the file's mtime. A holder
 * that fails leaves its failure beside the lock for the claims that waited for it.
 */
export async function claimFileLock(path: string, options: ClaimOptions): Promise<KeyClaim> {
  const me = newHolder();
  const waitedFor = new Set(options.waitedFor ?? []);
  let announced = false;
  for (;;) {
    if (createLock(path, me)) {
      const heartbeat = setInterval(() => {
        const now = new Date();
        utimes(path, now, now).catch(() => undefined);
      }, HEARTBEAT_MS);
      heartbeat.unref();
      const release = async (failure?: SharedFailure): Promise<void> => {
        clearInterval(heartbeat);
        if (readLockNow(path)?.holder?.token !== me.token) return;
        // Written before the lock goes, so a waiter that gets in next finds it.
        if (failure !== undefined) await writeFileWhole(`${path}.failed`, failureNote(me, failure));
        rmSync(path, { force: true });
      };
      const note = waitedFor.size === 0 ? undefined : await readFile(`${path}.failed`, 'utf8').catch(() => undefined);
      const held = async (): Promise<boolean> => readLockNow(path)?.holder?.token === me.token;
      return claimedWith({ release, held }, note, waitedFor);
    }
    const found = readLockNow(path);
    if (found === undefined) continue;
    if (isAbandoned(found)) {
      await breakLock(path, found.text);
      continue;
    }
    if (!options.wait) return { claimed: false, holder: { token: found.holder?.token ?? '', description: describeHolder(found.holder) } };
    if (found.holder !== undefined) waitedFor.add(found.holder.token);
    if (!announced) {
      announced = true;
      options.onWait?.(describeHolder(found.holder));
    }
    await sleep(POLL_MS, undefined, options.signal === undefined ? {} : { signal: options.signal }); // rejects when the waiter is cancelled
  }
}

/** Waits for the lock; resolves with its release. */
export async function acquireFileLock(path: string, onWait?: (holder: string) => void, signal?: AbortSignal): Promise<() => Promise<void>> {
  const claim = await claimFileLock(path, { wait: true, ...(onWait === undefined ? {} : { onWait }), ...(signal === undefined ? {} : { signal }) });
  if (!claim.claimed) throw new Error(`internal: a waiting claim of ${path} returned unclaimed`);
  return () => claim.lease.release();
}

/**
 * Runs `work` while holding a lock file, so processes sharing a file (a registry, a history) take turns.
 *
 * @example
 * ```ts
 * await withFileLock(`${historyPath}.lock`, async () => {
 *   const history = await readHistory(historyPath);
 *   await writeFileWhole(historyPath, JSON.stringify([...history, entry]));
 * });
 * ```
 */
export async function withFileLock<T>(path: string, work: () => Promise<T>): Promise<T> {
  const release = await acquireFileLock(path);
  try {
    return await work();
  } finally {
    await release();
  }
}

/**
 * Removes an abandoned lock. Breakers take turns through a guard file, and each re-reads the lock
 * under the guard: a waiter that judged an old lock abandoned can never remove a fresh one that
 * another waiter created in the meantime.
 */
async function breakLock(path: string, abandonedText: string): Promise<void> {
  const guard = `${path}.breaking`;
  try {
    await (await open(guard, 'wx')).close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Someone else is breaking it. A guard left by a breaker that died mid-way is cleared after a while.
    const info = await stat(guard).catch(() => undefined);
    if (info !== undefined && Date.now() - info.mtimeMs > GUARD_STALE_MS) await rm(guard, { force: true });
    return;
  }
  try {
    const current = await readFile(path, 'utf8').catch(() => undefined);
    if (current === abandonedText) await rm(path, { force: true });
  } finally {
    await rm(guard, { force: true });
  }
}
