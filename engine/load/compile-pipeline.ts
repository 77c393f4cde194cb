import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { homedir } from 'node:os';
import { dirname, extname, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Esbuild from 'esbuild';
import type { Loader, Plugin } from 'esbuild';
import type * as TS from 'typescript';
import type { CodeIndex, ModuleCode, StatementCode } from '../code/code-fingerprint.js';
import { moduleFacts, type ModuleFacts } from '../code/code-statements.js';
import { DEFINING_MODULES_KEY, DEFINING_STATEMENTS_KEY } from '../define/define-step.js';

// Bump when the bundle layout changes, so old cached bundles are ignored.
const BUNDLE_FORMAT = 4;
// A bundle another process may be about to import is not deleted before this age.
const STALE_BUNDLE_MS = 60_000;

interface BundleManifest {
  format: number;
  entry: string;
  /** File name of the bundle in the cache directory. */
  bundle: string;
  /** Every file the bundle depends on (sources, and resolved package files with their package.json), with a SHA-256 of its content. */
  inputs: Array<{ path: string; sha256: string }>;
  /** The local modules' normalised digests and imports, for the steps' code fingerprints. */
  code: CodeIndex;
}

/** A compiled pipeline: the module to import, what its steps' code fingerprints are made of, and the project it belongs to. */
export interface CompiledPipeline {
  bundle: string;
  code: CodeIndex;
  /** The project root module paths are relative to (see projectRoot). */
  root: string;
}

function cacheDirectory(): string {
  return process.env.FLYWHEEL_COMPILE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'flywheel', 'pipelines');
}

function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function hashFile(path: string): string {
  try {
    return sha256(readFileSync(path));
  } catch {
    return 'missing';
  }
}

function writeAtomically(path: string, content: string): void {
  const staged = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(staged, content);
  renameSync(staged, path);
}

/** The bundle to import, if every file it was built from still has the content it was built from. */
function currentBundle(dir: string, manifestPath: string): CompiledPipeline | undefined {
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as BundleManifest;
    if (manifest.format !== BUNDLE_FORMAT || !manifest.inputs.every((input) => hashFile(input.path) === input.sha256)) return undefined;
    const bundle = join(dir, manifest.bundle);
    return existsSync(bundle) ? { bundle, code: manifest.code, root: projectRoot(manifest.entry) } : undefined;
  } catch {
    return undefined;
  }
}

/** The package.json of the package a resolved file belongs to: its `main`/`exports` chose that file. */
function owningPackageJson(file: string): string | undefined {
  const marker = `${sep}node_modules${sep}`;
  const at = file.lastIndexOf(marker);
  if (at < 0) return undefined;
  const parts = file.slice(at + marker.length).split(sep);
  const name = parts[0]?.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1);
  return join(file.slice(0, at + marker.length), ...name, 'package.json');
}

/**
 * The project a pipeline belongs to: the nearest folder above it with a package.json (else the pipeline's
 * own folder). Module paths in code fingerprints are relative to it, so every clone agrees on them.
 */
function projectRoot(entry: string): string {
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return dirname(entry);
  }
}

const isPackageFile = (path: string): boolean => path.includes(`${sep}node_modules${sep}`);

/** A project-relative path with forward slashes, the same on every machine. */
function projectPath(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}

/**
 * Brackets a module's code with a push and a pop of its path on the defining-modules stack that
 * `defineStep` reads (see engine/define/define-step.ts). Evaluation order does the rest: a module's imports are
 * evaluated before its push, and a module evaluated lazily (a dynamic import) pops back to the importer.
 * The push shares the first line (after a hashbang) so source-mapped positions stay put. Each top-level
 * statement that runs code (`marks`: its index and the offset it follows) first records that it is the
 * one running, so a step knows the statement that defines it; the record goes right after the previous
 * statement, on that statement's line, so no line or column of the module's own code moves.
 */
