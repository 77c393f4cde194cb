import { hostname } from 'node:os';
import { open, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProcessAlive } from './process-alive.js';

/** A lock held longer than this without a heartbeat is considered abandoned (e.g. its host died). */
const STALE_AFTER_MS = 60_000;
const HEARTBEAT_MS = 10_000;
const POLL_MS = 50;

interface LockOwner {
  host: string;
  pid: number;
  token: string;
  since: string;
}

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
  if (owner !== undefined && owner.host === hostname()) return !isProcessAlive(owner.pid);
  return Date.now() - found.mtimeMs > STALE_AFTER_MS;
}

/**
 * Cross-process mutual exclusion with an O_EXCL lock file. A holder that dies (SIGKILL included)
 * is detected by its pid on this host, or by a heartbeat that stops updating the file's mtime.
 */
export async function acquireFileLock(path: string, onWait?: (holder: string) => void, signal?: AbortSignal): Promise<() => Promise<void>> {
  const me: LockOwner = { host: hostname(), pid: process.pid, token: randomBytes(8).toString('hex'), since: new Date().toISOString() };
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

/** Moves the abandoned lock aside; if another waiter replaced it meanwhile, puts theirs back. */
async function breakLock(path: string, abandonedText: string): Promise<void> {
  const aside = `${path}.broken-${randomBytes(6).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readFile(aside, 'utf8').catch(() => abandonedText);
  if (moved !== abandonedText) {
    // We took a live lock that was created after our check: restore it unless yet another exists.
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(moved);
      await handle.close();
    } catch {
      // someone else holds it now; either way exactly one live lock remains
    }
  }
  await rm(aside, { force: true });
}
