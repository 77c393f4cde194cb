import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from './digest.js';

/**
 * A bounded local copy of remote blobs, so repeated reads on one machine do not download again.
 * Least recently used blobs are evicted first (use refreshes a file's mtime). Files here were verified
 * against their digest when they arrived; readers still verify when they copy them out.
 */
export class LocalBlobCache {
  private knownBytes: number | undefined;

  constructor(
    readonly root: string,
    readonly maxBytes: number,
  ) {}

  private path(digest: Digest): string {
    return join(this.root, digest);
  }

  /** The cached file for this digest, marked as just used; undefined when not cached. */
  async lookup(digest: Digest): Promise<string | undefined> {
    const path = this.path(digest);
    try {
      const now = new Date();
      await utimes(path, now, now);
      return path;
    } catch {
      return undefined;
    }
  }

  /** Takes ownership of a verified file (renamed into the cache), then evicts down to the size limit. */
  async adopt(file: string, digest: Digest): Promise<string> {
    await mkdir(this.root, { recursive: true });
    const size = (await stat(file)).size;
    const path = this.path(digest);
    await rename(file, path);
    if (this.knownBytes !== undefined) this.knownBytes += size;
    await this.evict(digest);
    return path;
  }

  async forget(digest: Digest): Promise<void> {
    await rm(this.path(digest), { force: true });
    this.knownBytes = undefined;
  }

  private async evict(justAdded: Digest): Promise<void> {
    if (this.knownBytes !== undefined && this.knownBytes <= this.maxBytes) return;
    const files: Array<{ name: string; size: number; used: number }> = [];
    for (const name of await readdir(this.root)) {
      const info = await stat(join(this.root, name)).catch(() => undefined);
      if (info?.isFile()) files.push({ name, size: info.size, used: info.mtimeMs });
    }
    let total = files.reduce((sum, f) => sum + f.size, 0);
    files.sort((a, b) => a.used - b.used);
    for (const file of files) {
      if (total <= this.maxBytes) break;
      if (file.name === justAdded) continue; // the caller is about to read it
      await rm(join(this.root, file.name), { force: true });
      total -= file.size;
    }
    this.knownBytes = total;
  }
}
