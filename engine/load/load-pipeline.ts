import { existsSync, readdirSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isPipelineDefinition, type PipelineDefinition } from '../define/define-pipeline.js';
import { FlywheelError } from '../errors.js';
import { compilePipeline } from './compile-pipeline.js';
import { readGraphPipeline } from '../components/graph-pipeline.js';
import { fingerprinter, type CodeIndex } from '../code/code-fingerprint.js';
import { codeFileDigests } from '../code/code-files.js';
import { DEFINING_MODULES, STEP_CODE, STEP_MODULE, STEP_STATEMENT } from '../define/define-step.js';

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];
/** A Tangle / Kubeflow v1 pipeline file (`x.pipeline.component.yaml`), named by its path. */
const GRAPH_PIPELINE = /\.ya?ml$/i;

/** Finds a pipeline file: a path as given, or a name looked up in ./pipelines and then in Flywheel's own pipelines/. */
export function resolvePipelinePath(nameOrPath: string, cwd = process.cwd()): string {
  const looksLikePath = nameOrPath.includes('/') || nameOrPath.includes('\\') || EXTENSIONS.includes(extname(nameOrPath)) || GRAPH_PIPELINE.test(nameOrPath);
  const candidates = looksLikePath
    ? [resolve(cwd, nameOrPath)]
    : [join(cwd, 'pipelines'), join(PACKAGE_ROOT, 'pipelines')].flatMap((dir) => EXTENSIONS.map((ext) => join(dir, `${nameOrPath}${ext}`)));
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) {
    throw new FlywheelError(
      'PIPELINE_NOT_FOUND',
      `no pipeline ${JSON.stringify(nameOrPath)}: looked for ${candidates.map((c) => (isAbsolute(c) ? c : resolve(c))).join(', ')}`,
      {
        retryable: false,
        fix: 'pass a path to a .ts/.js file that default-exports definePipeline(...) or to a Tangle pipeline (.pipeline.component.yaml), or a name of a file in ./pipelines',
      },
    );
  }
  return found;
}

/**
 * Every pipeline file a name can reach, by name: ./pipelines first, then Flywheel's own pipelines/ (a
 * name in both is the project's, as `resolvePipelinePath` finds it).
 */
export function pipelineFiles(cwd = process.cwd()): Map<string, string> {
  const found = new Map<string, string>();
  for (const dir of [join(cwd, 'pipelines'), join(PACKAGE_ROOT, 'pipelines')]) {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    // A name is its file with the first extension `resolvePipelinePath` tries: the same file `flywheel run <name>` loads.
    const files = new Set(names);
    const stems = new Set(names.filter((f) => EXTENSIONS.includes(extname(f)) && !f.endsWith('.d.ts')).map((f) => f.slice(0, -extname(f).length)));
    for (const name of stems) {
      const file = EXTENSIONS.map((ext) => `${name}${ext}`).find((f) => files.has(f));
      if (file !== undefined && !found.has(name)) found.set(name, join(dir, file));
    }
  }
  return found;
}

/**
 * What went wrong loading a pipeline, with where: esbuild's errors as `file:line:column: text` (absolute
 * paths), and an error thrown while the module ran (in `build()`, say) with its first frame in the file.
 */
function loadErrorText(error: unknown, path: string): string {
  const errors = (error as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } | null }> }).errors;
  if (Array.isArray(errors) && errors.length > 0) {
    return errors
      .map((e) =>
        e.location ? `${isAbsolute(e.location.file) ? e.location.file : `/${e.location.file}`}:${e.location.line}:${e.location.column}: ${e.text}` : e.text,
      )
      .join('; ');
  }
  const message = (error as Error).message ?? String(error);
  const frame = ((error as Error).stack ?? '').split('\n').find((line) => line.includes(path));
  const where = frame === undefined ? undefined : /([^\s(]+:\d+:\d+)\)?$/.exec(frame.trim())?.[1];
  return where === undefined ? message : `${message} (at ${where.replace(/^file:\/\//, '')})`;
}

