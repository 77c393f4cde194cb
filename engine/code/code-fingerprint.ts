import { createHash } from 'node:crypto';
import type { Digest } from '../../cache/digest.js';
import type { CodeFingerprint } from '../../cache/records.js';

/** One top-level statement of a module, as a fingerprint follows it (see engine/code/code-statements.ts). */
export interface StatementCode {
  /** Of its normalised code: comments, formatting and types do not change it. */
  digest: string;
  declares: string[];
  refs: string[];
  /** Runs for its effect when the module loads: part of every fingerprint that reaches the module. */
  effect?: true;
  /** Local modules it loads whole (`import()`, `require()`). */
  loads?: string[];
}

/**
 * What the pipeline compiler learns about the local (non-node_modules) modules of a pipeline: each one's
 * normalised digest and the local modules it imports, all by path relative to the project root, so the
 * index is the same for every clone and machine; and, for modules it could read, their top-level
 * statements and how names travel between modules. Packages, Node built-ins and Flywheel itself are not in it.
 */
export interface CodeIndex {
  /** How module digests were made; fingerprints of different schemes are not compared. */
  scheme: string;
  /** The pipeline file: the defining module of steps created while it builds the pipeline. */
  entry: string;
  modules: Record<string, ModuleCode>;
}

export interface ModuleCode {
  digest: string;
  imports: string[];
  statements?: StatementCode[];
  /** Local name → [local module, exported name] it is imported as (`*`: the whole module). */
  bindings?: Record<string, [string, string]>;
  /** Exported name → its local name, or [local module, name] it re-exports. */
  exports?: Record<string, string | [string, string]>;
  /** `export * from` local modules. */
  stars?: string[];
  /** `import 'x'` local modules. */
  effects?: string[];
}

/** Files listed in a changed-code sentence before "and N more". */
const MAX_FILES_SHOWN = 5;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * The code one step can reach, module by module: the statement that defines it, every top-level
 * statement those statements refer to (in its module or, through imports, in others), and the statements
 * of every reached module that run for their effect. A module the index has no statements for, one
 * imported whole (`import * as`, `import()`), or a name it cannot follow counts whole, with every
 * module it imports. Without a statement (a step defined while the pipeline builds) the defining module
 * counts whole. Returns each reached module's digest: of the statements reached, or of the whole module.
 */
function reachableCode(index: CodeIndex, module: string, statement: number | undefined): Record<string, string> {
  const whole = new Set<string>();
  const picked = new Map<string, Set<number>>();
  const reached = new Set<string>();
  const followed = new Set<string>();
  const queue: Array<[string, number]> = [];
  const declared = new Map<string, Map<string, number[]>>();
  const declarersIn = (m: string, code: ModuleCode): Map<string, number[]> => {
    let names = declared.get(m);
    if (names === undefined) {
      names = new Map();
      for (const [i, s] of (code.statements ?? []).entries()) {
        for (const name of s.declares) {
          const list = names.get(name);
          if (list === undefined) names.set(name, [i]);
          else list.push(i);
        }
      }
      declared.set(m, names);
    }
    return names;
  };
  const includeWhole = (start: string): void => {
    for (const todo = [start]; todo.length > 0;) {
      const m = todo.pop() as string;
      if (whole.has(m) || index.modules[m] === undefined) continue;
      whole.add(m);
      todo.push(...(index.modules[m]?.imports ?? []));
    }
  };
  const pick = (m: string, i: number): void => {
    const set = picked.get(m) ?? new Set<number>();
    picked.set(m, set);
    if (set.has(i)) return;
    set.add(i);
    queue.push([m, i]);
  };
  const reach = (m: string): void => {
    if (reached.has(m)) return;
    reached.add(m);
    const code = index.modules[m];
    if (code?.statements === undefined) return includeWhole(m);
    code.statements.forEach((s, i) => s.effect === true && pick(m, i));
    for (const loaded of code.effects ?? []) reach(loaded);
  };
  const useName = (m: string, name: string): void => {
    const code = index.modules[m];
    if (code === undefined) return;
    const local = declarersIn(m, code).get(name);
    if (local !== undefined) for (const i of local) pick(m, i);
    else if (code.bindings?.[name] !== undefined) useExport(...code.bindings[name]);
  };
  const useExport = (m: string, name: string): void => {
    if (followed.has(`${m}\0${name}`)) return;
    followed.add(`${m}\0${name}`);
    reach(m);
    const code = index.modules[m];
    if (code?.statements === undefined) return;
    const target = code.exports?.[name];
    if (name === '*') includeWhole(m);
    else if (typeof target === 'string') useName(m, target);
    else if (target !== undefined) useExport(...target);
    else if ((code.stars ?? []).length > 0) for (const star of code.stars ?? []) useExport(star, name);
    else includeWhole(m); // a name it does not export: follow everything rather than miss code
  };
  if (statement === undefined || index.modules[module]?.statements?.[statement] === undefined) includeWhole(module);
  else {
    reach(module);
    pick(module, statement);
  }
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    const [m, i] = next;
    const s = index.modules[m]?.statements?.[i];
    if (s === undefined) continue;
    for (const name of s.refs) useName(m, name);
    for (const loaded of s.loads ?? []) includeWhole(loaded);
  }
  const files: Record<string, string> = {};
  for (const m of whole) files[m] = index.modules[m]?.digest as string;
  for (const [m, statements] of picked) {
    if (whole.has(m)) continue;
    const code = index.modules[m]?.statements ?? [];
    // In source order, but not by position: code added elsewhere in the file does not change it.
    files[m] = sha256(JSON.stringify([...statements].sort((a, b) => a - b).map((i) => code[i]?.digest)));
  }
  return files;
}

/**
 * The fingerprint of each step's code: what its defining statement reaches (see reachableCode), plus
 * files outside the TypeScript modules the step declares it runs (`codeFiles`: path → digest). Memoised
 * per statement; undefined for a module the index does not know.
 */
export function fingerprinter(
  index: CodeIndex,
): (module: string, statement?: number, codeFiles?: Readonly<Record<string, string>>) => CodeFingerprint | undefined {
  const memo = new Map<string, Record<string, string> | undefined>();
  return (module, statement, codeFiles = {}) => {
    const at = `${module}#${statement ?? ''}`;
    if (!memo.has(at)) memo.set(at, index.modules[module] === undefined ? undefined : reachableCode(index, module, statement));
    const reached = memo.get(at);
    if (reached === undefined) return undefined;
    const files = { ...reached, ...codeFiles };
    const sorted = Object.keys(files).sort();
    // JSON of [scheme, [[path, digest], ...]] in path order: an unambiguous encoding, independent of visiting order.
    const encoded = JSON.stringify([index.scheme, sorted.map((path) => [path, files[path]])]);
    return { scheme: index.scheme, digest: sha256(encoded) as Digest, files: Object.fromEntries(sorted.map((path) => [path, files[path] as string])) };
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