function bracketWithModule(source: string, module: string, marks: ReadonlyArray<{ statement: number; at: number }> = []): string {
  const name = JSON.stringify(module);
  const stack = `globalThis[Symbol.for(${JSON.stringify(DEFINING_MODULES_KEY)})]`;
  const statements = `globalThis[Symbol.for(${JSON.stringify(DEFINING_STATEMENTS_KEY)})]`;
  const mark = (statement: number): string => `;(${statements} ??= {})[${name}] = ${statement};`;
  const push = `(${stack} ??= []).push(${name});`;
  // Truncating at this module's own entry also drops what a module that returned early (CommonJS) left.
  const pop = `\n;((s) => { const i = s ? s.lastIndexOf(${name}) : -1; if (i >= 0) s.length = i; })(${stack});\n;delete (${statements} ?? {})[${name}];\n`;
  const hashbang = source.startsWith('#!') ? source.indexOf('\n') + 1 : 0;
  if (source.startsWith('#!') && hashbang === 0) return source; // nothing but a hashbang
  let body = source;
  let first = '';
  for (const { statement, at } of [...marks].sort((a, b) => b.at - a.at)) {
    if (at <= hashbang) first = mark(statement);
    else body = `${body.slice(0, at)}${mark(statement)}${body.slice(at)}`;
  }
  return `${body.slice(0, hashbang)}${push}${first}${body.slice(hashbang)}${pop}`;
}

const LOADERS: Record<string, Loader> = {
  '.ts': 'ts',
  '.mts': 'ts',
  '.cts': 'ts',
  '.tsx': 'tsx',
  '.js': 'js',
  '.mjs': 'js',
  '.cjs': 'js',
  '.jsx': 'jsx',
  '.json': 'json',
};

/**
 * How the bundle stays faithful to running the sources directly: `flywheel` resolves to the engine
 * running this CLI, packages stay external (imported by absolute URL, so they load exactly as they
 * would from the source file), and `import.meta.url` keeps meaning the original source file.
 * It also records the exact bytes it compiled and the package files it resolved, for the manifest.
 */
function sourceFaithfulness(engineUrl: string, loaded: Map<string, string>, packages: Set<string>, code: CodeRecorder): Plugin {
  return {
    name: 'flywheel-source-faithfulness',
    setup(build) {
      build.onResolve({ filter: /^flywheel$/ }, () => ({ path: engineUrl, external: true }));
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === 'resolving' || isBuiltin(args.path) || args.path.startsWith('file:')) return undefined;
        const resolved = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'resolving' });
        if (resolved.errors.length > 0 || resolved.external) return { errors: resolved.errors };
        packages.add(resolved.path);
        return { path: pathToFileURL(resolved.path).href, external: true };
      });
      build.onLoad({ filter: /\.([cm]?[jt]sx?|json)$/ }, async (args) => {
        const bytes = readFileSync(args.path);
        loaded.set(args.path, sha256(bytes));
        const url = pathToFileURL(args.path).href;
        const loader = LOADERS[extname(args.path)] ?? 'js';
        const original = bytes.toString('utf8');
        let source = original;
        if (!isPackageFile(args.path)) {
          const module = projectPath(code.root, args.path);
          // Statement marks are offsets in the original text: they go in before anything else changes it.
          const marks = await code.record(args.path, original, loader);
          if (loader !== 'json') source = bracketWithModule(source, module, marks);
        }
        source = source
          .replaceAll('import.meta.url', JSON.stringify(url))
          .replaceAll('import.meta.filename', JSON.stringify(args.path))
          .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path)));
        return { contents: source, loader };
      });
    },
  };
}

/**
 * Normalised digests of the local modules a build loads, whole and statement by statement. A digest is
 * the SHA-256 of esbuild's minified transform of the *original* source (before import.meta is replaced
 * by absolute paths): comments, formatting, types and the clone's location do not change it, while any
 * change to what the code does does. Per-module (and per-statement) transforms rather than the bundle's
 * text, because in a bundle a module's identifiers are renamed when another module's collide with them.
 * The esbuild version is part of the scheme: another minifier may print the same code differently, and
 * fingerprints of different schemes are not compared (such entries are trusted as entries without a
 * fingerprint are).
 */
interface CodeRecorder {
  root: string;
  scheme: string;
  modules: Map<string, RecordedModule>;
  /** Records a module; returns where its statements that run code start (see bracketWithModule). */
  record(path: string, source: string, loader: Loader): Promise<Array<{ statement: number; at: number }>>;
}

/** Bumped when what a statement's facts are (code-statements.ts) changes. */
const STATEMENTS_SCHEME = 'statements/1';

/** What the recorder learns of one module; kept per content in the compile cache, so a rebuild reads only edited modules. */
interface RecordedModule {
  digest: string;
  facts?: ModuleFacts;
  statements?: string[];
}