/** Compiles (cached) and imports a pipeline module, and returns its default-exported definition. */
export async function loadPipeline(nameOrPath: string, cwd = process.cwd()): Promise<{ definition: PipelineDefinition; path: string; bundle: string }> {
  const path = resolvePipelinePath(nameOrPath, cwd);
  if (GRAPH_PIPELINE.test(path)) {
    // Nothing to compile: the file and its components are the pipeline, named by their digests.
    const { definition, identity } = readGraphPipeline(path);
    return { definition, path, bundle: `${path}#${identity}` };
  }
  let module: Record<string, unknown>;
  let bundle: string;
  let code: CodeIndex;
  let root: string;
  try {
    ({ bundle, code, root } = await compilePipeline(path, new URL('../../index.js', import.meta.url).href));
    process.setSourceMapsEnabled(true); // stack traces point into the pipeline's own sources
    module = (await import(pathToFileURL(bundle).href)) as Record<string, unknown>;
  } catch (error) {
    // A Flywheel error raised while the file loads (a component.yaml not found) knows its own fix.
    const own = error instanceof FlywheelError ? error.fix : undefined;
    throw new FlywheelError('PIPELINE_LOAD_FAILED', `could not load ${path}: ${loadErrorText(error, path)}`, {
      fix:
        own ??
        'fix the error above in the pipeline file (for TypeScript errors run `npx tsc --noEmit` in your project: `flywheel init` sets up its tsconfig.json)',
      cause: error,
    });
  }
  const definition = isPipelineDefinition(module.default) ? module.default : Object.values(module).find(isPipelineDefinition);
  if (definition === undefined) {
    throw new FlywheelError('PIPELINE_LOAD_FAILED', `${path} exports no pipeline`, { fix: 'add `export default definePipeline({ ... })` to the file' });
  }
  return { definition: withCodeFingerprints(definition, code, root), path, bundle };
}

/**
 * Gives every step of the pipeline (and of its other profiles, built later) the fingerprint of the code
 * it can reach: from the statement `defineStep` was called in (the module, when it was called while the
 * pipeline builds), and the files it declares in `codeFiles`. A step from a package, or defined outside
 * any local module's evaluation, has none and is trusted as before.
 */
function withCodeFingerprints(definition: PipelineDefinition, code: CodeIndex, root: string): PipelineDefinition {
  const fingerprintOf = fingerprinter(code);
  // Files are read once per load, however many steps (and profiles) declare them.
  const files = new Map<string, Record<string, string>>();
  const filesOf = (module: string, globs: readonly string[]): Record<string, string> => {
    const id = JSON.stringify([module, globs]);
    let found = files.get(id);
    if (found === undefined) files.set(id, (found = codeFileDigests(root, module, globs)));
    return found;
  };
  const attach = (built: PipelineDefinition): PipelineDefinition => {
    for (const { step } of built.nodes) {
      const tags = step as unknown as Record<symbol, unknown>;
      const module = tags[STEP_MODULE];
      const statement = tags[STEP_STATEMENT];
      if (typeof module !== 'string') continue;
      const declared = step.codeFiles === undefined ? {} : filesOf(module, step.codeFiles);
      const fingerprint = fingerprintOf(module, typeof statement === 'number' ? statement : undefined, declared);
      if (fingerprint !== undefined) Object.defineProperty(step, STEP_CODE, { value: fingerprint, configurable: true });
    }
    const withProfile = built.withProfile;
    if (withProfile === undefined) return built;
    return {
      ...built,
      // Steps a profile's build defines are the pipeline file's, as they are when it builds on import.
      withProfile: (profile: string) => attach(whileEvaluating(code.entry, () => withProfile(profile))),
    };
  };
  return attach(definition);
}

function whileEvaluating<T>(module: string, work: () => T): T {
  const global = globalThis as Record<symbol, unknown>;
  const found = global[DEFINING_MODULES];
  const stack: unknown[] = Array.isArray(found) ? found : [];
  global[DEFINING_MODULES] = stack;
  const depth = stack.push(module) - 1;
  try {
    return work();
  } finally {
    stack.length = depth;
  }
}
