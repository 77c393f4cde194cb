import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { changedFiles, fingerprinter, type CodeIndex } from '../../engine/code/code-fingerprint.js';
import { compilePipeline } from '../../engine/load/compile-pipeline.js';
import type * as LoadPipeline from '../../engine/load/load-pipeline.js';
import { tempDir } from '../support/temp-dir.js';

const ENGINE_URL = new URL('../../index.ts', import.meta.url).href;

/** A small project on disk: `package.json` plus the given files (paths relative to `dir`). */
async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(join(dir, 'steps'), { recursive: true });
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
  for (const [path, text] of Object.entries(files)) await writeFile(join(dir, path), text);
}

// The compiler reads its cache folder from the environment: each test points it at a temp dir of its own.
let savedCompileCache: string | undefined;
beforeEach(() => {
  savedCompileCache = process.env.FLYWHEEL_COMPILE_CACHE;
});
afterEach(() => {
  if (savedCompileCache === undefined) delete process.env.FLYWHEEL_COMPILE_CACHE;
  else process.env.FLYWHEEL_COMPILE_CACHE = savedCompileCache;
});

describe('fingerprinter', () => {
  const index: CodeIndex = {
    scheme: 'test/1',
    entry: 'pipeline.ts',
    modules: {
      'pipeline.ts': { digest: 'p', imports: ['steps/a.ts', 'steps/b.ts'] },
      'steps/a.ts': { digest: 'a', imports: ['lib/util.ts'] },
      'steps/b.ts': { digest: 'b', imports: [] },
      'lib/util.ts': { digest: 'u', imports: ['steps/a.ts'] }, // a cycle
    },
  };

  it('covers the module and every local module it reaches, cycles included', () => {
    const of = fingerprinter(index);
    expect(of('steps/a.ts')?.files).toEqual({ 'lib/util.ts': 'u', 'steps/a.ts': 'a' });
    expect(Object.keys(of('pipeline.ts')?.files ?? {})).toEqual(['lib/util.ts', 'pipeline.ts', 'steps/a.ts', 'steps/b.ts']);
    expect(of('steps/unknown.ts')).toBeUndefined();
  });

  it('changes with any reached module, and only then', () => {
    const before = fingerprinter(index);
    const after = fingerprinter({ ...index, modules: { ...index.modules, 'lib/util.ts': { digest: 'u2', imports: ['steps/a.ts'] } } });
    expect(after('steps/a.ts')?.digest).not.toBe(before('steps/a.ts')?.digest);
    expect(after('steps/b.ts')?.digest).toBe(before('steps/b.ts')?.digest);
    expect(changedFiles(after('steps/a.ts'), before('steps/a.ts'))).toEqual(['lib/util.ts']);
  });

  it('compares only fingerprints of one scheme, and trusts results without one', () => {
    const current = fingerprinter(index)('steps/a.ts');
    const otherScheme = fingerprinter({ ...index, scheme: 'test/2', modules: { ...index.modules, 'steps/a.ts': { digest: 'x', imports: [] } } })('steps/a.ts');
    expect(changedFiles(current, otherScheme)).toBeUndefined();
    expect(changedFiles(current, undefined)).toBeUndefined();
    expect(changedFiles(undefined, current)).toBeUndefined();
    expect(changedFiles(current, current)).toBeUndefined();
  });

  it('names files newly imported and no longer imported', () => {
    const before = fingerprinter(index)('steps/a.ts');
    const after = fingerprinter({ ...index, modules: { ...index.modules, 'steps/a.ts': { digest: 'a', imports: ['steps/b.ts'] } } })('steps/a.ts');
    expect(changedFiles(after, before)).toEqual(['lib/util.ts (no longer imported)', 'steps/b.ts (newly imported)']);
  });
});

