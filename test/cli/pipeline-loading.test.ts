import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runJson, statuses } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

// A pipeline project outside this repository: it imports 'flywheel' without installing it, has its
// steps in another file, and reads a data file next to its source through import.meta.url.
const pipelineSource = `
import { definePipeline } from 'flywheel';
import { greet } from './steps/greet.js';
export default definePipeline({ name: 'outside', build: (p) => void p.add(greet) });
`;

const stepSource = (version: number, greeting: string): string => `
import { readFile, writeFile } from 'node:fs/promises';
import { defineStep, file } from 'flywheel';
const dataUrl = new URL('../data/name.txt', import.meta.url);
export const greet = defineStep({
  id: 'greet',
  version: ${version},
  outputs: { out: file() },
  async run({ outputs }): Promise<void> {
    const name: string = (await readFile(dataUrl, 'utf8')).trim();
    await writeFile(outputs.out, '${greeting}, ' + name + '\\n');
  },
});
`;

describe('loading pipeline files', () => {
  it('compiles TypeScript pipelines outside the package, keeps import.meta.url, and picks up every source edit', async () => {
    const project = await tempDir('flywheel-project');
    await mkdir(join(project, 'steps'));
    await mkdir(join(project, 'data'));
    await writeFile(join(project, 'data', 'name.txt'), 'Ada\n');
    await writeFile(join(project, 'pipeline.ts'), pipelineSource);
    await writeFile(join(project, 'steps', 'greet.ts'), stepSource(1, 'Hello'));
    const env = { FLYWHEEL_COMPILE_CACHE: join(project, 'compile-cache') };

    const first = await runJson('pipeline.ts', [], { cwd: project, env });
    expect(first.code).toBe(0);
    expect(statuses(first.run)).toEqual({ greet: 'executed' });

    // Editing an imported step file (not the pipeline file) must reach the next run.
    await writeFile(join(project, 'steps', 'greet.ts'), stepSource(2, 'Bonjour'));
    const edited = await runJson('pipeline.ts', [], { cwd: project, env });
    expect(edited.run.steps[0]?.status).toBe('executed');
    expect(edited.run.steps[0]?.reason).toBe('version 1 → 2');
    expect(edited.run.steps[0]?.outputs.out).not.toBe(first.run.steps[0]?.outputs.out);

    const again = await runJson('pipeline.ts', [], { cwd: project, env });
    expect(statuses(again.run)).toEqual({ greet: 'cached' });
  });

  it('notices a package upgrade that changes which file the package resolves to', async () => {
    const project = await tempDir('flywheel-project');
    const pkg = join(project, 'node_modules', 'mypkg');
    await mkdir(join(pkg, 'dist'), { recursive: true });
    await writeFile(join(pkg, 'package.json'), JSON.stringify({ name: 'mypkg', version: '1.0.0', main: 'index.js' }));
    await writeFile(join(pkg, 'index.js'), "exports.value = 'v1';\n");
    await writeFile(
      join(project, 'pipeline.mjs'),
      `import { definePipeline, defineStep } from 'flywheel';
import { value } from 'mypkg';
const use = defineStep({ id: 'use-pkg', version: 1, run() {} });
export default definePipeline({ name: 'pkg-' + value, build: (p) => void p.add(use) });
`,
    );
    const env = { FLYWHEEL_COMPILE_CACHE: join(project, 'compile-cache') };
    const first = await runJson('pipeline.mjs', [], { cwd: project, env });
    expect(first.run.pipeline).toBe('pkg-v1');
    // v2 moves its entry point and deletes the old one.
    await writeFile(join(pkg, 'package.json'), JSON.stringify({ name: 'mypkg', version: '2.0.0', main: 'dist/index.js' }));
    await writeFile(join(pkg, 'dist', 'index.js'), "exports.value = 'v2';\n");
    await rm(join(pkg, 'index.js'));
    const upgraded = await runJson('pipeline.mjs', [], { cwd: project, env });
    expect(upgraded.code).toBe(0);
    expect(upgraded.run.pipeline).toBe('pkg-v2');
  });

  it('reports a syntax error in a pipeline file with its location and exit 2', async () => {
    const project = await tempDir('flywheel-project');
    await writeFile(
      join(project, 'broken.ts'),
      `import { definePipeline } from 'flywheel';\nexport default definePipeline({ name: 'broken', build(p) { p.add( } });\n`,
    );
    const result = await runCli(['run', 'broken.ts'], { cwd: project, env: { FLYWHEEL_COMPILE_CACHE: join(project, 'compile-cache') } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('PIPELINE_LOAD_FAILED');
    // The absolute path, as the shell and editors take it.
    expect(result.stderr).toContain(`${join(project, 'broken.ts')}:2:`);
  });

  it('says where in the pipeline file build() threw', async () => {
    const project = await tempDir('flywheel-project');
    await writeFile(
      join(project, 'throws.ts'),
      `import { definePipeline } from 'flywheel';\nexport default definePipeline({ name: 'throws', build() {\n  throw new Error('bad wiring');\n} });\n`,
    );
    const result = await runCli(['run', 'throws.ts'], { cwd: project, env: { FLYWHEEL_COMPILE_CACHE: join(project, 'compile-cache') } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`bad wiring (at ${join(project, 'throws.ts')}:3:`);
  });
});
