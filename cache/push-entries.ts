// Pushing what runs computed from one store to another (`flywheel cache push`): a local run's results
// shared on S3 for the team. Each entry goes after every blob it names (outputs, a directory's files, a
// map's key list and its elements' entries, logs), so the target never holds an entry whose blobs are
// missing; entries travel as written, signature included, and are trusted there as they would be here.
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { CacheKey, Digest } from './digest.js';
import { LocalStore } from './local-store.js';
import { elementKeysSafely } from './maintenance.js';
import { blobsOfOutput } from './manifest.js';
import type { RunRecord } from './records.js';
import { S3Store } from './s3-store.js';
import { BlobUnavailableError, type Store } from './store.js';

export interface PushReport {
  runs: number;
  entries: number;
  /** Blobs sent, and their bytes. */
  blobs: number;
  bytes: number;
  /** Blobs and entries the target already had. */
  present: number;
  /** Keys the runs name whose entries this store no longer has (removed by gc, or never written): not pushed. */
  missing: string[];
}

/** Sends one blob unless the target has an intact copy: from its file, digest known, where both sides allow it. */
async function pushBlob(source: Store, target: Store, digest: Digest, report: PushReport): Promise<void> {
  if ((await target.checkBlob(digest, 'hit')) === 'ok') {
    report.present++;
    return;
  }
  const state = await source.checkBlob(digest, 'hit');
  if (state !== 'ok') throw new BlobUnavailableError(digest, state, source.description);
  let path: string;
  let copied: string | undefined;
  if (source instanceof LocalStore) path = source.blobFile(digest);
  else {
    copied = join(tmpdir(), `flywheel-push-${randomBytes(6).toString('hex')}`);
    await source.copyBlobTo(digest, copied);
    path = copied;
  }
  try {
    const { size } = await stat(path);
    if (target instanceof S3Store) await target.putKnownFile(path, digest, size);
    else {
      const stored = await target.putFile(path);
      if (stored.digest !== digest) throw new BlobUnavailableError(digest, 'corrupt', source.description);
    }
    report.blobs++;
    report.bytes += size;
  } finally {
    if (copied !== undefined) await rm(copied, { force: true });
  }
}

/** Pushes an entry (a map's: its elements' entries first) after its blobs; false when the source has no readable entry. */
async function pushEntry(source: Store, target: Store, key: CacheKey, report: PushReport, done: Set<string>): Promise<boolean> {
  if (done.has(key)) return true;
  done.add(key);
  const entry = await source.getAction(key);
  if (entry === undefined || entry === 'unreadable') return false;
  for (const output of Object.values(entry.outputs))
    for (const blob of await blobsOfOutput(source, output)) await pushBlob(source, target, blob.digest, report);
  if (entry.elements !== undefined) {
    await pushBlob(source, target, entry.elements.keys, report);
    for (const element of await elementKeysSafely(source, entry.elements.keys)) await pushEntry(source, target, element as CacheKey, report, done);
  }
  // An entry already there is a result of the same key, perhaps signed by another writer the team trusts: kept.
  const there = await target.getAction(key);
  if (there !== undefined && there !== 'unreadable') report.present++;
  else {
    await target.putAction(entry);
    report.entries++;
  }
  return true;
}

/** Pushes the results of `runs` (their steps' entries and blobs, their logs) and then the run records themselves. */
export async function pushRuns(source: Store, target: Store, runs: readonly RunRecord[]): Promise<PushReport> {
  const report: PushReport = { runs: 0, entries: 0, blobs: 0, bytes: 0, present: 0, missing: [] };
  const done = new Set<string>();
  for (const run of runs) {
    for (const step of run.steps) {
      if (step.cacheKey !== undefined && (step.status === 'executed' || step.status === 'cached'))
        if (!(await pushEntry(source, target, step.cacheKey, report, done))) report.missing.push(step.cacheKey);
      if (step.elements?.keys !== undefined) {
        await pushBlob(source, target, step.elements.keys, report);
        for (const element of await elementKeysSafely(source, step.elements.keys))
          if (!(await pushEntry(source, target, element as CacheKey, report, done))) report.missing.push(element);
      }
      // Logs are best effort: a run's results do not depend on them.
      for (const logs of [step.logs, ...(step.elements?.failures ?? []).map((f) => f.logs)])
        if (logs !== undefined) await pushBlob(source, target, logs, report).catch(() => undefined);
    }
    await target.putRun(run);
    report.runs++;
  }
  return report;
}