describe('compilePipeline code index', () => {
  const writeProject = (dir: string): Promise<void> =>
    writeTree(dir, {
      'steps/util.ts': 'export const here = import.meta.url;\nexport function shout(s: string): string {\n  return s.toUpperCase();\n}\n',
      'steps/a.ts':
        "import { defineStep } from 'flywheel';\nimport { shout } from './util.js';\nexport const a = defineStep({ id: 'a', version: 1, run() { shout('x'); } });\n",
      'pipeline.ts':
        "import { definePipeline } from 'flywheel';\nimport { a } from './steps/a.js';\nexport default definePipeline({ name: 'p', build(p) { p.add(a); } });\n",
    });

  it('is the same for two copies of a project at different paths, and ignores comments and formatting', async () => {
    const one = await tempDir('flywheel-index');
    const two = join(await tempDir('flywheel-index'), 'deeper', 'clone');
    process.env.FLYWHEEL_COMPILE_CACHE = join(await tempDir('flywheel-index-cache'), 'cache');
    await writeProject(one);
    await cp(one, two, { recursive: true });
    const first = await compilePipeline(join(one, 'pipeline.ts'), ENGINE_URL);
    const second = await compilePipeline(join(two, 'pipeline.ts'), ENGINE_URL);
    expect(first.code).toEqual(second.code);
    expect(first.code.entry).toBe('pipeline.ts');
    expect(first.code.modules['steps/a.ts']?.imports).toEqual(['steps/util.ts']);
    expect(fingerprinter(first.code)('steps/a.ts')).toEqual(fingerprinter(second.code)('steps/a.ts'));

    const util = join(two, 'steps', 'util.ts');
    await writeFile(util, `// helpers\n${(await readFile(util, 'utf8')).replace('return s.toUpperCase();', '/* loud */ return   s.toUpperCase() ;')}`);
    const reformatted = await compilePipeline(join(two, 'pipeline.ts'), ENGINE_URL);
    expect(reformatted.bundle).not.toBe(second.bundle); // rebuilt: the source changed
    expect(reformatted.code).toEqual(first.code);

    await writeFile(util, (await readFile(util, 'utf8')).replace('toUpperCase', 'toLowerCase'));
    const edited = await compilePipeline(join(two, 'pipeline.ts'), ENGINE_URL);
    expect(changedFiles(fingerprinter(edited.code)('steps/a.ts'), fingerprinter(first.code)('steps/a.ts'))).toEqual(['steps/util.ts']);
  });
});

describe('the module that defines each step', () => {
  it('is the module whose evaluation called defineStep: its own module, a factory caller, or the pipeline file', async () => {
    const dir = await tempDir('flywheel-defining');
    process.env.FLYWHEEL_COMPILE_CACHE = join(await tempDir('flywheel-defining-cache'), 'cache');
    await writeTree(dir, {
      'steps/own.ts': "import { defineStep } from 'flywheel';\nexport const own = defineStep({ id: 'own', version: 1, run() {} });\n",
      'steps/factory.ts': "import { defineStep } from 'flywheel';\nexport const make = (id: string, run: () => void) => defineStep({ id, version: 1, run });\n",
      'steps/made.ts': "import { make } from './factory.js';\nexport const made = make('made', () => undefined);\n",
      'pipeline.ts': [
        "import { definePipeline, defineStep } from 'flywheel';",
        "import { own } from './steps/own.js';",
        "import { made } from './steps/made.js';",
        'export default definePipeline({',
        "  name: 'defining',",
        '  build(p) {',
        '    p.add(own);',
        '    p.add(made);',
        "    p.add(defineStep({ id: 'inline', version: 1, run() {} }));",
        '  },',
        '});',
        '',
      ].join('\n'),
    });
    // The built engine: the bundle imports it, as the CLI's does.
    const { loadPipeline } = (await import(new URL('../../dist/engine/load/load-pipeline.js', import.meta.url).href)) as typeof LoadPipeline;
    const { codeFingerprintOf } = await import('../../engine/define/define-step.js');
    const { definition } = await loadPipeline(join(dir, 'pipeline.ts'));
    const files = Object.fromEntries(definition.nodes.map((n) => [n.id, Object.keys(codeFingerprintOf(n.step)?.files ?? {})]));
    expect(files).toEqual({
      own: ['steps/own.ts'],
      made: ['steps/factory.ts', 'steps/made.ts'],
      inline: ['pipeline.ts', 'steps/factory.ts', 'steps/made.ts', 'steps/own.ts'],
    });
  });
});

