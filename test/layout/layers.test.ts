import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript, run by eslint and node
import { folderCycles, folderGraph } from '../../scripts/lint/folder-cycles.js';
// @ts-expect-error: plain JavaScript, run by eslint and node
import { layerCycle, LAYERS } from '../../scripts/lint/layers.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

/** The messages `npm run lint` gives a module with this text at this path (the file need not exist). */
async function layerErrors(path: string, text: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: REPO });
  const [result] = await eslint.lintText(text, { filePath: join(REPO, path) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'flywheel/layers').map((m) => m.message);
}

describe('layers, enforced by npm run lint', () => {
  it('refuses a forbidden import at every depth, dynamic ones too, naming both sides and the reason', async () => {
    const forbidden: Array<[string, string, RegExp]> = [
      [
        'cli/commands/fixture.ts',
        "import { deploy } from '../../steps/release/deploy.js';\nexport const x = deploy;\n",
        /cli\/commands\/fixture\.ts \(cli\) may not import steps\/release\/deploy\.js \(steps\).*extensions/,
      ],
      ['ui/server/fixture.ts', "export const x = () => import('../../cli/main.js');\n", /\(ui\/server\) may not import cli\/main\.js \(cli\)/],
      ['ui/server/fixture.ts', "import { compareSections } from '../../steps/release/compare-sections.js';\nexport const x = compareSections;\n", /\(steps\)/],
      ['ui/app/src/fixture.ts', "import { Api } from '../../server/api.js';\nexport const x = Api;\n", /at run time \(use `import type`\)/],
      ['engine/map/deep/fixture.ts', "import { main } from '../../../cli/main.js';\nexport const x = main;\n", /\(engine\) may not import cli\/main\.js/],
      [
        'engine/core/fixture.ts',
        "import { decide } from '../keys/decide.js';\nexport const x = decide;\n",
        /\(engine\/core\) may not import engine\/keys\/decide\.js \(engine\) at run time/,
      ],
      ['steps/flow-agent/deep/fixture.ts', "import { FlywheelError } from '../../../engine/errors.js';\nexport const x = FlywheelError;\n", /public API/],
      ['workflows/fixture.ts', "export { decide } from '../engine/keys/decide.js';\n", /\(workflows\) may not import engine\/keys\/decide\.js/],
      ['workers/fixture.ts', "import { main } from '../cli/main.js';\nexport const x = main;\n", /\(workers\) may not import cli/],
      ['cache/deep/fixture.ts', "import { FlywheelError } from '../../engine/errors.js';\nexport const x = FlywheelError;\n", /bottom layer/],
      // With verbatimModuleSyntax an inline `type` still loads the module: only `import type` is erased.
      ['ui/app/src/fixture.ts', "import { type Api } from '../../server/api.js';\nexport type X = Api;\n", /at run time \(use `import type`\)/],
      // Every way of loading a module counts.
      ['cli/fixture.ts', "export const x = require('../steps/release/deploy.js');\n", /\(steps\)/],
      ['cli/fixture.ts', "import deploy = require('../steps/release/deploy.js');\nexport const x = deploy;\n", /\(steps\)/],
      ['cli/fixture.ts', 'export const x = () => import(`../steps/release/deploy.js`);\n', /\(steps\)/],
      ['engine/keys/fixture.ts', "import { defineStep } from 'flywheel';\nexport const x = defineStep;\n", /\(engine\) may not import index\.ts \(index\.ts\)/],
      ['cli/fixture.mts', "import { deploy } from '../steps/release/deploy.js';\nexport const x = deploy;\n", /\(steps\)/],
    ];
    for (const [path, text, message] of forbidden) {
      const errors = await layerErrors(path, text);
      expect(errors, `${path}: ${text}`).toHaveLength(1);
      expect(errors[0]).toMatch(message);
    }
  });

  it('lets through what the layers allow: types into the app and the sandbox, steps within steps, the CLI over the UI server', async () => {
    const allowed: Array<[string, string]> = [
      ['ui/app/src/fixture.ts', "import type { RunRecord } from '../../../cache/records.js';\nexport type X = RunRecord;\n"],
      ['ui/app/src/fixture.ts', "export type { CompareResponse } from '../../server/api-types.js';\n"],
      ['steps/judge/fixture.ts', "import { defineStep } from 'flywheel';\nexport const x = defineStep;\n"],
      ['workflows/fixture.ts', "import type { ResolvedNode } from '../engine/validate/validate.js';\nexport type X = ResolvedNode;\n"],
      ['cli/commands/fixture.ts', "export const x = () => import('../../ui/server/index.js');\n"],
      ['steps/judge/deep/fixture.ts', "import { cohenKappa } from '../../stats/agreement.js';\nexport const x = cohenKappa;\n"],
      ['pipelines/fixture.ts', "import { deploy } from '../steps/release/deploy.js';\nexport const x = deploy;\n"],
      ['engine/map/fixture.ts', "import { decide } from '../keys/decide.js';\nexport const x = decide;\n"],
    ];
    for (const [path, text] of allowed) expect(await layerErrors(path, text), `${path}: ${text}`).toEqual([]);
  });

  it('holds through a symlink to the checkout: the rule sees where a file really is', async () => {
    const link = join(await mkdtemp(join(tmpdir(), 'flywheel-link-')), 'checkout');
    await symlink(REPO, link);
    const eslint = new ESLint({ cwd: link });
    const [result] = await eslint.lintText("import { deploy } from '../steps/release/deploy.js';\nexport const x = deploy;\n", {
      filePath: join(link, 'cli', 'fixture.ts'),
    });
    expect((result?.messages ?? []).filter((m) => m.ruleId === 'flywheel/layers')).toHaveLength(1);
  });

  it('holds a table without cycles, and would name one', () => {
    expect(layerCycle()).toBeUndefined();
    expect(layerCycle({ ...LAYERS, cache: { uses: ['cli'], types: [], why: '' } })).toEqual(expect.arrayContaining(['cache', 'cli']));
  });
});

