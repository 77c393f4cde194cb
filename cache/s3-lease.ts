import { setTimeout as sleep } from 'node:timers/promises';
import { claimedWith, describeHolder, failureNote, isDeadHere, newHolder, type LeaseHolder } from './lease-holder.js';
import type { ClaimOptions, KeyClaim, SharedFailure } from './store.js';

/** The object operations a lease needs; the S3 store provides them over its bucket. */
export interface LeaseObjects {
  /** Creates the object only if it is absent (If-None-Match); its ETag, or undefined when it exists. */
  create(key: string, body: string): Promise<string | undefined>;
  /** Replaces the object only while its ETag is `etag` (If-Match); the new ETag, or undefined when it changed. */
  replace(key: string, body: string, etag: string): Promise<string | undefined>;
  read(key: string): Promise<{ etag: string; body: string } | undefined>;
  /** Deletes the object, conditionally on `etag` where the service supports it (MinIO ignores the condition). */
  remove(key: string, etag: string): Promise<void>;
  write(key: string, body: string): Promise<void>;
}

export interface LeaseTiming {
  /** How often a holder rewrites its lease object, which changes its ETag: the sign it is alive. */
  renewMs: number;
  /** A lease whose ETag stays the same this long (by the waiter's own clock, so clocks need not agree) is taken over. */
  staleAfterMs: number;
  pollMs: number;
}

export const DEFAULT_LEASE_TIMING: LeaseTiming = { renewMs: 10_000, staleAfterMs: 60_000, pollMs: 250 };

function parseHolder(body: string): LeaseHolder | undefined {
  try {
    return JSON.parse(body) as LeaseHolder;
  } catch {
    return undefined;
  }
}

/**
 * A lease on a key in a bucket shared by many machines: created with a conditional write (the first
 * writer wins), renewed by rewriting it, taken over with a conditional replace when its holder is
 * dead (by pid on this host) or has stopped renewing. A holder that fails leaves its failure in
 * `<key>.failed` for the claims that waited for it.
 */
export async function claimS3Lease(objects: LeaseObjects, key: string, options: ClaimOptions, timing: LeaseTiming = DEFAULT_LEASE_TIMING): Promise<KeyClaim> {
  const waitedFor = new Set(options.waitedFor ?? []);
  const firstSeen = new Map<string, number>();
  let announced = false;
  // One identity for the whole claim: a write of ours whose answer was lost is recognised as ours.
  const me = newHolder();
  for (;;) {
    const created = await objects.create(key, JSON.stringify(me));
    if (created !== undefined) return held(objects, key, me, created, waitedFor, timing);
    const found = await objects.read(key);
    if (found === undefined) continue; // released meanwhile
    const holder = parseHolder(found.body);
    // Our own create or takeover, whose answer was lost and retried into a refusal.
    if (holder?.token === me.token) return held(objects, key, me, found.etag, waitedFor, timing);
    const seenAt = firstSeen.get(found.etag) ?? Date.now();
    firstSeen.set(found.etag, seenAt);
    if (isDeadHere(holder) ?? Date.now() - seenAt > timing.staleAfterMs) {
      const taken = await objects.replace(key, JSON.stringify(me), found.etag);
      if (taken !== undefined) return held(objects, key, me, taken, waitedFor, timing);
      continue; // someone else took it over first
    }
    if (!options.wait) return { claimed: false, holder: { token: holder?.token ?? '', description: describeHolder(holder) } };
    if (holder !== undefined) waitedFor.add(holder.token);
    if (!announced) {
      announced = true;
      options.onWait?.(describeHolder(holder));
    }
    await sleep(timing.pollMs, undefined, options.signal === undefined ? {} : { signal: options.signal });
  }
}

async function held(objects: LeaseObjects, key: string, me: LeaseHolder, etag: string, waitedFor: ReadonlySet<string>, timing: LeaseTiming): Promise<KeyClaim> {
  let current: string | undefined = etag;
  // Renewal is serialised with release, so a late renewal cannot recreate the lease after it was given up.
  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    renewing = renewing.then(async () => {
      if (current === undefined) return;
      const renewed = await objects.replace(key, JSON.stringify({ ...me, renewed: new Date().toISOString() }), current).catch(() => current);
      // Refused: either our own renewal whose answer was lost, or the lease was taken over.
      current = renewed ?? (await ours());
    });
  }, timing.renewMs);
  timer.unref();
  /** The lease's ETag while it is still ours, else undefined. */
  const ours = async (): Promise<string | undefined> => {
    const found = await objects.read(key).catch(() => undefined);
    return found !== undefined && parseHolder(found.body)?.token === me.token ? found.etag : undefined;
  };
  const release = async (failure?: SharedFailure): Promise<void> => {
    clearInterval(timer);
    await renewing;
    // Only ours to give up while it still is (a holder that renews is never taken over); MinIO ignores
    // If-Match on DELETE, so it is read first.
    const etag = current === undefined ? undefined : await ours();
    current = undefined;
    if (etag === undefined) return;
    // Written before the lease goes, so a waiter that gets in next finds it.
    if (failure !== undefined) await objects.write(`${key}.failed`, failureNote(me, failure));
    await objects.remove(key, etag);
  };
  const note = waitedFor.size === 0 ? undefined : (await objects.read(`${key}.failed`))?.body;
  const held = async (): Promise<boolean> => (await ours()) !== undefined;
  return claimedWith({ release, held }, note, waitedFor);
}