describe('the run core', () => {
  it("carries a hit's warning into the step record and the plan, as data", async () => {
    const { RunCore } = await import('../../engine/core/run-core.js');
    const header = { format: 'flywheel.run/v1' as const, runId: 'r', pipeline: 'p', startedAt: new Date(0).toISOString(), host: 'h', pid: 1, overrides: [] };
    const components = { step: 's', version: '1', ports: { inputs: {}, outputs: {} }, config: {}, inputs: {}, env: {} };
    const key = 'a'.repeat(64) as never;
    const warning = 'code changed since this result (version 1 unchanged): steps/s.ts; kept the cached result';
    for (const mode of ['run', 'plan'] as const) {
      const core = new RunCore([{ id: 's', step: 's', upstream: [] }], { mode, header, now: () => 0 });
      core.start();
      const commands = core.handle({
        type: 'resolved',
        resolution: { kind: 'hit', id: 's', key, components, outputs: {}, computedBy: 'earlier', savedMs: 5, warning },
      });
      core.handle({ type: 'resolve-done', round: 0 });
      if (mode === 'plan') expect(core.plan()[0]).toMatchObject({ decision: 'cached', warning });
      else expect(commands).toContainEqual({ type: 'notify', event: { type: 'step-finished', step: expect.objectContaining({ status: 'cached', warning }) } });
    }
  });
});

describe('onCodeChange', () => {
  it('refuses a pipeline-level value that is neither warn nor rerun (a typo must not keep stale results)', async () => {
    const { definePipeline, defineStep, validatePipeline } = await import('../../index.js');
    const step = defineStep({ id: 'only', version: 1, run() {} });
    const pipeline = definePipeline({ name: 'typo', onCodeChange: 'warm' as never, build: (p) => void p.add(step) });
    expect(() => validatePipeline(pipeline)).toThrow(/onCodeChange: "warm" \}\) is neither "warn" nor "rerun"/);
  });
});

describe("the flagship's fine-tune", () => {
  it("declares the Python trainer it runs: editing train.py changes its fingerprint, naming the file, and no other step's", async () => {
    // A copy of the flagship's sources, as a clone of the repository has them.
    const repo = new URL('../../', import.meta.url).pathname;
    const clone = await tempDir('flywheel-flagship');
    process.env.FLYWHEEL_COMPILE_CACHE = join(await tempDir('flywheel-flagship-cache'), 'cache');
    for (const part of ['package.json', 'pipelines', 'steps', 'trainer/flywheel_trainer', 'trainer/requirements.txt'])
      await cp(join(repo, part), join(clone, part), { recursive: true });
    await symlink(join(repo, 'node_modules'), join(clone, 'node_modules'));
    const { loadPipeline } = (await import(new URL('../../dist/engine/load/load-pipeline.js', import.meta.url).href)) as typeof LoadPipeline;
    const { codeFingerprintOf } = await import('../../engine/define/define-step.js');
    const fingerprints = async () => {
      const { definition } = await loadPipeline(join(clone, 'pipelines', 'flow-agent.ts'));
      const production = definition.withProfile?.('production') ?? definition;
      return new Map(production.nodes.map((n) => [n.id, codeFingerprintOf(n.step)]));
    };
    const before = await fingerprints();
    expect(Object.keys(before.get('fine-tune')?.files ?? {})).toEqual(
      expect.arrayContaining(['steps/flow-agent/fine-tune.ts', 'trainer/flywheel_trainer/train.py', 'trainer/requirements.txt']),
    );
    // Only the steps that run the trainer name its files.
    expect([...before].filter(([, f]) => Object.keys(f?.files ?? {}).some((path) => path.startsWith('trainer/'))).map(([id]) => id)).toEqual(['fine-tune']);

    const train = join(clone, 'trainer', 'flywheel_trainer', 'train.py');
    await writeFile(train, `${await readFile(train, 'utf8')}\n# a learning-rate schedule fix\n`);
    const after = await fingerprints();
    expect(changedFiles(after.get('fine-tune'), before.get('fine-tune'))).toEqual(['trainer/flywheel_trainer/train.py']);
    for (const [id, fingerprint] of after) if (id !== 'fine-tune') expect(changedFiles(fingerprint, before.get(id)), id).toBeUndefined();
  }, 60_000);
});
