import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { FlywheelError } from '../errors.js';

/** Folders a `codeFiles` glob never looks into: dependencies, caches, environments and version control. */
const SKIPPED = new Set(['node_modules', '.git', '__pycache__', '.venv', 'venv', '.flywheel', '.pytest_cache']);
/** More files than this under one step's globs is a glob that matches far more than code. */
const MOST_FILES = 5000;

const GLOB_CHARS = /[*?[{]/;

/** A glob (`*` within a name, `**` across folders, `?` one character) as a regular expression over `/`-separated paths. */
function globPattern(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      out += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

function* walk(dir: string): Generator<string> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.isDirectory()) {
      if (!SKIPPED.has(entry.name)) yield* walk(join(dir, entry.name));
    } else if (entry.isFile()) yield join(dir, entry.name);
  }
}

const posixPath = (root: string, path: string): string => relative(root, path).split(sep).join('/');

/**
 * The files a step's `codeFiles` globs match (relative to the folder of the module that defines it), by
 * project path, each with the SHA-256 of its bytes: part of the step's code fingerprint. A glob that
 * matches nothing is recorded as such, so a file appearing later counts as a change too.
 */
export function codeFileDigests(root: string, module: string, globs: readonly string[]): Record<string, string> {
  const files: Record<string, string> = {};
  let count = 0;
  for (const glob of globs) {
    const absolute = resolve(root, dirname(module), glob);
    const parts = absolute.split(sep);
    const fixed = parts.findIndex((part) => GLOB_CHARS.test(part));
    const base = fixed < 0 ? absolute : parts.slice(0, fixed).join(sep) || sep;
    const pattern = globPattern(posixPath(base, absolute));
    let matched = 0;
    const candidates = fixed < 0 ? (isFile(absolute) ? [absolute] : []) : walk(base);
    for (const file of candidates) {
      if (fixed >= 0 && !pattern.test(posixPath(base, file))) continue;
      if (++count > MOST_FILES) {
        throw new FlywheelError('INVALID_STEP_DEFINITION', `codeFiles of the step defined in ${module} match more than ${MOST_FILES} files (${glob})`, {
          fix: 'narrow the globs to the code the step runs (e.g. "../trainer/**/*.py")',
          retryable: false,
        });
      }
      files[posixPath(root, file)] = createHash('sha256').update(readFileSync(file)).digest('hex');
      matched++;
    }
    if (matched === 0) files[`${posixPath(root, absolute)} (no file)`] = 'none';
  }
  return files;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
