import { realpathSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The layers of docs/architecture.md, as the lint rule `flywheel/layers` enforces them on every file at
 * every depth. An area is a folder (or the public API file); a file belongs to the longest area that
 * contains it. `uses`: the areas its modules may import at run time (its own always); `types`: areas
 * it may also import with `import type` (erased when compiled). An import the table does not allow is
 * an error naming both areas and the way out. Files outside every area (test/, bench/, scripts/,
 * bin/) are not checked. Every way to load a module counts: import and export … from, `import()` (a
 * literal or a template without expressions), `require()`, `import x = require()`, and the package's
 * own name (`'flywheel'`, the public API). Only `import type` / `export type` are erased (with
 * verbatimModuleSyntax, `import { type A }` still loads its module).
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
  steps: { uses: ['index.ts'], types: [], why: "steps import only the public API: `import { ... } from 'flywheel'`" },
  pipelines: { uses: ['steps', 'index.ts'], types: [], why: "a pipeline wires steps: it imports steps/ and the public API ('flywheel')" },
  ui: { uses: [], types: [], why: 'ui/ holds app/ (the browser) and server/ (its API): a new folder there needs its place in this table' },
  'index.ts': { uses: ['cache', 'engine', 'engine/core'], types: [], why: 'the public API re-exports the engine and the store' },
};

const ROOT = realpathSync(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'));
const PACKAGE = 'flywheel';
const AREAS = Object.keys(LAYERS).sort((a, b) => b.length - a.length);

/** The area a repository path (with `/`) is in: the longest that contains it (`index.js` names `index.ts`). */
export function areaOf(path) {
  const source = path.replace(/\.js$/, '.ts');
  return AREAS.find((area) => path === area || source === area || path.startsWith(`${area}/`));
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

/** A path as the repository knows it, through any symlink on the way (the file itself may not exist yet). */
function repoPath(absolute) {
  let existing = absolute;
  let rest = '';
  for (;;) {
    try {
      existing = realpathSync(existing);
      break;
    } catch {
      const parent = dirname(existing);
      if (parent === existing) break;
      rest = `${existing.slice(parent.length)}${rest}`;
      existing = parent;
    }
  }
  return relative(ROOT, `${existing}${rest}`).split(sep).join('/');
}

/** `import type` / `export type`: erased when compiled. `import { type A }` is not (it still loads the module). */
const typeOnly = (node) => node.importKind === 'type' || node.exportKind === 'type';

/** The text of a string literal, or of a template literal without expressions. */
function literalText(node) {
  if (node?.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node?.type === 'TemplateLiteral' && node.expressions.length === 0) return node.quasis[0]?.value.cooked;
  return undefined;
}

const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports follow the layers of docs/architecture.md (scripts/lint/layers.js)' },
    schema: [],
    messages: { layer: '{{from}} may not import {{to}}{{how}}: {{why}} (docs/architecture.md, "Layers")' },
  },
  create(context) {
    const file = repoPath(resolve(context.physicalFilename ?? context.filename));
    const from = areaOf(file);
    if (from === undefined || file.startsWith('..')) return {};
    const layer = LAYERS[from];
    const check = (node, source, types) => {
      if (typeof source !== 'string' || !(source.startsWith('.') || source === PACKAGE)) return;
      const target = source === PACKAGE ? 'index.ts' : repoPath(resolve(dirname(resolve(ROOT, file)), source));
      const to = areaOf(target) ?? target.split('/')[0];
      if (to === from || layer.uses.includes(to) || (types && layer.types.includes(to))) return;
      const how = !types && layer.types.includes(to) ? ' at run time (use `import type`)' : '';
      context.report({ node, messageId: 'layer', data: { from: `${file} (${from})`, to: `${target} (${to})`, how, why: layer.why } });
    };
    return {
      ImportDeclaration: (node) => check(node.source, node.source.value, typeOnly(node)),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value, typeOnly(node)),
      ExportAllDeclaration: (node) => check(node.source, node.source.value, node.exportKind === 'type'),
      ImportExpression: (node) => check(node.source, literalText(node.source), false),
      CallExpression: (node) => node.callee.type === 'Identifier' && node.callee.name === 'require' && check(node, literalText(node.arguments[0]), false),
      TSImportEqualsDeclaration: (node) =>
        node.moduleReference.type === 'TSExternalModuleReference' && check(node, literalText(node.moduleReference.expression), node.importKind === 'type'),
      TSImportType: (node) => {
        const literal = node.argument?.literal ?? node.argument;
        check(node, literal?.value, true);
      },
    };
  },
};

export const layersPlugin = { rules: { layers: rule } };
