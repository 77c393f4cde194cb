import { checkEntry, type TrustedKeys } from './entry-signature.js';
import { isSha256Hex, type CacheKey, type Digest } from './digest.js';
import { blobsOfOutput } from './manifest.js';
import { isInterruptedRun } from './process-alive.js';
import type { OutputRecord, RunRecord } from './records.js';
import { BlobUnavailableError, type Store } from './store.js';

export interface GcOptions {
  /** Runs kept per pipeline, newest first. */
  keepRuns: number;
  /** Anything written more recently than this is kept: a run in progress may still reference it. */
  graceMs: number;
  dryRun: boolean;
  now?: number;
}

export interface GcReport {
  keptRuns: string[];
  deletedEntries: CacheKey[];
  deletedBlobs: Digest[];
  freedBytes: number;
  /** Scratch directories left behind by killed runs. */
  removedScratch: number;
  keptEntries: number;
  keptBlobs: number;
}

function isInProgress(run: RunRecord, now: number, graceMs: number): boolean {
  if (run.status !== 'running') return false;
  if (now - Date.parse(run.startedAt) < graceMs) return true;
  return !isInterruptedRun(run); // on another host it cannot be told: kept
}

/** Every blob an output needs; a broken directory manifest contributes only itself. */
async function blobsSafely(store: Store, output: OutputRecord): Promise<Digest[]> {
  try {
    return (await blobsOfOutput(store, output)).map((b) => b.digest);
  } catch (error) {
    if (error instanceof BlobUnavailableError) return [output.digest];
    throw error;
  }
}

/**
 * The cache keys a map's key list names (see ElementCounts.keys). A missing, corrupt or foreign list
 * keeps nothing alive: its elements are then looked up afresh by the next run.
 */
export async function elementKeysSafely(store: Store, digest: Digest): Promise<string[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse((await store.readBytes(digest)).toString('utf8'));
  } catch (error) {
    if (error instanceof BlobUnavailableError || error instanceof SyntaxError) return [];
    throw error;
  }
  return Array.isArray(parsed) ? parsed.filter((k): k is string => typeof k === 'string' && isSha256Hex(k)) : [];
}

/** What the entry pass needs of one action entry. */
interface ListedEntry {
  key: CacheKey;
  modifiedMs: number;
  outputs: OutputRecord[];
  /** A whole map's entry: the blob listing its elements' keys. */
  elementKeys?: Digest;
  /** A result kept per code fingerprint: it lives as long as the key it is a result for. */
  variantOf?: CacheKey;
}

/**
 * Collects garbage: keeps what the newest `keepRuns` finished runs of each pipeline, pinned runs, runs in
 * progress and interrupted runs newer than any finished one reference, and anything used or written
 * within the grace period, and the per-element entries of every map one of those reference (through the
 * run's step or a kept whole-map entry: the map's key list); deletes the rest (entries first,
 * then blobs, so no entry ever points at a deleted blob). Run records themselves are kept as history.
 */
