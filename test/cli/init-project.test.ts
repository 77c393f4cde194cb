import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

// A pipeline author's project outside this repository, made and used exactly as README's "Your own
// pipeline project" and "Testing a pipeline" say: flywheel init, npm install, npm run typecheck,
// npx flywheel run hello, npm test. One deviation keeps the test off the network: the packages the
// project would download (zod, typescript, vitest, @types/node) become `file:` links to the copies in
// this repository's node_modules (the same versions its package.json asks for), and npm runs
// --offline. --ignore-scripts: nothing linked has an install step to run, and without it npm spends
// ~20 s walking the linked checkout's dependency tree for scripts.

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command in the project, with npm never allowed to reach a registry. */
function sh(cwd: string, command: string, args: string[]): Promise<Result> {
  const env: NodeJS.ProcessEnv = {};
  // Variables of the outer `npm test` (npm's prefix, lifecycle) and of this vitest stay out of the project's tools.
  for (const [name, value] of Object.entries(process.env)) if (!/^(npm_|vitest)/i.test(name)) env[name] = value;
  Object.assign(env, {
    npm_config_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    FLYWHEEL_COMPILE_CACHE: join(cwd, '.compile-cache'),
    FLYWHEEL_LOG_LEVEL: 'warn',
    FORCE_COLOR: '0',
    NO_COLOR: '1',
  });
  delete env.FLYWHEEL_STORE;
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

const expectOk = (result: Result, what: string): void => {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
};

describe('flywheel init: a pipeline project outside this repository', () => {
  it('scaffolds a project that installs, type-checks, runs and tests as README says', { timeout: 180_000 }, async () => {
    const parent = await tempDir('flywheel-init');
    const ours = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };

    const init = await runCli(['init', 'my-pipelines'], { cwd: parent });
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    for (const file of ['package.json', 'tsconfig.json', '.gitignore', 'pipelines/hello.ts', 'test/hello.test.ts'])
      expect(init.stdout).toContain(join('my-pipelines', file));
    for (const next of ['cd my-pipelines', 'npm install', 'npx flywheel run hello', 'npm test']) expect(init.stdout).toContain(next);

    const project = join(parent, 'my-pipelines');
    const manifest = JSON.parse(await readFile(join(project, 'package.json'), 'utf8')) as {
      type: string;
      scripts: Record<string, string>;
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(manifest.type).toBe('module');
    expect(manifest.scripts).toEqual({ flywheel: 'flywheel', typecheck: 'tsc --noEmit', test: 'vitest run' });
    expect(manifest.dependencies).toEqual({ flywheel: `file:${REPO.replace(/\/$/, '')}`, zod: ours.dependencies.zod });
    expect(manifest.dependencies.zod).toMatch(/^\^4\./);
    // The same versions as Flywheel's own (TypeScript is one of its dependencies: it reads pipelines' statements).
    for (const name of ['typescript', 'vitest', '@types/node'])
      expect(manifest.devDependencies[name]).toBe(ours.devDependencies[name] ?? ours.dependencies[name]);
    const hello = await readFile(join(project, 'pipelines', 'hello.ts'), 'utf8');
    expect([...hello.matchAll(/from '([^']+)'/g)].map((m) => m[1])).toEqual(['node:fs/promises', 'zod', 'flywheel']);

    // A second init never touches an existing project.
    const again = await runCli(['init', 'my-pipelines'], { cwd: parent });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already contains package.json and pipelines');
    expect(await readFile(join(project, 'pipelines', 'hello.ts'), 'utf8')).toBe(hello);

    // The one deviation from README (see the top of this file): packages from this repository's node_modules.
    for (const name of ['zod']) manifest.dependencies[name] = `file:${join(REPO, 'node_modules', name)}`;
    for (const name of Object.keys(manifest.devDependencies)) manifest.devDependencies[name] = `file:${join(REPO, 'node_modules', name)}`;
    await writeFile(join(project, 'package.json'), JSON.stringify(manifest, null, 2));

    expectOk(await sh(project, 'npm', ['install', '--ignore-scripts']), 'npm install');
    expectOk(await sh(project, 'npm', ['run', 'typecheck']), 'npm run typecheck');

    const run = await sh(project, 'npx', ['flywheel', 'run', 'hello']);
    expectOk(run, 'npx flywheel run hello');
    expect(run.stdout).toContain('succeeded: 2 steps — 2 executed');
    const output = await sh(project, 'npx', ['flywheel', 'output', 'shout.loud']);
    expectOk(output, 'npx flywheel output shout.loud');
    expect(output.stdout).toBe('HELLO, WORLD!\n');
    const cached = await sh(project, 'npx', ['flywheel', 'run', 'hello']);
    expect(cached.stdout).toContain('0 executed, 2 cached');

    const tests = await sh(project, 'npm', ['test']);
    expectOk(tests, 'npm test');
    expect(`${tests.stdout}${tests.stderr}`).toMatch(/Tests\s+1 passed/);

    // A type error fails the typecheck; a pipeline that does not load says how to check it in this project.
    await writeFile(
      join(project, 'pipelines', 'typo.ts'),
      "import { definePipeline } from 'flywheel';\nexport default definePipeline({ name: 'typo', build(p) { p.add( } });\n",
    );
    const typecheck = await sh(project, 'npm', ['run', 'typecheck']);
    expect(typecheck.code).not.toBe(0);
    const broken = await sh(project, 'npx', ['flywheel', 'run', 'typo']);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('npx tsc --noEmit');
  });
});
