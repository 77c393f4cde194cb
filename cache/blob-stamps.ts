import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, type BigIntStats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Digest } from './digest.js';

/**
 * A blob file's identity as the filesystem reports it: size, modification and change times in
 * nanoseconds, inode and device. Writing a byte changes mtime and ctime; restoring mtime (`touch -d`,
 * `utimes`) changes ctime again, and the kernel sets ctime, no user can; replacing the file changes the
 * inode. So an unchanged stamp means unchanged bytes, unless the disk itself rots them (which
 * `flywheel cache verify` is for).
 */
export function stampOf(stats: BigIntStats): string {
  return `v1 ${stats.size} ${stats.mtimeNs} ${stats.ctimeNs} ${stats.ino} ${stats.dev}`;
}

/**
 * A change the stamp may not show: a filesystem with coarse timestamps gives two writes within one tick
 * the same ctime. A stamp taken less than this long after the file's last change is therefore not kept
 * when the store did not make that change itself (git calls these entries "racy").
 */
const RACY_MS = 2000;

/**
 * Stamps of blobs as they were when the store last hashed them: `<root>/<ab>/<digest>`, one line each.
 * A cache hit whose blob still has its stamp is trusted without reading the blob; any difference means
 * a re-hash (then a new stamp, or the reported miss a damaged blob is).
 */
export class BlobStamps {
  constructor(readonly root: string) {}

  private path(digest: Digest): string {
    return join(this.root, digest.slice(0, 2), digest);
  }

  /** True when the blob's file is the one the store last hashed and found to be `digest`. */
  matches(digest: Digest, stats: BigIntStats): boolean {
    try {
      return readFileSync(this.path(digest), 'utf8') === stampOf(stats);
    } catch {
      return false; // no stamp (never hashed since stamps began, or removed): hash it
    }
  }

  /**
   * Records that `digest` was hashed from the file whose stats were `before` when hashing began and
   * `after` when it ended. Nothing is recorded if the file changed meanwhile, or, unless the store
   * itself made the file's last change (`ownChange`), if that change is too recent to be told apart
   * from a later one. Best effort: a stamp not written only means the next hit hashes again.
   */
  record(digest: Digest, before: BigIntStats, after: BigIntStats, options: { ownChange?: boolean; now?: number } = {}): void {
    const stamp = stampOf(after);
    if (stampOf(before) !== stamp) return;
    const changedMs = Number((after.ctimeNs > after.mtimeNs ? after.ctimeNs : after.mtimeNs) / 1_000_000n);
    if (!options.ownChange && (options.now ?? Date.now()) - changedMs < RACY_MS) return;
    const path = this.path(digest);
    const staged = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      try {
        writeFileSync(staged, stamp);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        mkdirSync(join(path, '..'), { recursive: true });
        writeFileSync(staged, stamp);
      }
      renameSync(staged, path);
    } catch {
      rmSync(staged, { force: true });
    }
  }

  forget(digest: Digest): void {
    rmSync(this.path(digest), { force: true });
  }
}
