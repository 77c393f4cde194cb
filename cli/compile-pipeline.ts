import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { homedir } from 'node:os';
import { extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Loader, Plugin } from 'esbuild';

// Bump when the bundle layout changes, so old cached bundles are ignored.
const BUNDLE_FORMAT = 1;

interface BundleManifest {
  format: number;
  entry: string;
  /** Every local source file in the bundle, with the SHA-256 of its content when bundled. */
  inputs: Array<{ path: string; sha256: string }>;
}

function cacheDirectory(): string {
  return process.env.FLYWHEEL_COMPILE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'flywheel', 'pipelines');
}

function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function writeAtomically(path: string, content: string): void {
  const staged = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(staged, content);
  renameSync(staged, path);
}

/** A bundle is current while every source file it was built from still has the same content. */
function isCurrent(manifestPath: string): boolean {
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as BundleManifest;
    return manifest.format === BUNDLE_FORMAT && manifest.inputs.every((input) => sha256(readFileSync(input.path)) === input.sha256);
  } catch {
    return false;
  }
}

const LOADERS: Record<string, Loader> = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.tsx': 'tsx', '.js': 'js', '.mjs': 'js', '.cjs': 'js', '.jsx': 'jsx' };

/**
 * How the bundle stays faithful to running the sources directly: `flywheel` resolves to the engine
 * running this CLI, packages stay external (imported by absolute URL, so they load exactly as they
 * would from the source file), and `import.meta.url` keeps meaning the original source file.
 */
function sourceFaithfulness(engineUrl: string): Plugin {
  return {
    name: 'flywheel-source-faithfulness',
    setup(build) {
      build.onResolve({ filter: /^flywheel$/ }, () => ({ path: engineUrl, external: true }));
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === 'resolving' || isBuiltin(args.path) || args.path.startsWith('file:')) return undefined;
        const resolved = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'resolving' });
        if (resolved.errors.length > 0 || resolved.external) return { errors: resolved.errors };
        return { path: pathToFileURL(resolved.path).href, external: true };
      });
      build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, (args) => {
        const url = pathToFileURL(args.path).href;
        const source = readFileSync(args.path, 'utf8')
          .replaceAll('import.meta.url', JSON.stringify(url))
          .replaceAll('import.meta.filename', JSON.stringify(args.path))
          .replaceAll('import.meta.dirname', JSON.stringify(join(args.path, '..')));
        return { contents: source, loader: LOADERS[extname(args.path)] ?? 'js' };
      });
    },
  };
}

/**
 * Compiles a pipeline file (TypeScript or JavaScript) and its local imports into one cached ES module,
 * rebuilt only when a source file's content changes. A re-run then starts as fast as plain JavaScript:
 * no TypeScript loader, no module hooks, and esbuild is loaded only to rebuild.
 */
export async function compilePipeline(entry: string, engineUrl: string): Promise<string> {
  const dir = cacheDirectory();
  const base = join(dir, sha256(`${BUNDLE_FORMAT}\0${entry}\0${engineUrl}`).slice(0, 32));
  const bundlePath = `${base}.mjs`;
  if (isCurrent(`${base}.json`)) return bundlePath;

  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: '/',
    outfile: bundlePath,
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
    plugins: [sourceFaithfulness(engineUrl)],
  });
  mkdirSync(dir, { recursive: true });
  for (const output of result.outputFiles) writeAtomically(output.path, output.text);
  const inputs = Object.keys(result.metafile.inputs).map((relative) => {
    const path = join('/', relative);
    return { path, sha256: sha256(readFileSync(path)) };
  });
  // Written last: a bundle without a current manifest is never used.
  writeAtomically(`${base}.json`, JSON.stringify({ format: BUNDLE_FORMAT, entry, inputs } satisfies BundleManifest));
  return bundlePath;
}