describe('folders', () => {
  it('import each other in one direction only, and the generic CLI and UI import no pipeline code', async () => {
    const { stdout } = await run(process.execPath, [join(REPO, 'scripts/lint/folder-cycles.js')]);
    expect(stdout).toMatch(/folder cycles: none among \d+ folders/);
    const edges = folderGraph(REPO) as Map<string, Map<string, string>>;
    const generic = [...edges].filter(([from]) => /^(cli|ui)(\/|$)/.test(from));
    expect(generic.length).toBeGreaterThan(0);
    for (const [from, targets] of generic) for (const to of targets.keys()) expect(`${from} → ${to}`).not.toMatch(/→ (steps|pipelines)(\/|$)/);
  });

  it('a cycle between two folders fails the check, naming the imports that make it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'flywheel-cycles-'));
    try {
      const write = async (path: string, text: string): Promise<void> => {
        await mkdir(dirname(join(root, path)), { recursive: true });
        await writeFile(join(root, path), text);
      };
      await write('engine/keys/key.ts', "import { run } from '../map/map.js';\nexport const key = () => run;\n");
      await write('engine/map/map.ts', "import { key } from '../keys/key.js';\nexport const run = () => key;\n");
      await write('engine/map/types-only.ts', "import type { key } from '../keys/key.js';\nexport type K = typeof key;\n");
      expect(folderCycles(folderGraph(root))).toEqual([['engine/keys', 'engine/map']]);
      const failed = await run(process.execPath, [join(REPO, 'scripts/lint/folder-cycles.js'), root]).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stderr).toContain('folders import each other at run time: engine/keys, engine/map');
      expect(failed?.stderr).toContain('engine/keys/key.ts → engine/map/map.ts');
      // An import of types only is erased: it makes no cycle.
      await write('engine/keys/key.ts', "import type { run } from '../map/map.js';\nexport const key = (): typeof run | undefined => undefined;\n");
      expect(folderCycles(folderGraph(root))).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
