import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isProcessAlive } from './process-alive.js';

/** Who holds a lock or lease: written into it, so waiters can say whom they wait for and notice a dead holder. */
export interface LeaseHolder {
  host: string;
  pid: number;
  /** Unique per claim: waiters remember it to find the failure this claim left behind. */
  token: string;
  since: string;
  /** Which process with this pid: a restarted container keeps its hostname and often its pids. */
  instance?: string;
}

const INSTANCE = randomBytes(8).toString('hex');

export function newHolder(): LeaseHolder {
  return { host: hostname(), pid: process.pid, token: randomBytes(8).toString('hex'), since: new Date().toISOString(), instance: INSTANCE };
}

export function describeHolder(holder: LeaseHolder | undefined): string {
  return holder === undefined ? 'another process' : `pid ${holder.pid} on ${holder.host}`;
}

/**
 * Whether the holder is known to be gone. Only on this host can that be told (by its pid); elsewhere a
 * holder is gone when it stops renewing, which the caller judges by age.
 */
export function isDeadHere(holder: LeaseHolder | undefined): boolean | undefined {
  if (holder === undefined || holder.host !== hostname()) return undefined;
  // Our own pid, written by another instance: an earlier process that had this pid (e.g. before a container restart).
  if (holder.pid === process.pid) return holder.instance !== undefined && holder.instance !== INSTANCE;
  return !isProcessAlive(holder.pid);
}
