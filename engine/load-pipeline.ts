import { existsSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isPipelineDefinition, type PipelineDefinition } from './define-pipeline.js';
import { FlywheelError } from './errors.js';
import { compilePipeline } from './compile-pipeline.js';

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];

/** Finds a pipeline file: a path as given, or a name looked up in ./pipelines and then in Flywheel's own pipelines/. */
export function resolvePipelinePath(nameOrPath: string, cwd = process.cwd()): string {
  const looksLikePath = nameOrPath.includes('/') || nameOrPath.includes('\\') || EXTENSIONS.includes(extname(nameOrPath));
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
        fix: 'pass a path to a .ts/.js file that default-exports definePipeline(...), or a name of a file in ./pipelines',
      },
    );
  }
  return found;
}

/** Compiles (cached) and imports a pipeline module, and returns its default-exported definition. */
export async function loadPipeline(nameOrPath: string, cwd = process.cwd()): Promise<{ definition: PipelineDefinition; path: string; bundle: string }> {
  const path = resolvePipelinePath(nameOrPath, cwd);
  let module: Record<string, unknown>;
  let bundle: string;
  try {
    bundle = await compilePipeline(path, new URL('../index.js', import.meta.url).href);
    process.setSourceMapsEnabled(true); // stack traces point into the pipeline's own sources
    module = (await import(pathToFileURL(bundle).href)) as Record<string, unknown>;
  } catch (error) {
    throw new FlywheelError('PIPELINE_LOAD_FAILED', `could not load ${path}: ${(error as Error).message}`, {
      fix: 'fix the error above in the pipeline file (run `npm run typecheck` for TypeScript errors)',
      cause: error,
    });
  }
  const definition = isPipelineDefinition(module.default) ? module.default : Object.values(module).find(isPipelineDefinition);
  if (definition === undefined) {
    throw new FlywheelError('PIPELINE_LOAD_FAILED', `${path} exports no pipeline`, { fix: 'add `export default definePipeline({ ... })` to the file' });
  }
  return { definition, path, bundle };
}
