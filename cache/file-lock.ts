import { hostname } from 'node:os';
import { open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProcessAlive } from './process-alive.js';

/** A lock held longer than this without a heartbeat is considered abandoned (e.g. its host died). */
const STALE_AFTER_MS = 60_000;
const HEARTBEAT_MS = 10_000;
const POLL_MS = 50;
/** Breaking a lock takes milliseconds; a guard this old belongs to a breaker that died. */
const GUARD_STALE_MS = 10_000;

interface LockOwner {
  host: string;
  pid: number;
  token: string;
  since: string;
  /** Which process with this pid: a restarted container keeps its hostname and often its pids. */
  instance?: string;
}

const INSTANCE = randomBytes(8).toString('hex');

async function readOwner(path: string): Promise<{ owner: LockOwner | undefined; text: string; mtimeMs: number } | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    let owner: LockOwner | undefined;
    try {
      owner = JSON.parse(text) as LockOwner;
    } catch {
      owner = undefined; // being written right now, or torn by a crash: judged by age alone
    }
    return { owner, text, mtimeMs: info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function isAbandoned(found: { owner: LockOwner | undefined; mtimeMs: number }): boolean {
  const owner = found.owner;
  // On this host the pid is the truth: a live holder whose event loop is busy keeps its lock.
  if (owner !== undefined && owner.host === hostname()) {
    // Our own pid, written by another instance: an earlier process that had this pid (e.g. before a container restart).
    if (owner.pid === process.pid && owner.instance !== undefined && owner.instance !== INSTANCE) return true;
    return !isProcessAlive(owner.pid);
  }
  return Date.now() - found.mtimeMs > STALE_AFTER_MS;
}

/**
 * Cross-process mutual exclusion with an O_EXCL lock file. A holder that dies (SIGKILL included)
 * is detected by its pid on this host, or by a heartbeat that stops updating the file's mtime.
 */
export async function acquireFileLock(path: string, onWait?: (holder: string) => void, signal?: AbortSignal): Promise<() => Promise<void>> {
  const me: LockOwner = { host: hostname(), pid: process.pid, token: randomBytes(8).toString('hex'), since: new Date().toISOString(), instance: INSTANCE };
  let announced = false;
  for (;;) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(JSON.stringify(me));
      } finally {
        await handle.close();
      }
      const heartbeat = setInterval(() => {
        const now = new Date();
        utimes(path, now, now).catch(() => undefined);
      }, HEARTBEAT_MS);
      heartbeat.unref();
      return async () => {
        clearInterval(heartbeat);
        const current = await readOwner(path);
        if (current?.owner?.token === me.token) await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const found = await readOwner(path);
    if (found === undefined) continue;
    if (isAbandoned(found)) {
      await breakLock(path, found.text);
      continue;
    }
    if (!announced) {
      announced = true;
      onWait?.(found.owner ? `pid ${found.owner.pid} on ${found.owner.host}` : 'another process');
    }
    await sleep(POLL_MS, undefined, signal === undefined ? {} : { signal }); // rejects when the waiter is cancelled
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
