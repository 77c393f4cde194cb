import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isProcessAlive } from './process-alive.js';

/** This machine in a scratch entry's name: a pid says whether its process lives only on the host that made it. */
const HOST = hostname().replace(/\W/g, '_') || 'host';

/** `<label>-<pid>@<host>-`: what every scratch entry's name starts with, before its random part. */
function prefixOf(label: string): string {
  return `${label.replace(/[^\w.]/g, '_')}-${process.pid}@${HOST}-`;
}

/** The pid (and the host, in names made since hosts were named) an entry's name carries. */
function ownerOf(name: string): { pid: number; host?: string } | undefined {
  const match = /-(\d+)(?:@(\w+))?-/.exec(name);
  if (match === null) return undefined;
  return { pid: Number(match[1]), ...(match[2] === undefined ? {} : { host: match[2] }) };
}

/**
 * A fresh private directory under `dir`, named with this process's pid and host so cleanup can tell if it
 * is live. Synchronous: a step asks for its work directory when it first reads `ctx.workDir`.
 */
export function makeScratchIn(dir: string, label: string): string {
  mkdirSync(dir, { recursive: true });
  sweepOnce(dir);
  return mkdtempSync(join(dir, prefixOf(label)));
}

/** A fresh path for a staging file under `dir` (a download before it is verified), named like scratch. */
export function stagingPathIn(dir: string, label: string): string {
  mkdirSync(dir, { recursive: true });
  sweepOnce(dir);
  return join(dir, `${prefixOf(label)}${randomBytes(6).toString('hex')}`);
}

const swept = new Set<string>();

/**
 * The first time this process makes scratch in `dir`, what processes of this host left there when they
 * died (a SIGKILLed worker, a preempted trainer) is removed in the background. Without it a host whose
 * workers are killed often fills its disk with their scratch until someone runs `cache gc` (the chaos
 * soak's finding). Only this host's entries: another machine's pid says nothing here.
 */
function sweepOnce(dir: string): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  void removeLeftByDeadProcesses(dir).catch(() => undefined);
}

/** Removes the entries of this host's processes that are gone; the number removed. */
export async function removeLeftByDeadProcesses(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const owner = ownerOf(name);
    if (owner?.host !== HOST || isProcessAlive(owner.pid)) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/** Removes entries of dead processes older than the grace period; a live process's scratch is never touched, however old. */
export async function removeStaleScratchIn(dir: string, graceMs: number, now = Date.now()): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const owner = ownerOf(name);
    if (owner !== undefined && isProcessAlive(owner.pid)) continue;
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info === undefined || now - info.mtimeMs < graceMs) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}
