import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

import { layersPlugin } from './scripts/lint/layers.js';

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

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.flywheel/**', 'bench/.work/**', 'coverage/**', 'trainer/**'] },
  js.configs.recommended,
  { languageOptions: { globals: globals.node } },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // `import { type A }` still loads its module (verbatimModuleSyntax): a types-only import says `import type`.
      '@typescript-eslint/no-import-type-side-effects': 'error',
      'no-console': 'error',
    },
  },
  // The web run view (ui/app/) runs in the browser; its server adapter (ui/server/) in Node.
  {
    files: ['ui/app/src/**/*.{ts,tsx}'],
    languageOptions: { globals: globals.browser },
    // Its typecheck knows Node's types (the server's modules it reads types from need them); the browser has none of these.
    rules: {
      'no-restricted-globals': [
        'error',
        ...['process', 'Buffer', 'require', 'global', '__dirname', '__filename', 'setImmediate'].map((name) => ({
          name,
          message: 'the run view runs in the browser: no Node globals',
        })),
      ],
    },
  },
  {
    // Library code logs through pino; only entry points, benchmarks and tests talk to the console.
    files: ['bench/**', 'test/**', 'bin/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
  // Layers point one way, at every depth of every folder: scripts/lint/layers.js holds the table (docs/architecture.md draws it).
  { files: ['**/*.{ts,tsx,mts,cts,js,mjs,cjs}'], plugins: { flywheel: layersPlugin }, rules: { 'flywheel/layers': 'error' } },
  {
    // The run core is pure: no I/O, no Node built-ins, no packages (folders: the layers rule). The Temporal workflow sandbox imports it.
    files: ['engine/core/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: NODE_BUILTINS, message: 'the run core is pure: no Node built-ins (the workflow sandbox imports it)' },
            { group: ['zod', 'pino', '@temporalio/*'], message: 'the run core imports no packages (types are fine)', allowTypeImports: true },
          ],
        },
      ],
    },
  },
  {
    // Temporal bundles and sandboxes workflow code: no Node built-ins, no packages outside the sandbox (folders: the layers rule).
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: NODE_BUILTINS, message: 'workflow code is sandboxed: no Node built-ins' },
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
);
