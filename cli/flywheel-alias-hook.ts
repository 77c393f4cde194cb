// Node module-resolution hook: `import ... from 'flywheel'` in a pipeline file anywhere on disk resolves
// to the very engine the CLI runs, so pipelines work outside this package without installing it.
import type { ResolveHookContext } from 'node:module';

let engineUrl = '';

export function initialize(data: { engineUrl: string }): void {
  engineUrl = data.engineUrl;
}

type NextResolve = (specifier: string, context?: ResolveHookContext) => unknown;

export function resolve(specifier: string, context: ResolveHookContext, nextResolve: NextResolve): unknown {
  if (specifier === 'flywheel') return { url: engineUrl, shortCircuit: true };
  return nextResolve(specifier, context);
}
