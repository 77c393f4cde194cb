import { execFile } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The machine-local disk of the soak's S3 stores (their blob copies and every step's scratch), mounted as
 * a small tmpfs that a fault fills to the last byte: each write on it then fails with ENOSPC, as on a
 * worker whose disk filled up, until the filler is removed. Mounting needs CAP_SYS_ADMIN (root); without
 * it the disk is a plain folder, `quota` is false and the soak leaves the fault out, saying so.
 */
export class ScratchDisk {
  private constructor(
    readonly path: string,
    /** Whether the disk has a quota to fill (a tmpfs was mounted). */
    readonly quota: boolean,
    /** Why there is none, when there is none. */
    readonly why?: string,
  ) {}

  static async mount(path: string, sizeBytes: number): Promise<ScratchDisk> {
    mkdirSync(path, { recursive: true });
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', path]);
      return new ScratchDisk(path, true);
    } catch (error) {
      const reason = ((error as { stderr?: string }).stderr || (error as Error).message).trim().split('\n')[0];
      return new ScratchDisk(path, false, `no tmpfs could be mounted for it (${reason}); mounting one needs CAP_SYS_ADMIN`);
    }
  }

  private get filler(): string {
    return join(this.path, '.soak-filler');
  }

  /** Fills every free byte (large writes first, then small ones down to the last block); the bytes written. */
  fill(): number {
    const fd = openSync(this.filler, 'w');
    let written = 0;
    try {
      for (const size of [1 << 20, 4096, 512]) {
        const chunk = Buffer.alloc(size);
        for (;;) {
          try {
            written += writeSync(fd, chunk);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw error;
          }
        }
      }
    } finally {
      closeSync(fd);
    }
    return written;
  }

  /** Frees what `fill` took. */
  free(): void {
    rmSync(this.filler, { force: true });
  }

  /** Unmounts it (lazily: a process killed mid-write may still hold a file open there). */
  async unmount(): Promise<void> {
    if (this.quota) await run('umount', ['-l', this.path]).catch(() => undefined);
  }
}