/** Recorded modules are forgotten this long after a build last used them. */
const RECORDS_KEPT_MS = 30 * 24 * 3600_000;

function codeRecorder(root: string, esbuild: typeof Esbuild, cacheDir: string): CodeRecorder {
  const modules: CodeRecorder['modules'] = new Map();
  let typescript: Promise<typeof TS> | undefined;
  const scheme = `esbuild-minify/${esbuild.version}+${STATEMENTS_SCHEME}`;
  const digestOf = async (source: string, loader: Loader): Promise<string> => {
    try {
      const { code } = await esbuild.transform(source, { loader, minify: true, legalComments: 'none', charset: 'utf8' });
      return sha256(code);
    } catch {
      // Not valid code on its own: the build fails on a whole module that is not, and reports where.
      return sha256(source);
    }
  };
  const analyse = async (path: string, source: string, loader: Loader): Promise<RecordedModule> => {
    const digest = await digestOf(source, loader);
    if (loader === 'json') return { digest };
    // TypeScript's parser is loaded only when a module changed since it was last recorded.
    const ts = await (typescript ??= import('typescript').then((m) => (m.default ?? m) as typeof TS));
    let facts: ModuleFacts;
    try {
      facts = moduleFacts(ts, source, path);
    } catch {
      return { digest }; // counted whole
    }
    const statements = await Promise.all(facts.statements.map((f) => digestOf(source.slice(f.start, f.end), loader)));
    return { digest, facts, statements };
  };
  return {
    root,
    scheme,
    modules,
    async record(path, source, loader) {
      const cached = join(cacheDir, 'modules', `${sha256(`${scheme}\0${loader}\0${extname(path)}\0${source}`)}.json`);
      let recorded: RecordedModule;
      try {
        recorded = JSON.parse(readFileSync(cached, 'utf8')) as RecordedModule;
        utimesSync(cached, new Date(), new Date());
      } catch {
        recorded = await analyse(path, source, loader);
        mkdirSync(dirname(cached), { recursive: true });
        writeAtomically(cached, JSON.stringify(recorded));
      }
      modules.set(path, recorded);
      const statements = recorded.facts?.statements ?? [];
      return statements.flatMap((f, i) => (f.runs ? [{ statement: i, at: i === 0 ? 0 : (statements[i - 1]?.end ?? 0) }] : []));
    },
  };
}

/** Forgets recorded modules no build has used for a month. */
function removeOldRecords(dir: string): void {
  const records = join(dir, 'modules');
  for (const name of existsSync(records) ? readdirSync(records) : []) {
    try {
      if (Date.now() - statSync(join(records, name)).mtimeMs > RECORDS_KEPT_MS) rmSync(join(records, name), { force: true });
    } catch {
      // another process removed it first
    }
  }
}

type MetafileInputs = Record<string, { imports: Array<{ path: string; external?: boolean; original?: string }> }>;

/** The code index of a build: each local module's digest, imports and statements, by project path. */
function codeIndex(code: CodeRecorder, entry: string, metafileInputs: MetafileInputs): CodeIndex {
  const modules: CodeIndex['modules'] = {};
  const local = (path: string): string | undefined => (code.modules.has(path) ? projectPath(code.root, path) : undefined);
  for (const [relativeToSlash, input] of Object.entries(metafileInputs)) {
    const path = join('/', relativeToSlash);
    const recorded = code.modules.get(path);
    if (recorded === undefined) continue;
    // A specifier as the source wrote it → the local module esbuild resolved it to (packages have none).
    const resolved = new Map<string, string>();
    for (const i of input.imports) {
      const target = i.external === true ? undefined : local(join('/', i.path));
      if (target !== undefined && i.original !== undefined) resolved.set(i.original, target);
    }
    const imports = [...new Set(input.imports.flatMap((i) => (i.external === true ? [] : (local(join('/', i.path)) ?? []))))].sort();
    modules[projectPath(code.root, path)] = { digest: recorded.digest, imports, ...statementsOf(recorded, resolved) };
  }
  return { scheme: code.scheme, entry: projectPath(code.root, entry), modules };
}

