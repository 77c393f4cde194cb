import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../cache/errors.js';

export interface InitArgs {
  /** Where to create the project (created if missing); default the working directory. */
  dir: string;
}

interface FlywheelPackage {
  root: string;
  version: string;
  engines?: { node?: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

/** This checkout of Flywheel: the nearest package.json named `flywheel` above this file (dist/ or source). */
function flywheelPackage(): FlywheelPackage {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as Omit<FlywheelPackage, 'root'> & { name?: string };
      if (pkg.name === 'flywheel') return { ...pkg, root: dir };
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('internal: flywheel init cannot find the package.json of flywheel above its own code');
    dir = parent;
  }
}

/** A valid npm package name from the folder's name. */
function packageName(dir: string): string {
  const name = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, '-')
    .replace(/^[._-]+/, '')
    .slice(0, 214);
  return name === '' ? 'flywheel-pipelines' : name;
}

function version(of: Record<string, string>, name: string): string {
  const range = of[name];
  if (range === undefined) throw new Error(`internal: flywheel's package.json does not name ${name}`);
  return range;
}

/** The files of a new pipeline project, by path relative to its root. */
function projectFiles(dir: string, flywheel: FlywheelPackage): Array<[string, string]> {
  const packageJson = {
    name: packageName(dir),
    version: '0.1.0',
    private: true,
    // Pipelines are ES modules: `import ... from 'flywheel'` and relative imports ending in .js.
    type: 'module',
    ...(flywheel.engines?.node === undefined ? {} : { engines: { node: flywheel.engines.node } }),
    scripts: { flywheel: 'flywheel', typecheck: 'tsc --noEmit', test: 'vitest run' },
    dependencies: {
      // Not published yet: the project uses this checkout (its dist/, built by its npm install).
      flywheel: `file:${flywheel.root}`,
      zod: version(flywheel.dependencies, 'zod'),
    },
    devDependencies: {
      '@types/node': version(flywheel.devDependencies, '@types/node'),
      typescript: version(flywheel.dependencies, 'typescript'),
      vitest: version(flywheel.devDependencies, 'vitest'),
    },
  };
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2023'],
      // NodeNext reads the `exports` of flywheel's package.json, whose `types` is dist/index.d.ts.
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noUncheckedIndexedAccess: true,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
    },
    include: ['pipelines', 'steps', 'test'],
  };
  return [
    ['package.json', `${JSON.stringify(packageJson, null, 2)}\n`],
    ['tsconfig.json', `${JSON.stringify(tsconfig, null, 2)}\n`],
    ['.gitignore', 'node_modules/\n.flywheel/\n'],
    ['pipelines/hello.ts', HELLO_PIPELINE],
    ['test/hello.test.ts', HELLO_TEST],
  ];
}

const HELLO_PIPELINE = `import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { definePipeline, defineStep, file, json } from 'flywheel';

const Greeting = z.object({ message: z.string() });

/** A JSON output computed from config: change \`name\` and this step and the next re-run. */
export const greet = defineStep({
  id: 'greet',
  version: 1, // bump when the code changes its results
  config: z.object({ name: z.string().default('world') }),
  outputs: { greeting: json(Greeting) },
  async run({ config, log }) {
    log.info({ name: config.name }, 'greeting');
    return { greeting: { message: \`Hello, \${config.name}!\` } }; // JSON outputs are returned
  },
});

/** A file output written from a JSON input. */
export const shout = defineStep({
  id: 'shout',
  version: 1,
  inputs: { greeting: json(Greeting) },
  outputs: { loud: file({ fileName: 'loud.txt' }) },
  async run({ inputs, outputs }) {
    await writeFile(outputs.loud, \`\${inputs.greeting.message.toUpperCase()}\\n\`); // file outputs are written to their path
  },
});

export default definePipeline({
  name: 'hello',
  description: 'greet → shout',
  build(p) {
    const greeting = p.add(greet, { config: { name: 'world' } });
    p.add(shout, { inputs: { greeting: greeting.out.greeting } });
  },
});
`;

const HELLO_TEST = `import { expect, test } from 'vitest';
import { runPipelineForTest } from 'flywheel';
import hello from '../pipelines/hello.js';

test('hello greets, then shouts', async () => {
  const run = await runPipelineForTest(hello, { config: { greet: { name: 'Ada' } } }); // a fresh temporary store
  try {
    expect(run.status).toBe('succeeded');
    expect(run.statuses).toEqual({ greet: 'executed', shout: 'executed' });
    expect(await run.output('greet.greeting')).toEqual({ message: 'Hello, Ada!' });
    expect(await run.text('shout.loud')).toBe('HELLO, ADA!\\n');

    // The same store again: everything comes from the cache.
    const again = await runPipelineForTest(hello, { config: { greet: { name: 'Ada' } }, storeDir: run.storeDir });
    expect(again.statuses).toEqual({ greet: 'cached', shout: 'cached' });
  } finally {
    await run.cleanup();
  }
});
`;

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  return [items.filter(test), items.filter((item) => !test(item))];
}

/**
 * `flywheel init [dir]`: scaffolds a pipeline project (package.json, tsconfig.json, an example pipeline
 * and its test). Refuses a folder that already holds a project, and never overwrites a file.
 */
export async function initCommand(args: InitArgs): Promise<number> {
  const dir = resolve(args.dir);
  const near = relative(process.cwd(), dir);
  const shown = near === '' ? '.' : near.startsWith('..') ? dir : near;
  const taken = ['package.json', 'pipelines'].filter((name) => existsSync(join(dir, name)));
  if (taken.length > 0)
    throw new UsageError(
      `${shown} already contains ${taken.join(' and ')}: flywheel init creates a new project and never overwrites one`,
      'run flywheel init <new folder>, or add pipelines to this project by hand (see "Your own pipeline project" in README.md)',
    );
  // An existing .gitignore (a fresh clone often has one) is kept; any other file would be overwritten.
  const [kept, files] = partition(projectFiles(dir, flywheelPackage()), ([path]) => path === '.gitignore' && existsSync(join(dir, path)));
  const existing = files.map(([path]) => path).filter((path) => existsSync(join(dir, path)));
  if (existing.length > 0)
    throw new UsageError(
      `${shown} already contains ${existing.join(', ')}, which flywheel init would create`,
      'move those files away, or choose another folder',
    );
  for (const [path, content] of files) {
    const target = join(dir, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content, { flag: 'wx' }); // never overwrite, even a file created meanwhile
  }
  const out = process.stdout;
  out.write(`created a Flywheel pipeline project in ${shown}:\n`);
  for (const [path] of files) out.write(`  ${join(shown, path)}\n`);
  for (const [path] of kept) out.write(`  (kept the existing ${join(shown, path)}: add node_modules/ and .flywheel/ to it)\n`);
  out.write('\nnext:\n');
  if (shown !== '.') out.write(`  cd ${/[^\w./-]/.test(shown) ? JSON.stringify(shown) : shown}\n`);
  out.write('  npm install              # zod 4, TypeScript, vitest, and flywheel from this checkout\n');
  out.write('  npm run typecheck        # tsc --noEmit\n');
  out.write('  npx flywheel run hello   # runs pipelines/hello.ts (results in .flywheel/)\n');
  out.write('  npm test                 # vitest: test/hello.test.ts\n');
  return 0;
}
