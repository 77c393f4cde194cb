import { codeVariantKey } from '../../cache/cache-key.js';
import type { CacheKey, Digest } from '../../cache/digest.js';
import { checkEntry, type TrustedKeys } from '../../cache/entry-signature.js';
import { verifiedSignatures } from '../../cache/verified-signatures.js';
import { blobsOfOutput } from '../../cache/manifest.js';
import type { ActionEntry, CodeFingerprint } from '../../cache/records.js';
import { BlobUnavailableError, type Store } from '../../cache/store.js';
import { sameCode } from '../code/code-fingerprint.js';
import { formatDuration } from '../durations.js';
import type { Explanation } from '../core/explain.js';

/** A hit names the read-only layer it came from (FLYWHEEL_READ_FROM), if not the run's own store. */
export type Lookup = { hit: true; entry: ActionEntry; layer?: string } | { hit: false; problem?: Explanation };

export interface LookupOptions {
  /** Remove broken entries and blobs found on the way (a run does; a plan only looks). */
  repair: boolean;
  /**
   * Check every blob the entry names (default). Off only where the caller reads and verifies the bytes
   * itself moments after they were checked or stored (a map's assembly).
   */
  verifyBlobs?: boolean;
  now?: number;
  /** The keys whose signature makes an entry usable (FLYWHEEL_TRUSTED_KEYS); undefined: entries are used as written. */
  trusted?: TrustedKeys | undefined;
}

/**
 * The stored result for a key, for this code: the key's latest entry, or when that one was made by
 * other code (another branch under the same version), the entry kept for this code (see putEntry).
 * A hit is only a hit if its entry parses, is signed by a trusted key (when the run trusts some), is
 * within maxAge, and every blob it names exists and verifies; a broken entry or blob becomes a reported miss, and the broken pieces are removed so the
 * recomputed result replaces them. Whether other code's result may serve is the decision's to judge.
 */
export async function lookUpResult(
  store: Store,
  key: CacheKey,
  code: CodeFingerprint | undefined,
  maxAgeMs: number | undefined,
  options: LookupOptions,
): Promise<Lookup> {
  const latest = await lookUpEntry(store, key, maxAgeMs, options);
  if (code === undefined || (latest.hit && sameCode(code, latest.entry.code))) return latest;
  const own = await lookUpEntry(store, codeVariantKey(key, code.digest), maxAgeMs, options);
  return own.hit || own.problem !== undefined ? own : latest;
}

async function lookUpEntry(store: Store, key: CacheKey, maxAgeMs: number | undefined, options: LookupOptions): Promise<Lookup> {
  const now = options.now ?? Date.now();
  const entry = await store.getAction(key);
  if (entry === undefined) return { hit: false };
  if (entry === 'unreadable') {
    if (options.repair) await store.deleteAction(key);
    return { hit: false, problem: { codes: ['entry-missing'], reason: 'cache entry is unreadable (torn or foreign file)' } };
  }
  // Before anything else about it: an entry no trusted key signed says nothing that can be believed.
  if (options.trusted !== undefined) {
    const trust = await checkEntry(entry, options.trusted, verifiedSignatures());
    if (!trust.trusted) return { hit: false, problem: { codes: ['untrusted-entry'], reason: `cached result not trusted: ${trust.reason}` } };
  }
  const age = now - Date.parse(entry.createdAt);
  if (maxAgeMs !== undefined && age > maxAgeMs) {
    return {
      hit: false,
      problem: { codes: ['expired'], reason: `cached result is ${formatDuration(age)} old, older than maxAge ${formatDuration(maxAgeMs)}` },
    };
  }
  if (options.verifyBlobs !== false) {
    for (const [name, output] of Object.entries(entry.outputs)) {
      let blobs;
      try {
        blobs = await blobsOfOutput(store, output);
      } catch (error) {
        if (!(error instanceof BlobUnavailableError)) throw error;
        return brokenBlob(store, key, name, error.digest, error.state, options.repair);
      }
      for (const blob of blobs) {
        const state = await store.checkBlob(blob.digest, 'hit', blob.size);
        if (state !== 'ok') return brokenBlob(store, key, name, blob.digest, state, options.repair);
      }
    }
  }
  // A run in progress lists its cached steps only when it ends; until then, recent use protects them from gc.
  // An entry of a read-only layer is never touched.
  const layer = store.layerOf?.(entry);
  if (options.repair && layer === undefined) await store.markUsed(key);
  return layer === undefined ? { hit: true, entry } : { hit: true, entry, layer };
}

async function brokenBlob(store: Store, key: CacheKey, output: string, digest: Digest, state: 'missing' | 'corrupt', repair: boolean): Promise<Lookup> {
  // A corrupt blob must go: the store skips re-uploading digests it already has.
  if (repair) {
    if (state === 'corrupt') await store.deleteBlob(digest);
    await store.deleteAction(key);
  }
  return {
    hit: false,
    problem: {
      codes: [state === 'missing' ? 'blob-missing' : 'blob-corrupt'],
      reason: `cached result unusable: blob ${digest.slice(0, 12)} of output ${output} is ${state}`,
    },
  };
}