export async function collectGarbage(store: Store, runs: RunRecord[], options: GcOptions): Promise<GcReport> {
  const now = options.now ?? Date.now();
  const pinned = await store.listPinned();
  const perPipeline = new Map<string, number>();
  const kept: RunRecord[] = [];
  for (const run of runs) {
    if (isInProgress(run, now, options.graceMs) || pinned.has(run.runId)) {
      kept.push(run);
      continue;
    }
    const seen = perPipeline.get(run.pipeline) ?? 0;
    if (run.status === 'running') {
      // Interrupted (killed) runs do not use up the allowance; one newer than every finished run is
      // where the next run resumes, so what it finished is kept.
      if (seen === 0) kept.push(run);
      continue;
    }
    perPipeline.set(run.pipeline, seen + 1);
    if (seen < options.keepRuns) kept.push(run);
    else if (!options.dryRun) await store.removeLiveLogs?.(run.runId);
  }
  const liveKeys = new Set<string>();
  const liveBlobs = new Set<string>();
  /** Keeps a map's key list and every element entry it names alive. */
  const expanded = new Set<string>();
  const keepElements = async (list: Digest): Promise<void> => {
    if (expanded.has(list)) return;
    expanded.add(list);
    liveBlobs.add(list);
    for (const key of await elementKeysSafely(store, list)) liveKeys.add(key);
  };
  for (const run of kept) {
    for (const step of run.steps) {
      if (step.cacheKey) liveKeys.add(step.cacheKey);
      // A kept run's logs stay readable: the step's own and its failed elements'.
      if (step.logs !== undefined) liveBlobs.add(step.logs);
      for (const failure of step.elements?.failures ?? []) if (failure.logs !== undefined) liveBlobs.add(failure.logs);
      if (step.elements?.keys !== undefined) await keepElements(step.elements.keys);
      for (const output of Object.values(step.outputs)) for (const d of await blobsSafely(store, output)) liveBlobs.add(d);
    }
  }
  const report: GcReport = {
    keptRuns: kept.map((r) => r.runId),
    deletedEntries: [],
    deletedBlobs: [],
    freedBytes: 0,
    removedScratch: 0,
    keptEntries: 0,
    keptBlobs: 0,
  };
  // Every entry is read before any is deleted: a kept whole-map entry keeps its elements' entries,
  // which may be listed before it.
  const listed: ListedEntry[] = [];
  for await (const { key, modifiedMs } of store.listActions()) {
    const entry = await store.getAction(key);
    const readable = entry !== undefined && entry !== 'unreadable';
    listed.push({
      key,
      modifiedMs,
      outputs: readable ? Object.values(entry.outputs) : [],
      ...(readable && entry.elements !== undefined ? { elementKeys: entry.elements.keys } : {}),
      ...(readable && entry.variantOf !== undefined ? { variantOf: entry.variantOf } : {}),
    });
  }
  const isLive = (e: ListedEntry): boolean =>
    liveKeys.has(e.key) || (e.variantOf !== undefined && liveKeys.has(e.variantOf)) || now - e.modifiedMs < options.graceMs;
  for (let grew = true; grew;) {
    grew = false;
    for (const e of listed) {
      if (e.elementKeys === undefined || expanded.has(e.elementKeys) || !isLive(e)) continue;
      await keepElements(e.elementKeys);
      grew = true;
    }
  }
  for (const e of listed) {
    if (isLive(e)) {
      report.keptEntries++;
      for (const output of e.outputs) for (const d of await blobsSafely(store, output)) liveBlobs.add(d);
      continue;
    }
    report.deletedEntries.push(e.key);
    if (!options.dryRun) await store.deleteAction(e.key);
  }
  for await (const blob of store.listBlobs()) {
    if (liveBlobs.has(blob.digest) || now - blob.modifiedMs < options.graceMs) {
      report.keptBlobs++;
      continue;
    }
    report.deletedBlobs.push(blob.digest);
    report.freedBytes += blob.size;
    if (!options.dryRun) await store.deleteBlob(blob.digest);
  }
  if (!options.dryRun) report.removedScratch = await store.removeStaleScratch(options.graceMs, now);
  return report;
}

export interface VerifyReport {
  blobsChecked: number;
  corruptBlobs: Digest[];
  entriesChecked: number;
  /** Entries that are unreadable or name a missing or corrupt blob. */
  brokenEntries: Array<{ key: CacheKey; problem: string }>;
  /** Who signed the readable entries: entries per signer id, and how many are unsigned. */
  signatures: { signedBy: Record<string, number>; unsigned: number };
  /** With trusted keys: entries none of them signed (never served; `--fix` removes them). Null without trusted keys. */
  untrustedEntries: Array<{ key: CacheKey; problem: string }> | null;
  fixed: boolean;
}

/**
 * Re-hashes every blob and checks every action-cache entry, and says who signed the entries; with
 * `trusted`, lists the entries none of those keys signed. With `fix`, removes what is broken or untrusted.
 */
export async function verifyStore(store: Store, fix: boolean, trusted?: TrustedKeys): Promise<VerifyReport> {
  const report: VerifyReport = {
    blobsChecked: 0,
    corruptBlobs: [],
    entriesChecked: 0,
    brokenEntries: [],
    signatures: { signedBy: {}, unsigned: 0 },
    untrustedEntries: trusted === undefined ? null : [],
    fixed: fix,
  };
  const bad = new Set<string>();
  const present = new Set<string>();
  for await (const blob of store.listBlobs()) {
    report.blobsChecked++;
    present.add(blob.digest);
    if ((await store.checkBlob(blob.digest, 'full')) === 'corrupt') {
      report.corruptBlobs.push(blob.digest);
      bad.add(blob.digest);
    }
  }
  for await (const { key } of store.listActions()) {
    report.entriesChecked++;
    const entry = await store.getAction(key);
    let problem: string | undefined;
    if (entry === 'unreadable' || entry === undefined) problem = 'entry unreadable';
    else {
      const signer = entry.signature?.signer;
      if (signer === undefined) report.signatures.unsigned++;
      else report.signatures.signedBy[signer] = (report.signatures.signedBy[signer] ?? 0) + 1;
      const trust = trusted === undefined ? undefined : await checkEntry(entry, trusted);
      if (trust !== undefined && !trust.trusted) report.untrustedEntries?.push({ key, problem: trust.reason });
      for (const [name, output] of Object.entries(entry.outputs)) {
        for (const digest of await blobsSafely(store, output)) {
          if (bad.has(digest)) problem ??= `output ${name}: blob ${digest} is corrupt`;
          else if (!present.has(digest)) problem ??= `output ${name}: blob ${digest} is missing`;
        }
      }
    }
    if (problem !== undefined) report.brokenEntries.push({ key, problem });
  }
  if (fix) {
    for (const { key } of [...report.brokenEntries, ...(report.untrustedEntries ?? [])]) await store.deleteAction(key);
    for (const digest of report.corruptBlobs) await store.deleteBlob(digest);
  }
  return report;
}
