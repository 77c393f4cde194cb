import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * Layers point one way (DESIGN.md): cache/ ← engine/ ← activities/, workflows/, workers/ ← cli/; steps/
 * use only the public `flywheel` API. Each entry: the folder, and the imports it may not make (relative
 * to a file directly inside it; `upTwo` repeats the patterns for files one folder deeper). Imports of
 * types only are allowed across layers where `types` says so: they vanish when compiled.
 */
const ABOVE = {
  cache: ['engine', 'cli', 'steps', 'activities', 'workflows', 'workers', 'ui', 'pipelines'],
  engine: ['cli', 'steps', 'activities', 'workflows', 'workers', 'ui', 'pipelines'],
  activities: ['cli', 'steps', 'ui', 'pipelines'],
  workers: ['cli', 'steps', 'ui', 'pipelines'],
};

const NODE_BUILTINS = [
  'node:*',
  'fs',
  'fs/*',
  'path',
  'os',
  'crypto',
  'child_process',
  'stream',
  'stream/*',
  'util',
  'url',
  'http',
  'https',
  'net',
  'worker_threads',
  'timers',
  'timers/*',
];

function layerRule(folders, depth, message, allowTypeImports) {
  const up = depth === 1 ? '..' : '../..';
  return {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      { patterns: [{ group: folders.flatMap((f) => [`${up}/${f}/*`, `${up}/${f}/**`, `${up}/${f}.js`]), message, allowTypeImports }] },
    ],
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.flywheel/**', 'bench/.work/**', 'coverage/**', 'trainer/**'] },
  js.configs.recommended,
  { languageOptions: { globals: globals.node } },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  // The web run view (ui/app/) runs in the browser; its server adapter (ui/server/) in Node.
  { files: ['ui/app/src/**/*.{ts,tsx}'], languageOptions: { globals: globals.browser } },
  {
    // Library code logs through pino; only entry points, benchmarks and tests talk to the console.
    files: ['bench/**', 'test/**', 'bin/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
  // The cache imports nothing above it.
  { files: ['cache/**/*.ts'], rules: layerRule(ABOVE.cache, 1, 'cache/ is the bottom layer: it imports nothing above it (DESIGN.md)', false) },
  { files: ['engine/*.ts'], rules: layerRule(ABOVE.engine, 1, 'engine/ imports only cache/ and itself: drivers, steps and the CLI sit above it', false) },
  {
    // The run core is pure: no I/O, no Node, nothing outside engine/core/ but types. The Temporal workflow sandbox imports it.
    files: ['engine/core/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: NODE_BUILTINS, message: 'the run core is pure: no Node built-ins (the workflow sandbox imports it)' },
            {
              group: ['../*', '!./*', 'zod', 'pino', '@temporalio/*'],
              message: 'the run core imports only engine/core/ (types from elsewhere are fine)',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    files: ['activities/**/*.ts'],
    rules: layerRule(ABOVE.activities, 1, 'activities are thin adapters over the engine: they do not reach into the CLI or steps', false),
  },
  { files: ['workers/**/*.ts'], rules: layerRule(ABOVE.workers, 1, 'workers do not import the CLI or steps: pipeline loading lives in engine/', false) },
  {
    // Temporal bundles and sandboxes workflow code: no Node, no store, no steps; activities by type only.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: NODE_BUILTINS, message: 'workflow code is sandboxed: no Node built-ins' },
            {
              group: ['../cache/*', '../steps/*', '../steps/**', '../cli/*', '../cli/**', '../workers/*', '../activities/*'],
              message: 'workflow code imports these by `import type` only',
              allowTypeImports: true,
            },
            {
              group: ['../engine/*', '!../engine/core'],
              message: 'workflow code may use only the pure run core (engine/core/) from the engine',
              allowTypeImports: true,
            },
            { group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity', 'zod', 'pino'], message: 'not in the workflow sandbox' },
          ],
        },
      ],
      // Workflow code keeps no mutable module-level state: replays and concurrent workflows share the module.
      'no-restricted-syntax': [
        'error',
        {
          // Top-level let/var, and objects made with `new` (a Map, a Set) that would live across workflows.
          selector:
            ':matches(Program, Program > ExportNamedDeclaration) > VariableDeclaration:matches([kind="let"], [kind="var"]), :matches(Program, Program > ExportNamedDeclaration) > VariableDeclaration > VariableDeclarator > NewExpression',
          message: 'no mutable module-level state in workflow code',
        },
      ],
    },
  },
  {
    files: ['steps/*.ts'],
    rules: layerRule([...ABOVE.cache.filter((f) => f !== 'steps'), 'cache'], 1, "steps import only the public API: `import { ... } from 'flywheel'`", false),
  },
  {
    files: ['steps/*/*.ts'],
    rules: layerRule([...ABOVE.cache.filter((f) => f !== 'steps'), 'cache'], 2, "steps import only the public API: `import { ... } from 'flywheel'`", false),
  },
);
