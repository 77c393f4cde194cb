import type { CacheKey, Digest } from './digest.js';
import type { ActionEntry, RunRecord, StepRunRecord } from './records.js';
import { BlobUnavailableError, type BlobState, type ClaimOptions, type KeyClaim, type Store, type StoredBlob } from './store.js';

/**
 * A run's store with read-only layers under it: the run writes one store (its own: entries, blobs,
 * records, leases) and may reuse results from others (`FLYWHEEL_READ_FROM`, e.g. main's results on S3
 * from a laptop or a pull request's CI). A look-up asks the own store first, then each layer in order;
 * a hit's blobs are read from the layer that has them, never copied into the own store (a step that
 * needs the bytes as an input gets them as from any store). Nothing is ever written to a layer: no
 * entries, blobs, leases, records, repairs or `markUsed`.
 */
export class LayeredStore implements Store {
  readonly description: string;
  /** The layer each entry this store returned came from (absent: the own store): by the entry itself, so concurrent look-ups never mix them up. */
  private readonly entryLayers = new WeakMap<ActionEntry, Store>();
  /** The store that last had a blob asked for: a run's hits mostly come from one layer, so it is asked first. */
  private lastHolder: Store;

  constructor(
    readonly own: Store,
    readonly layers: readonly Store[],
  ) {
    this.description = `${own.description} (reading also ${layers.map((l) => l.description).join(', ')})`;
    this.lastHolder = own;
  }

  /** Every store, the one that last had a blob first: blobs are addressed by content, so any copy that verifies will do. */
  private blobOrder(): Store[] {
    return [this.lastHolder, ...[this.own, ...this.layers].filter((s) => s !== this.lastHolder)];
  }

  /** The read-only layer an entry this store returned came from; undefined for the own store. */
  layerOf(entry: ActionEntry): string | undefined {
    return this.entryLayers.get(entry)?.description;
  }

  /**
   * The first store's answer whose copy of the blob is there and verifies, asking the store that last
   * had a good one first; when none has, the first problem found (a corrupt copy before a missing one).
   */
  private async firstWith<T>(read: (store: Store) => Promise<T>): Promise<T> {
    let problem: BlobUnavailableError | undefined;
    for (const store of this.blobOrder()) {
      try {
        const found = await read(store);
        this.lastHolder = store;
        return found;
      } catch (error) {
        if (!(error instanceof BlobUnavailableError)) throw error;
        if (problem === undefined || (problem.state === 'missing' && error.state === 'corrupt')) problem = error;
      }
    }
    throw problem ?? new Error('internal: no store to read');
  }

  putFile(path: string, options?: { move?: boolean }): Promise<{ digest: Digest; size: number }> {
    return this.own.putFile(path, options);
  }

  putBytes(bytes: Uint8Array): Promise<{ digest: Digest; size: number }> {
    return this.own.putBytes(bytes);
  }

  readBytes(digest: Digest): Promise<Buffer> {
    return this.firstWith((store) => store.readBytes(digest));
  }

  copyBlobTo(digest: Digest, destination: string): Promise<void> {
    return this.firstWith((store) => store.copyBlobTo(digest, destination));
  }

  async checkBlob(digest: Digest, mode: 'full' | 'hit', expectedSize?: number): Promise<BlobState> {
    // A corrupt copy in one store does not hide a good one in another: content is content.
    let found: BlobState = 'missing';
    for (const store of this.blobOrder()) {
      const state = await store.checkBlob(digest, mode, expectedSize);
      if (state === 'ok') {
        this.lastHolder = store;
        return 'ok';
      }
      if (state === 'corrupt') found = 'corrupt';
    }
    return found;
  }

  /** The own store's copy only: a layer's blob, even a corrupt one, is its writer's to repair. */
  deleteBlob(digest: Digest): Promise<void> {
    return this.own.deleteBlob(digest);
  }

  listBlobs(): AsyncIterable<StoredBlob> {
    return this.own.listBlobs();
  }

  async getAction(key: CacheKey): Promise<ActionEntry | 'unreadable' | undefined> {
    const own = await this.own.getAction(key);
    if (own !== undefined) return own;
    for (const layer of this.layers) {
      const found = await layer.getAction(key);
      if (found === undefined) continue;
      if (found !== 'unreadable') this.entryLayers.set(found, layer);
      return found;
    }
    return undefined;
  }

  putAction(entry: ActionEntry): Promise<void> {
    return this.own.putAction(entry);
  }

  /** The own store's entry (callers skip entries of a layer: a layer is never written, not even its use times). */
  markUsed(key: CacheKey): Promise<void> {
    return this.own.markUsed(key);
  }

  /** The own store's entry only: an unusable entry in a layer stays for its writer (and is a miss here). */
  deleteAction(key: CacheKey): Promise<void> {
    return this.own.deleteAction(key);
  }

  listActions(): AsyncIterable<{ key: CacheKey; modifiedMs: number }> {
    return this.own.listActions();
  }

  putRun(record: RunRecord): Promise<void> {
    return this.own.putRun(record);
  }

  appendRunSteps(runId: string, steps: readonly StepRunRecord[]): Promise<void> {
    return this.own.appendRunSteps(runId, steps);
  }

  getRun(runId: string): Promise<RunRecord | undefined> {
    return this.own.getRun(runId);
  }

  listRunIds(): Promise<string[]> {
    return this.own.listRunIds();
  }

  setPinned(runId: string, pinned: boolean): Promise<void> {
    return this.own.setPinned(runId, pinned);
  }

  listPinned(): Promise<Set<string>> {
    return this.own.listPinned();
  }

  claimKey(key: CacheKey, options: ClaimOptions): Promise<KeyClaim> {
    return this.own.claimKey(key, options);
  }

  liveLogPath(runId: string, stepId: string): string | undefined {
    return this.own.liveLogPath?.(runId, stepId);
  }

  async putLogSegment(runId: string, stepId: string, name: string, text: string): Promise<void> {
    await this.own.putLogSegment?.(runId, stepId, name, text);
  }

  async readLogSegments(runId: string, stepId: string, after: string | undefined, limit?: number): Promise<Array<{ name: string; text: string }>> {
    return (await this.own.readLogSegments?.(runId, stepId, after, limit)) ?? [];
  }

  async removeLiveLogs(runId: string): Promise<void> {
    await this.own.removeLiveLogs?.(runId);
  }

  makeScratchDir(label: string): string {
    return this.own.makeScratchDir(label);
  }

  removeStaleScratch(graceMs: number, now?: number): Promise<number> {
    return this.own.removeStaleScratch(graceMs, now);
  }
}