/** A module's statements and name links, with specifiers resolved to local modules (links to packages dropped). */
function statementsOf(recorded: { facts?: ModuleFacts; statements?: string[] }, resolved: ReadonlyMap<string, string>): Partial<ModuleCode> {
  const { facts, statements: digests } = recorded;
  if (facts === undefined || digests === undefined) return {};
  const statements = facts.statements.map((f, i): StatementCode => {
    const loads = f.loads.flatMap((spec) => resolved.get(spec) ?? []);
    return {
      digest: digests[i] as string,
      declares: f.declares,
      refs: f.refs,
      ...(f.effect ? { effect: true } : {}),
      ...(loads.length === 0 ? {} : { loads }),
    };
  });
  const bindings: Record<string, [string, string]> = {};
  for (const [name, { from, name: imported }] of Object.entries(facts.bindings)) {
    const target = resolved.get(from);
    if (target !== undefined) bindings[name] = [target, imported];
  }
  const exports: Record<string, string | [string, string]> = {};
  for (const [name, target] of Object.entries(facts.exports)) {
    if ('local' in target) exports[name] = target.local;
    else if (resolved.has(target.from)) exports[name] = [resolved.get(target.from) as string, target.name];
  }
  const stars = facts.stars.flatMap((spec) => resolved.get(spec) ?? []);
  const effects = facts.effects.flatMap((spec) => resolved.get(spec) ?? []);
  return { statements, bindings, exports, ...(stars.length === 0 ? {} : { stars }), ...(effects.length === 0 ? {} : { effects }) };
}

/** Removes bundles of this entry that no manifest points to any more, once no process can still be loading them. */
function removeOldBundles(dir: string, prefix: string, keep: string): void {
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix) || name.startsWith(keep) || !/\.mjs(\.map)?$/.test(name)) continue;
    const path = join(dir, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_BUNDLE_MS) rmSync(path, { force: true });
    } catch {
      // another process removed it first
    }
  }
}

/**
 * Compiles a pipeline file (TypeScript or JavaScript) and its local imports into one cached ES module,
 * rebuilt whenever the content of a source file, or of a package file it resolved, changes. A re-run
 * then starts as fast as plain JavaScript: no TypeScript loader, no module hooks, and esbuild is
 * loaded only to rebuild.
 */
export async function compilePipeline(entry: string, engineUrl: string): Promise<CompiledPipeline> {
  const dir = cacheDirectory();
  const base = sha256(`${BUNDLE_FORMAT}\0${entry}\0${engineUrl}`).slice(0, 32);
  const manifestPath = join(dir, `${base}.json`);
  const current = currentBundle(dir, manifestPath);
  if (current !== undefined) return current;

  const esbuild = await import('esbuild');
  const loaded = new Map<string, string>();
  const packages = new Set<string>();
  const code = codeRecorder(projectRoot(entry), esbuild, dir);
  // A name of its own per build: concurrent compilers never overwrite a bundle another one imports.
  const bundleName = `${base}-${randomBytes(6).toString('hex')}.mjs`;
  const result = await esbuild.build({
    entryPoints: [entry],
    absWorkingDir: '/',
    outfile: join(dir, bundleName),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Resolve packages exactly as Node does: no `module` field or condition.
    mainFields: ['main'],
    conditions: [],
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'silent',
    plugins: [sourceFaithfulness(engineUrl, loaded, packages, code)],
  });
  mkdirSync(dir, { recursive: true });
  for (const output of result.outputFiles) writeAtomically(output.path, output.text);
  const inputs = new Map<string, string>();
  // Hashes of the bytes esbuild actually compiled: an edit during the build makes the bundle stale, never "current".
  for (const relative of Object.keys(result.metafile.inputs)) {
    const path = join('/', relative);
    inputs.set(path, loaded.get(path) ?? hashFile(path));
  }
  for (const file of packages) {
    inputs.set(file, hashFile(file));
    const packageJson = owningPackageJson(file);
    if (packageJson !== undefined) inputs.set(packageJson, hashFile(packageJson));
  }
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    entry,
    bundle: bundleName,
    inputs: [...inputs].map(([path, hash]) => ({ path, sha256: hash })),
    code: codeIndex(code, entry, result.metafile.inputs),
  };
  // Written last: a bundle without a current manifest is never used.
  writeAtomically(manifestPath, JSON.stringify(manifest));
  removeOldBundles(dir, `${base}-`, bundleName);
  removeOldRecords(dir);
  return { bundle: join(dir, bundleName), code: manifest.code, root: code.root };
}
