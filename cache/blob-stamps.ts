import { mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, type BigIntStats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Digest } from './digest.js';

/**
 * A blob file's identity as the filesystem reports it: size, modification and change times in
 * nanoseconds, inode and device. Writing a byte changes mtime and ctime; putting mtime back (`touch -d`,
 * `utimes`) changes ctime again, and only the kernel sets ctime; replacing the file changes the inode.
 * So an unchanged stamp means unchanged bytes, unless the disk itself rots them (which `flywheel cache
 * verify` is for).
 */
export function stampOf(stats: BigIntStats): string {
  return `v1 ${stats.size} ${stats.mtimeNs} ${stats.ctimeNs} ${stats.ino} ${stats.dev}`;
}

/** The same file with the same bytes: size, mtime, inode and device (ctime moves with chmod and rename too). */
function sameContent(a: BigIntStats, b: BigIntStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino && a.dev === b.dev;
}

const millis = (ns: bigint): number => Number(ns / 1_000_000n);

/**
 * Filesystems with coarse timestamps give two writes within one tick the same times, so a stamp taken
 * within a tick of the file's last change could miss a further one (git calls such entries "racy").
 * A stamp taken after re-hashing someone else's file is kept only once the last change is this old:
 * two seconds covers the coarsest common filesystems.
 */
const RACY_MS = 2000;

/** One timestamp tick of Linux's local filesystems (a jiffy: at most 10 ms), with margin. */
const TICK_MS = 20;

/** True when the file changed so recently that a further change might not show in its stamp. */
export function isRacy(stats: BigIntStats, nowMs: number): boolean {
  const changed = stats.ctimeNs > stats.mtimeNs ? stats.ctimeNs : stats.mtimeNs;
  return nowMs - millis(changed) < RACY_MS;
}

/**
 * Stamps of blobs as they were when the store last hashed them: `<root>/<ab>/<digest>`, one line each.
 * A cache hit whose blob still has its stamp is trusted without reading the blob; any difference means
 * a re-hash (then a new stamp, or the reported miss a damaged blob is). The stamp file's mtime is also
 * the blob's last use for `cache gc`, so the store never touches a stamped blob again.
 */
export class BlobStamps {
  /** `readOnly`: stamps are read, never written (a store opened as a read-only layer is not touched). */
  constructor(
    readonly root: string,
    readonly readOnly = false,
  ) {}

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
   * Records that `digest` was hashed from an existing file whose stats were `before` when hashing began
   * and `after` when it ended: not if the file changed meanwhile, nor if its last change is racy.
   */
  recordHashed(digest: Digest, before: BigIntStats, after: BigIntStats, nowMs = Date.now()): void {
    if (stampOf(before) !== stampOf(after) || isRacy(after, nowMs)) return;
    this.write(digest, after);
  }

  /** Records a blob file the store wrote itself, at a private path nobody else has open. */
  recordWritten(digest: Digest, stats: BigIntStats): void {
    this.write(digest, stats);
  }

  /**
   * Records a producer's file the store hashed (`hashed`: its stats when hashing ended, at `hashedAtMs`)
   * and then made read-only and renamed into place (`published`). The producer might still hold it open,
   * so its bytes must be as hashed (same size, mtime and inode), and its last write must be at least a
   * tick older than the hash, or a write in that tick would keep the same mtime. Otherwise no stamp: the
   * first hit hashes it again (cheap: such a file was hashed within a tick).
   */
  recordMoved(digest: Digest, hashed: BigIntStats, published: BigIntStats, hashedAtMs: number): void {
    if (!sameContent(hashed, published) || hashedAtMs - millis(hashed.mtimeNs) < TICK_MS) return;
    this.write(digest, published);
  }

  /** Marks a stamped blob as just used (for `cache gc`); false when it has no stamp. */
  touch(digest: Digest, now = new Date()): boolean {
    if (this.readOnly) return true;
    try {
      utimesSync(this.path(digest), now, now);
      return true;
    } catch {
      return false;
    }
  }

  /** When a stamped blob was last used or stamped; undefined without a stamp. */
  lastUsedMs(digest: Digest): number | undefined {
    try {
      return statSync(this.path(digest)).mtimeMs;
    } catch {
      return undefined;
    }
  }

  forget(digest: Digest): void {
    if (this.readOnly) return;
    rmSync(this.path(digest), { force: true });
  }

  /** Best effort: a stamp not written only means the next hit hashes again. */
  private write(digest: Digest, stats: BigIntStats): void {
    if (this.readOnly) return;
    const path = this.path(digest);
    const staged = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      try {
        writeFileSync(staged, stampOf(stats));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        mkdirSync(join(path, '..'), { recursive: true });
        writeFileSync(staged, stampOf(stats));
      }
      renameSync(staged, path);
    } catch {
      rmSync(staged, { force: true });
    }
  }
}
