// The build, incremental: each stage (the TypeScript compile, the Temporal workflow bundle, the web run view)
// runs only when the content of what it is built from changed since it last built, so `npm start` on a built
// tree starts at once. A stage's inputs are hashed (SHA-256 of every file's bytes, not timestamps) and the
// digest is kept in dist/.build-stamps.json, which goes when dist/ goes: a fresh clone builds everything.
// `--force` rebuilds every stage.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stampsPath = join(root, 'dist', '.build-stamps.json');

/** Every file under `dir` (relative to the root) whose name passes `keep`, sorted. */
function filesUnder(dir, keep) {
  const found = [];
  const walk = (path) => {
    let entries;
    try {
      entries = readdirSync(path, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (keep(entry.name)) found.push(full);
    }
  };
  walk(join(root, dir));
  return found.sort();
}

/** The digest of files' names and bytes. */
function digestOf(files) {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(relative(root, file));
    hash.update('\0');
    hash.update(existsSync(file) ? readFileSync(file) : 'missing');
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** The compiled modules a compiled module reaches through relative imports: what a bundle of it is made of. */
function importClosure(entry) {
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) visit(resolve(dirname(file), match[1]));
  };
  visit(entry);
  return [...seen].sort();
}

const shared = ['package.json', 'package-lock.json'].map((f) => join(root, f));
const typescriptSource = (name) => (name.endsWith('.ts') || name.endsWith('.tsx')) && !name.endsWith('.test.ts');

const stages = [
  {
    name: 'TypeScript',
    inputs: () => [
      ...shared,
      join(root, 'tsconfig.json'),
      join(root, 'tsconfig.build.json'),
      join(root, 'index.ts'),
      ...['engine', 'cache', 'cli', 'ui/server', 'steps', 'workflows', 'activities', 'workers'].flatMap((dir) => filesUnder(dir, typescriptSource)),
    ],
    outputs: ['dist/index.js', 'dist/cli/main.js', 'dist/workflows/index.js', 'dist/ui/server/index.js'],
    command: [process.execPath, join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
  },
  {
    name: 'workflow bundle',
    // Built from the compiled workflows: their own modules and everything they import, as compiled.
    inputs: () => [...shared, join(root, 'scripts', 'bundle-workflows.mjs'), ...importClosure(join(root, 'dist', 'workflows', 'index.js'))],
    outputs: ['dist/workflows/bundle.js'],
    command: [process.execPath, join(root, 'scripts', 'bundle-workflows.mjs')],
  },
  {
    name: 'run view',
    inputs: () => [...shared, ...filesUnder('ui/app', () => true)],
    outputs: ['dist/ui/index.html'],
    command: [process.execPath, join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'ui/app/vite.config.ts', '--logLevel', 'warn'],
  },
];

/** Builds the stages whose inputs changed (every stage with `force`); exits the process with the failing stage's code. */
export function build({ force = false } = {}) {
  let stamps = {};
  try {
    stamps = JSON.parse(readFileSync(stampsPath, 'utf8'));
  } catch {
    // no build yet
  }
  const built = [];
  for (const stage of stages) {
    const before = digestOf(stage.inputs());
    const outputThere = stage.outputs.every((output) => existsSync(join(root, output)));
    if (!force && stamps[stage.name] === before && outputThere) continue;
    // tsc's incremental state says what it emitted, not what is still there: forced, or with an output
    // gone, it starts from nothing, so deleted files come back.
    if (force || !outputThere) rmSync(join(root, 'dist', '.tsbuildinfo'), { force: true });
    const started = Date.now();
    const result = spawnSync(stage.command[0], stage.command.slice(1), { cwd: root, stdio: 'inherit' });
    if (result.status !== 0) {
      process.stderr.write(`build: ${stage.name} failed (exit ${result.status ?? result.signal}); fix the errors above and run it again\n`);
      process.exit(result.status ?? 1);
    }
    stamps[stage.name] = before;
    built.push(`${stage.name} ${((Date.now() - started) / 1000).toFixed(1)}s`);
    writeFileSync(`${stampsPath}.tmp`, `${JSON.stringify(stamps, null, 2)}\n`);
    renameSync(`${stampsPath}.tmp`, stampsPath);
  }
  if (built.length > 0) process.stderr.write(`build: rebuilt ${built.join(', ')}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) build({ force: process.argv.includes('--force') });
