import { chmod, lstat, mkdir, readdir, readlink, symlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { z } from 'zod';
import { canonicalJson } from './canonical.js';
import { isSha256Hex, type Digest } from './digest.js';
import type { OutputRecord } from './records.js';
import { BlobUnavailableError, type Store } from './store.js';

/** A directory stored as a manifest blob listing every entry; the manifest's digest is the directory's digest. */
export const DirManifest = z.object({
  format: z.literal('flywheel.dir/v1'),
  entries: z.array(
    z.discriminatedUnion('type', [
      z.object({
        type: z.literal('file'),
        path: z.string(),
        digest: z
          .string()
          .refine(isSha256Hex)
          .transform((s) => s as Digest),
        size: z.number().int(),
        executable: z.boolean(),
      }),
      z.object({ type: z.literal('dir'), path: z.string() }),
      z.object({ type: z.literal('symlink'), path: z.string(), target: z.string() }),
    ]),
  ),
});
export type DirManifest = z.infer<typeof DirManifest>;

/** Stores every file of a directory, then its manifest. Entries are sorted so equal trees give equal digests. */
export async function ingestDirectory(store: Store, root: string, options: { move?: boolean } = {}): Promise<{ digest: Digest; size: number }> {
  const entries: DirManifest['entries'] = [];
  async function walk(relative: string): Promise<void> {
    const names = (await readdir(join(root, relative))).sort();
    for (const name of names) {
      const rel = relative === '' ? name : posix.join(relative, name);
      const full = join(root, rel);
      const info = await lstat(full);
      if (info.isSymbolicLink()) entries.push({ type: 'symlink', path: rel, target: await readlink(full) });
      else if (info.isDirectory()) {
        entries.push({ type: 'dir', path: rel });
        await walk(rel);
      } else if (info.isFile()) {
        const executable = (info.mode & 0o111) !== 0;
        const stored = await store.putFile(full, options);
        entries.push({ type: 'file', path: rel, digest: stored.digest, size: stored.size, executable });
      } else {
        throw new Error(`${full} is neither a file, a directory nor a symlink; outputs may hold only those`);
      }
    }
  }
  await walk('');
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifest: DirManifest = { format: 'flywheel.dir/v1', entries };
  return store.putBytes(Buffer.from(canonicalJson(manifest)));
}

/**
 * Reads and checks a manifest. A blob that is not a manifest, or one whose paths could escape the
 * destination (`..`, absolute, or below a symlink entry), is unusable: reported like a corrupt blob.
 */
export async function readManifest(store: Store, digest: Digest): Promise<DirManifest> {
  const bytes = await store.readBytes(digest);
  let parsed;
  try {
    parsed = DirManifest.safeParse(JSON.parse(bytes.toString('utf8')));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) throw new BlobUnavailableError(digest, 'corrupt', `${store.description} (not a directory manifest)`);
  const symlinks = parsed.data.entries.filter((e) => e.type === 'symlink').map((e) => `${e.path}/`);
  for (const entry of parsed.data.entries) {
    const unsafe =
      entry.path.split('/').some((part) => part === '..' || part === '.' || part === '') ||
      posix.isAbsolute(entry.path) ||
      symlinks.some((link) => entry.path.startsWith(link));
    if (unsafe) throw new BlobUnavailableError(digest, 'corrupt', `${store.description} (unsafe manifest path ${JSON.stringify(entry.path)})`);
  }
  return parsed.data;
}

/** Recreates a stored directory at `destination` (which must not exist), verifying every file. */
export async function materializeDirectory(store: Store, digest: Digest, destination: string): Promise<void> {
  const manifest = await readManifest(store, digest);
  await mkdir(destination, { recursive: true });
  for (const entry of manifest.entries) {
    const target = join(destination, entry.path);
    if (entry.type === 'dir') await mkdir(target, { recursive: true });
    else if (entry.type === 'symlink') await symlink(entry.target, target);
    else {
      await mkdir(join(target, '..'), { recursive: true });
      await store.copyBlobTo(entry.digest as Digest, target);
      if (entry.executable) await chmod(target, 0o755);
    }
  }
}

/** Every blob an output needs, with its expected size: for a directory, the manifest and its files. */
export async function blobsOfOutput(store: Store, output: OutputRecord): Promise<Array<{ digest: Digest; size: number }>> {
  const blobs = [{ digest: output.digest, size: output.size }];
  if (output.kind === 'dir') {
    const manifest = await readManifest(store, output.digest);
    for (const entry of manifest.entries) if (entry.type === 'file') blobs.push({ digest: entry.digest as Digest, size: entry.size });
  }
  return blobs;
}
