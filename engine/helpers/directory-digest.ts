import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';

/**
 * SHA-256 over a folder's files (sorted relative paths, each with the SHA-256 of its bytes), so two
 * folders with the same files get the same digest wherever they live. Empty folders do not count.
 */
export async function directoryDigest(root: string): Promise<string> {
  const entries: string[] = [];
  async function walk(relative: string): Promise<void> {
    for (const entry of await readdir(join(root, relative), { withFileTypes: true })) {
      const path = relative === '' ? entry.name : posix.join(relative, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile())
        entries.push(
          `${path}\0${createHash('sha256')
            .update(await readFile(join(root, path)))
            .digest('hex')}`,
        );
    }
  }
  await walk('');
  return createHash('sha256').update(entries.sort().join('\n')).digest('hex');
}
