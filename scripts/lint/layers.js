import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The layers of docs/architecture.md, as the lint rule `flywheel/layers` enforces them on every file at
 * every depth. An area is a folder (or the public API file); a file belongs to the longest area that
 * contains it. `uses`: the areas its modules may import at run time (its own always); `types`: areas
 * it may also import with `import type` (erased when compiled). An import the table does not allow is
 * an error naming both areas and the way out. Files outside every area (test/, bench/, scripts/,
 * bin/) are not checked.
 */
export const LAYERS = {
  cache: { uses: [], types: [], why: 'cache/ is the bottom layer: the store imports nothing above it' },
  'engine/core': {
    uses: [],
    types: ['cache', 'engine'],
    why: 'the run core is pure (the workflow sandbox imports it): it imports only engine/core/, and types from elsewhere',
  },
  engine: { uses: ['cache', 'engine/core'], types: [], why: 'engine/ imports only cache/: drivers, steps, the CLI and the UI sit above it' },
  workflows: {
    uses: ['engine/core'],
    types: ['cache', 'engine', 'activities'],
    why: 'Temporal sandboxes workflow code: from the engine only the pure run core, the rest by `import type`',
  },
  activities: { uses: ['cache', 'engine', 'engine/core', 'workflows'], types: [], why: 'activities are thin adapters over the engine' },
  workers: {
    uses: ['cache', 'engine', 'engine/core', 'workflows', 'activities'],
    types: [],
    why: 'workers host activities and workflows: they do not import the CLI, the UI or any pipeline',
  },
  'ui/server': {
    uses: ['cache', 'engine', 'engine/core', 'workers'],
    types: ['workflows'],
    why: 'the run view server reads the store (and Temporal through workers/); the CLI starts it, never the reverse, and pipelines reach it through their extensions',
  },
  'ui/app': {
    uses: [],
    types: ['ui/server', 'cache', 'engine', 'engine/core'],
    why: 'the browser app imports nothing of the server or engine at run time: types only, through `import type`',
  },
  cli: {
    uses: ['cache', 'engine', 'engine/core', 'workflows', 'activities', 'workers', 'ui/server'],
    types: [],
    why: "the CLI is generic: a pipeline's compare sections and commands reach it through its definition's `extensions`",
  },
  steps: { uses: [], types: [], why: "steps import only the public API: `import { ... } from 'flywheel'`" },
  pipelines: { uses: ['steps'], types: [], why: "a pipeline wires steps: it imports steps/ and the public API ('flywheel')" },
  'index.ts': { uses: ['cache', 'engine', 'engine/core'], types: [], why: 'the public API re-exports the engine and the store' },
};

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const AREAS = Object.keys(LAYERS).sort((a, b) => b.length - a.length);

/** The area a repository path (with `/`) is in: the longest that contains it. */
export function areaOf(path) {
  return AREAS.find((area) => path === area || path.startsWith(`${area}/`));
}

/** The areas' run-time imports form no cycle: a table that allowed one could not hold the layers apart. */
export function layerCycle(layers = LAYERS) {
  const state = new Map();
  const visit = (area, path) => {
    if (state.get(area) === 'done') return undefined;
    if (state.get(area) === 'open') return [...path.slice(path.indexOf(area)), area];
    state.set(area, 'open');
    for (const next of layers[area]?.uses ?? []) {
      const cycle = visit(next, [...path, area]);
      if (cycle !== undefined) return cycle;
    }
    state.set(area, 'done');
    return undefined;
  };
  for (const area of Object.keys(layers)) {
    const cycle = visit(area, []);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}

const cycle = layerCycle();
if (cycle !== undefined) throw new Error(`scripts/lint/layers.js: the layer table has a cycle: ${cycle.join(' → ')}`);

const repoPath = (absolute) => relative(ROOT, absolute).split(sep).join('/');

/** Whether an import declaration (or export … from) brings in types only: it is erased when compiled. */
function typeOnly(node) {
  if (node.importKind === 'type' || node.exportKind === 'type') return true;
  const specifiers = node.specifiers ?? [];
  return specifiers.length > 0 && specifiers.every((s) => s.importKind === 'type' || s.exportKind === 'type');
}

const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports follow the layers of docs/architecture.md (scripts/lint/layers.js)' },
    schema: [],
    messages: { layer: '{{from}} may not import {{to}}{{how}}: {{why}} (docs/architecture.md, "Layers")' },
  },
  create(context) {
    const file = repoPath(context.physicalFilename ?? context.filename);
    const from = areaOf(file);
    if (from === undefined || file.startsWith('..')) return {};
    const layer = LAYERS[from];
    const check = (node, source, types) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const target = repoPath(resolve(dirname(resolve(ROOT, file)), source));
      const to = areaOf(target) ?? target.split('/')[0];
      if (to === from || layer.uses.includes(to) || (types && layer.types.includes(to))) return;
      const how = !types && layer.types.includes(to) ? ' at run time (use `import type`)' : '';
      context.report({ node, messageId: 'layer', data: { from: `${file} (${from})`, to: `${target} (${to})`, how, why: layer.why } });
    };
    return {
      ImportDeclaration: (node) => check(node.source, node.source.value, typeOnly(node)),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value, typeOnly(node)),
      ExportAllDeclaration: (node) => check(node.source, node.source.value, node.exportKind === 'type'),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value, false),
      TSImportType: (node) => {
        const literal = node.argument?.literal ?? node.argument;
        check(node, literal?.value, true);
      },
    };
  },
};

export const layersPlugin = { rules: { layers: rule } };
