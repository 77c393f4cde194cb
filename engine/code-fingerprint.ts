import { createHash } from 'node:crypto';
import type { Digest } from '../cache/digest.js';
import type { CodeFingerprint } from '../cache/records.js';

/**
 * What the pipeline compiler learns about the local (non-node_modules) modules of a pipeline: each one's
 * normalised digest and the local modules it imports, all by path relative to the project root, so the
 * index is the same for every clone and machine. Packages, Node built-ins and Flywheel itself are not in it.
 */
export interface CodeIndex {
  /** How module digests were made; fingerprints of different schemes are not compared. */
  scheme: string;
  /** The pipeline file: the defining module of steps created while it builds the pipeline. */
  entry: string;
  modules: Record<string, { digest: string; imports: string[] }>;
}

/** Files listed in a changed-code sentence before "and N more". */
const MAX_FILES_SHOWN = 5;

/**
 * The fingerprint of each module's code: its own digest and those of every local module it reaches by
 * imports, transitively. Memoised per module; undefined for a module the index does not know.
 */
export function fingerprinter(index: CodeIndex): (module: string) => CodeFingerprint | undefined {
  const memo = new Map<string, CodeFingerprint | undefined>();
  return (module) => {
    if (memo.has(module)) return memo.get(module);
    let fingerprint: CodeFingerprint | undefined;
    if (index.modules[module] !== undefined) {
      const files: Record<string, string> = {};
      const visit = [module];
      for (let next = visit.pop(); next !== undefined; next = visit.pop()) {
        const found = index.modules[next];
        if (found === undefined || next in files) continue;
        files[next] = found.digest;
        visit.push(...found.imports);
      }
      const sorted = Object.keys(files).sort();
      // JSON of [scheme, [[path, digest], ...]] in path order: an unambiguous encoding, independent of visiting order.
      const encoded = JSON.stringify([index.scheme, sorted.map((path) => [path, files[path]])]);
      fingerprint = {
        scheme: index.scheme,
        digest: createHash('sha256').update(encoded).digest('hex') as Digest,
        files: Object.fromEntries(sorted.map((path) => [path, files[path] as string])),
      };
    }
    memo.set(module, fingerprint);
    return fingerprint;
  };
}

/**
 * The files whose code differs between a stored result's fingerprint and the current one, or undefined
 * when they agree or cannot be compared (either is absent — entries written before fingerprints are
 * trusted as before — or they were made by different schemes, e.g. after an esbuild upgrade).
 */
export function changedFiles(current: CodeFingerprint | undefined, stored: CodeFingerprint | undefined): string[] | undefined {
  if (current === undefined || stored === undefined || current.scheme !== stored.scheme || current.digest === stored.digest) return undefined;
  const paths = [...new Set([...Object.keys(current.files), ...Object.keys(stored.files)])].sort();
  const changed = paths.flatMap((path) => {
    const now = current.files[path];
    const then = stored.files[path];
    if (now === then) return [];
    return [now === undefined ? `${path} (no longer imported)` : then === undefined ? `${path} (newly imported)` : path];
  });
  return changed.length > 0 ? changed : ['(the fingerprint differs)'];
}

/** Whether a result made by `stored` code counts as made by the `current` code (see changedFiles). */
export function sameCode(current: CodeFingerprint | undefined, stored: CodeFingerprint | undefined): boolean {
  return changedFiles(current, stored) === undefined;
}

/** `a.ts, b.ts` or `a.ts, …, e.ts and 3 more`. */
export function listFiles(files: readonly string[]): string {
  const shown = files.slice(0, MAX_FILES_SHOWN).join(', ');
  return files.length > MAX_FILES_SHOWN ? `${shown} and ${files.length - MAX_FILES_SHOWN} more` : shown;
}
