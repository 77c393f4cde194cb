import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isProcessAlive } from './process-alive.js';
import type { KeyClaim, KeyLease, SharedFailure } from './store.js';

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

/** What a holder whose execution failed leaves beside its lease (`<lease>.failed`), naming its claim. */
export function failureNote(holder: LeaseHolder, failure: SharedFailure): string {
  return JSON.stringify({ token: holder.token, failure });
}

/** A claim that got the key; it shares the failure in `note` if one of the holders it waited for left it. */
export function claimedWith(lease: KeyLease, note: string | undefined, waitedFor: ReadonlySet<string>): KeyClaim {
  let sharedFailure: SharedFailure | undefined;
  if (note !== undefined && waitedFor.size > 0) {
    try {
      const left = JSON.parse(note) as { token?: string; failure?: SharedFailure };
      if (left.token !== undefined && waitedFor.has(left.token)) sharedFailure = left.failure;
    } catch {
      // torn or foreign: no failure to share
    }
  }
  return { claimed: true, lease, ...(sharedFailure === undefined ? {} : { sharedFailure }) };
}
