import { mkdirSync, mkdtempSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isProcessAlive } from './process-alive.js';

/**
 * A fresh private directory under `dir`, named with this process's pid so cleanup can tell if it is live.
 * Synchronous: a step asks for its work directory when it first reads `ctx.workDir`.
 */
export function makeScratchIn(dir: string, label: string): string {
  mkdirSync(dir, { recursive: true });
  return mkdtempSync(join(dir, `${label.replace(/[^\w.]/g, '_')}-${process.pid}-`));
}

/** Removes entries of dead processes older than the grace period; a live process's scratch is never touched, however old. */
export async function removeStaleScratchIn(dir: string, graceMs: number, now = Date.now()): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(/-(\d+)-/.exec(name)?.[1]);
    if (Number.isInteger(pid) && isProcessAlive(pid)) continue;
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info === undefined || now - info.mtimeMs < graceMs) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}
