import type { CacheKey, Digest } from '../cache/digest.js';
import { blobsOfOutput } from '../cache/manifest.js';
import type { ActionEntry } from '../cache/records.js';
import { BlobUnavailableError, type Store } from '../cache/store.js';
import { formatDuration } from './durations.js';
import type { Explanation } from './core/explain.js';

export type Lookup = { hit: true; entry: ActionEntry } | { hit: false; problem?: Explanation };

/**
 * A hit is only a hit if its entry parses and every blob it names exists and verifies. A broken entry
 * or blob becomes a reported miss, and the broken pieces are removed so the recomputed result replaces them.
 */
export async function lookUpResult(store: Store, key: CacheKey, maxAgeMs: number | undefined, options: { repair: boolean; now?: number }): Promise<Lookup> {
  const now = options.now ?? Date.now();
  const entry = await store.getAction(key);
  if (entry === undefined) return { hit: false };
  if (entry === 'unreadable') {
    if (options.repair) await store.deleteAction(key);
    return { hit: false, problem: { codes: ['entry-missing'], reason: 'cache entry is unreadable (torn or foreign file)' } };
  }
  const age = now - Date.parse(entry.createdAt);
  if (maxAgeMs !== undefined && age > maxAgeMs) {
    return {
      hit: false,
      problem: { codes: ['expired'], reason: `cached result is ${formatDuration(age)} old, older than maxAge ${formatDuration(maxAgeMs)}` },
    };
  }
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
  // A run in progress lists its cached steps only when it ends; until then, recent use protects them from gc.
  if (options.repair) await store.markUsed(key);
  return { hit: true, entry };
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
