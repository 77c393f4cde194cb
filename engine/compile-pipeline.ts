import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { homedir } from 'node:os';
import { dirname, extname, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Esbuild from 'esbuild';
import type { Loader, Plugin } from 'esbuild';
import type { CodeIndex } from './code-fingerprint.js';
import { DEFINING_MODULES_KEY } from './define-step.js';

// Bump when the bundle layout changes, so old cached bundles are ignored.
const BUNDLE_FORMAT = 3;
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

/** A compiled pipeline: the module to import and what its steps' code fingerprints are made of. */
export interface CompiledPipeline {
  bundle: string;
  code: CodeIndex;
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
    return existsSync(bundle) ? { bundle, code: manifest.code } : undefined;
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
 * `defineStep` reads (see engine/define-step.ts). Evaluation order does the rest: a module's imports are
 * evaluated before its push, and a module evaluated lazily (a dynamic import) pops back to the importer.
 * The push shares the first line (after a hashbang) so source-mapped positions stay put.
 */
function bracketWithModule(source: string, module: string): string {
  const stack = `globalThis[Symbol.for(${JSON.stringify(DEFINING_MODULES_KEY)})]`;
  const push = `(${stack} ??= []).push(${JSON.stringify(module)});`;
  // Truncating at this module's own entry also drops what a module that returned early (CommonJS) left.
  const pop = `\n;((s) => { const i = s ? s.lastIndexOf(${JSON.stringify(module)}) : -1; if (i >= 0) s.length = i; })(${stack});\n`;
  const hashbang = source.startsWith('#!') ? source.indexOf('\n') + 1 : 0;
  if (source.startsWith('#!') && hashbang === 0) return source; // nothing but a hashbang
  return `${source.slice(0, hashbang)}${push}${source.slice(hashbang)}${pop}`;
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
        let source = original
          .replaceAll('import.meta.url', JSON.stringify(url))
          .replaceAll('import.meta.filename', JSON.stringify(args.path))
          .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path)));
        if (!isPackageFile(args.path)) {
          const module = projectPath(code.root, args.path);
          await code.record(args.path, original, loader);
          if (loader !== 'json') source = bracketWithModule(source, module);
        }
        return { contents: source, loader };
      });
    },
  };
}

/**
 * Normalised digests of the local modules a build loads. A module's digest is the SHA-256 of esbuild's
 * minified transform of its *original* source (before import.meta is replaced by absolute paths):
 * comments, formatting and the clone's location do not change it, while any change to what the code
 * does does. Per-module transforms rather than the bundle's text, because in a bundle a module's
 * identifiers are renamed when another module's collide with them. The esbuild version is part of the
 * scheme: another minifier may print the same code differently, and fingerprints of different schemes
 * are not compared (such entries are trusted as entries without a fingerprint are).
 */
interface CodeRecorder {
  root: string;
  scheme: string;
  digests: Map<string, string>;
  record(path: string, source: string, loader: Loader): Promise<void>;
}

function codeRecorder(root: string, esbuild: typeof Esbuild): CodeRecorder {
  const digests = new Map<string, string>();
  return {
    root,
    scheme: `esbuild-minify/${esbuild.version}`,
    digests,
    async record(path, source, loader) {
      try {
        const { code } = await esbuild.transform(source, { loader, minify: true, legalComments: 'none', charset: 'utf8' });
        digests.set(path, sha256(code));
      } catch {
        // Not valid code: the build fails on it too, and reports where (this transform cannot: it sees no file).
        digests.set(path, sha256(source));
      }
    },
  };
}

/** The code index of a build: each local module's digest and the local modules it imports, by project path. */
function codeIndex(code: CodeRecorder, entry: string, metafileInputs: Record<string, { imports: Array<{ path: string; external?: boolean }> }>): CodeIndex {
  const modules: CodeIndex['modules'] = {};
  for (const [relativeToSlash, input] of Object.entries(metafileInputs)) {
    const path = join('/', relativeToSlash);
    const digest = code.digests.get(path);
    if (digest === undefined) continue;
    const imports = input.imports
      .filter((i) => i.external !== true && code.digests.has(join('/', i.path)))
      .map((i) => projectPath(code.root, join('/', i.path)));
    modules[projectPath(code.root, path)] = { digest, imports: [...new Set(imports)].sort() };
  }
  return { scheme: code.scheme, entry: projectPath(code.root, entry), modules };
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
  const code = codeRecorder(projectRoot(entry), esbuild);
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
  return { bundle: join(dir, bundleName), code: manifest.code };
}
