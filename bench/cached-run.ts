// (a) Fully cached re-run of a 1,000-step DAG (10 chains × 100 file steps): `flywheel run` versus a
// fully cached `turbo run build` of an equivalent 1,000-package npm workspace. Both are timed as whole
// processes, because process start and module loading are what a user waits for on a no-op re-run.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  FLYWHEEL_BIN,
  REPO_ROOT,
  formatKiB,
  formatMs,
  formatRatio,
  formatSamples,
  freshDir,
  heading,
  line,
  median,
  runIfMain,
  runProcess,
  runProcessWithRss,
  timeProcess,
  type SummaryRow,
} from './lib.js';

const CHAINS = 10;
const CHAIN_LENGTH = 100;
const STEPS = CHAINS * CHAIN_LENGTH;
const SAMPLES = 5;
const TURBO_BIN = join(REPO_ROOT, 'node_modules', '.bin', 'turbo');

const stepId = (chain: number, index: number): string => `c${chain}-s${String(index).padStart(3, '0')}`;

/**
 * The pipeline source, unrolled to one `p.add` per step like a large hand-written pipeline, so loading
 * and compiling a big file is part of what is measured. It has no type annotations, so the same text
 * is valid as .ts and as .mjs (both go through the CLI's compiled-pipeline cache).
 */
export function chainDagSource(name: string, chains: number, chainLength: number): string {
  const lines = [
    `import { readFile, writeFile } from 'node:fs/promises';`,
    `import { z } from 'zod';`,
    `import { definePipeline, defineStep, file } from 'flywheel';`,
    ``,
    `const Position = z.object({ chain: z.number().int(), index: z.number().int() });`,
    ``,
    `const seed = defineStep({`,
    `  id: 'bench-seed',`,
    `  version: 1,`,
    `  config: Position,`,
    `  outputs: { out: file({ fileName: 'out.txt' }) },`,
    `  async run({ config, outputs }) {`,
    '    await writeFile(outputs.out, `chain ${config.chain} step ${config.index}\\n`);',
    `  },`,
    `});`,
    ``,
    `const link = defineStep({`,
    `  id: 'bench-link',`,
    `  version: 1,`,
    `  config: Position,`,
    `  inputs: { prev: file() },`,
    `  outputs: { out: file({ fileName: 'out.txt' }) },`,
    `  async run({ config, inputs, outputs }) {`,
    `    const previous = await readFile(inputs.prev, 'utf8');`,
    '    await writeFile(outputs.out, `chain ${config.chain} step ${config.index} after ${previous.length} bytes\\n`);',
    `  },`,
    `});`,
    ``,
    `export default definePipeline({`,
    `  name: '${name}',`,
    `  build(p) {`,
  ];
  for (let c = 0; c < chains; c++) {
    const variable = (i: number): string => stepId(c, i).replace('-', '_');
    lines.push(`    const ${variable(0)} = p.add(seed, { id: '${stepId(c, 0)}', config: { chain: ${c}, index: 0 } });`);
    for (let i = 1; i < chainLength; i++) {
      const declare = i < chainLength - 1 ? `const ${variable(i)} = ` : '';
      lines.push(`    ${declare}p.add(link, { id: '${stepId(c, i)}', config: { chain: ${c}, index: ${i} }, inputs: { prev: ${variable(i - 1)}.out.out } });`);
    }
  }
  lines.push(`  },`, `});`, ``);
  return lines.join('\n');
}

/** Counts step statuses in `flywheel run --json` output. */
function statusCounts(jsonText: string): Record<string, number> {
  const summary = JSON.parse(jsonText) as { steps: Array<{ status: string }> };
  const counts: Record<string, number> = {};
  for (const step of summary.steps) counts[step.status] = (counts[step.status] ?? 0) + 1;
  return counts;
}

function describeCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
}

/**
 * Phase timings inside one fresh `node` process doing what `flywheel run` does. Plain JS run by `node -e`
 * rather than a bench module, so nothing else (such as tsx) is loaded into the measured process.
 */
function phaseProbe(pipelineFile: string, store: string): string {
  const dist = (path: string): string => JSON.stringify(pathToFileURL(join(REPO_ROOT, 'dist', path)).href);
  return `
    const marks = { bootstrap: performance.now() };
    let last = marks.bootstrap;
    const mark = (name) => { const now = performance.now(); marks[name] = now - last; last = now; };
    const { loadPipeline } = await import(${dist('engine/load/load-pipeline.js')});
    const { validatePipeline, runLocal, openStore, createLogger } = await import(${dist('index.js')});
    mark('importEngine');
    const { definition } = await loadPipeline(${JSON.stringify(pipelineFile)});
    mark('loadPipeline');
    const resolved = validatePipeline(definition);
    mark('validate');
    const run = await runLocal(resolved, { store: openStore(${JSON.stringify(store)}), logger: createLogger({ level: 'warn' }) });
    mark('runLocal');
    const cached = run.steps.filter((s) => s.status === 'cached').length;
    process.stdout.write(JSON.stringify({ ...marks, cached }));
  `;
}

interface Probe {
  bootstrap: number;
  importEngine: number;
  loadPipeline: number;
  validate: number;
  runLocal: number;
  cached: number;
}

async function flywheelSide(): Promise<{
  ts: number;
  mjs: number;
  bareNode: number;
  version: number;
  peakRssKiB: number | undefined;
  trust: { plain: number; verified: number };
}> {
  const dir = await freshDir('dag');
  const store = join(dir, 'store');
  const env = { ...process.env, FLYWHEEL_STORE: store };
  const files = { ts: join(dir, `dag-${STEPS}.ts`), mjs: join(dir, `dag-${STEPS}.mjs`) };
  const source = chainDagSource(`bench-dag-${STEPS}`, CHAINS, CHAIN_LENGTH);
  await writeFile(files.ts, source);
  await writeFile(files.mjs, source);
  line('pipeline source', `${(source.length / 1024).toFixed(0)} KiB, ${STEPS} steps (${CHAINS} chains × ${CHAIN_LENGTH})`);

  const fill = await runProcess('node', [FLYWHEEL_BIN, 'run', files.ts, '--json'], { cwd: dir, env });
  line('fill run (executes every step, .ts)', `${formatMs(fill.wallMs)}  (${describeCounts(statusCounts(fill.stdout))})`);

  const medians: Record<string, number> = {};
  for (const [variant, path] of Object.entries(files)) {
    const verify = await runProcess('node', [FLYWHEEL_BIN, 'run', path, '--json'], { cwd: dir, env });
    const counts = statusCounts(verify.stdout);
    const allCached = counts.cached === STEPS;
    line(`verify .${variant} with --json`, `${allCached ? 'OK' : 'NOT ALL CACHED'}: ${describeCounts(counts)}  (${formatMs(verify.wallMs)})`);
    const timed = await timeProcess(SAMPLES, 'node', [FLYWHEEL_BIN, 'run', path], { cwd: dir, env });
    medians[variant] = median(timed.ms);
    line(`cached \`flywheel run\` .${variant}, median of ${SAMPLES}`, `${formatMs(median(timed.ms))}  ${formatSamples(timed.ms)}`);
  }
  // Peak memory: the largest of a few cached runs, each a fresh process under GNU time.
  let peakRssKiB: number | undefined;
  for (let i = 0; i < 3; i++) {
    const measured = (await runProcessWithRss('node', [FLYWHEEL_BIN, 'run', files.ts], { cwd: dir, env })).peakRssKiB;
    if (measured !== undefined) peakRssKiB = Math.max(peakRssKiB ?? 0, measured);
  }
  line('peak RSS of a cached `flywheel run` .ts, largest of 3', `${formatKiB(peakRssKiB)} (target ≤ 100 MiB)`);

  heading('(a) where a cached Flywheel run spends its time');
  // Process-level costs, each the median of SAMPLES fresh processes (bare specifiers resolve from the repo).
  const nodeMs = async (args: string[], options: Parameters<typeof timeProcess>[3] = {}): Promise<number> =>
    median((await timeProcess(SAMPLES, 'node', args, options)).ms);
  const importing = (specifier: string, then = ''): Promise<number> =>
    nodeMs(['--input-type=module', '-e', `const m = await import(${JSON.stringify(specifier)}); ${then}`]);
  // Start-up against a bare process, sampled in turns so a noisy moment hits both sides alike.
  const bare: number[] = [];
  const version: number[] = [];
  for (let i = 0; i < 2 * SAMPLES - 1; i++) {
    bare.push(...(await timeProcess(1, 'node', ['-e', '0'])).ms);
    version.push(...(await timeProcess(1, 'node', [FLYWHEEL_BIN, '--version'])).ms);
  }
  line('node -e 0 (bare process)', `${formatMs(median(bare))}  ${formatSamples(bare)}`);
  line('flywheel --version (loads cli/main.js only)', `${formatMs(median(version))}  ${formatSamples(version)}`);
  line('node importing zod', formatMs(await importing('zod')));
  line('node importing pino', formatMs(await importing('pino')));
  line('node importing dist/index.js (pino, zod, engine)', formatMs(await importing(pathToFileURL(join(REPO_ROOT, 'dist', 'index.js')).href)));
  line('flywheel plan dag.ts (load, validate, look-ups)', formatMs(await nodeMs([FLYWHEEL_BIN, 'plan', files.ts], { cwd: dir, env })));
  for (const [variant, path] of Object.entries(files)) {
    const probed = await runProcess('node', ['--input-type=module', '-e', phaseProbe(path, store)], { cwd: dir });
    const probe = JSON.parse(probed.stdout) as Probe;
    const inside = probe.bootstrap + probe.importEngine + probe.loadPipeline + probe.validate + probe.runLocal;
    console.log(`  one process doing what \`flywheel run dag.${variant}\` does (${probe.cached}/${STEPS} cached), wall ${formatMs(probed.wallMs)}:`);
    line('    node bootstrap until first line', formatMs(probe.bootstrap));
    line('    import engine (dist/index.js + CLI loader)', formatMs(probe.importEngine));
    line('    loadPipeline (cached compiled bundle: check sources, import, build DAG)', formatMs(probe.loadPipeline));
    line('    validatePipeline', formatMs(probe.validate));
    line('    runLocal, all cached', `${formatMs(probe.runLocal)}  (${((probe.runLocal * 1000) / STEPS).toFixed(0)} µs/step)`);
    line('    spawn + exit (wall minus the above)', formatMs(probed.wallMs - inside));
  }
  console.log('  (a cache look-up, part by part, is broken down in (c))');

  const trust = await trustSide(dir, files.ts);
  return { ts: medians.ts as number, mjs: medians.mjs as number, bareNode: median(bare), version: median(version), peakRssKiB, trust };
}

/**
 * The same cached run with every entry signed and every signature verified (FLYWHEEL_SIGNING_KEY and
 * FLYWHEEL_TRUSTED_KEYS), against the run without trust configured, sampled in turns on two stores
 * filled alike.
 */
async function trustSide(dir: string, pipelineFile: string): Promise<{ plain: number; verified: number }> {
  heading(`(a) the same cached run with signed entries, each signature verified`);
  const keys = join(dir, 'keys');
  await runProcess('node', [FLYWHEEL_BIN, 'keys', 'generate', '--out', keys, '--name', 'bench'], { cwd: dir });
  // Two stores filled alike (one run, one check), so their run histories are alike too.
  const plainEnv = { ...process.env, FLYWHEEL_STORE: join(dir, 'store-plain') };
  await runProcess('node', [FLYWHEEL_BIN, 'run', pipelineFile, '--json'], { cwd: dir, env: plainEnv });
  await runProcess('node', [FLYWHEEL_BIN, 'run', pipelineFile, '--json'], { cwd: dir, env: plainEnv });
  const signedEnv = {
    ...process.env,
    FLYWHEEL_STORE: join(dir, 'store-signed'),
    FLYWHEEL_SIGNING_KEY: join(keys, 'bench.key'),
    FLYWHEEL_TRUSTED_KEYS: join(keys, 'bench.pub'),
    FLYWHEEL_VERIFIED_SIGNATURES: join(dir, 'verified-signatures'),
  };
  const fill = await runProcess('node', [FLYWHEEL_BIN, 'run', pipelineFile, '--json'], { cwd: dir, env: signedEnv });
  line('fill run, signing every entry', `${formatMs(fill.wallMs)}  (${describeCounts(statusCounts(fill.stdout))})`);
  const check = await runProcess('node', [FLYWHEEL_BIN, 'run', pipelineFile, '--json'], { cwd: dir, env: signedEnv });
  line('verify: cached with signatures checked', describeCounts(statusCounts(check.stdout)));
  const plain: number[] = [];
  const verified: number[] = [];
  for (let i = 0; i < 2 * SAMPLES - 1; i++) {
    plain.push(...(await timeProcess(1, 'node', [FLYWHEEL_BIN, 'run', pipelineFile], { cwd: dir, env: plainEnv })).ms);
    verified.push(...(await timeProcess(1, 'node', [FLYWHEEL_BIN, 'run', pipelineFile], { cwd: dir, env: signedEnv })).ms);
  }
  line('cached run, no trust configured', `${formatMs(median(plain))}  ${formatSamples(plain)}`);
  line('cached run, 1,000 signatures checked (this machine verified them before)', `${formatMs(median(verified))}  ${formatSamples(verified)}`);
  // A machine that never verified them (a fresh memo each time): every signature through Ed25519.
  const cold: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const env = { ...signedEnv, FLYWHEEL_VERIFIED_SIGNATURES: join(dir, `verified-cold-${i}`) };
    cold.push(...(await timeProcess(1, 'node', [FLYWHEEL_BIN, 'run', pipelineFile], { cwd: dir, env })).ms);
  }
  line(
    'cached run, 1,000 signatures verified afresh (a new machine)',
    `${formatMs(median(cold))}  ${formatSamples(cold)}  (${formatRatio(median(cold) / median(plain))})`,
  );
  return { plain: median(plain), verified: median(verified) };
}

/** An npm workspace with the same shape: package i of a chain depends on package i-1 and writes one small file. */
async function generateTurboWorkspace(dir: string): Promise<void> {
  const lockPackages: Record<string, unknown> = { '': { name: 'bench-turbo', workspaces: ['packages/*'] } };
  for (let c = 0; c < CHAINS; c++) {
    for (let i = 0; i < CHAIN_LENGTH; i++) {
      const name = stepId(c, i);
      const dependencies = i === 0 ? {} : { [stepId(c, i - 1)]: '1.0.0' };
      // Like the Flywheel step: read the previous package's output, write a small file of our own.
      const build =
        i === 0 ? `echo 'chain ${c} step ${i}' > out.txt` : `echo "chain ${c} step ${i} after $(wc -c < ../${stepId(c, i - 1)}/out.txt) bytes" > out.txt`;
      const manifest = { name, version: '1.0.0', private: true, dependencies, scripts: { build: 'sh build.sh' } };
      await mkdir(join(dir, 'packages', name), { recursive: true });
      await writeFile(join(dir, 'packages', name, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      await writeFile(join(dir, 'packages', name, 'build.sh'), `${build}\n`);
      lockPackages[`packages/${name}`] = { name, version: '1.0.0', dependencies };
      lockPackages[`node_modules/${name}`] = { resolved: `packages/${name}`, link: true };
    }
  }
  const npmVersion = (await runProcess('npm', ['--version'])).stdout.trim();
  const root = { name: 'bench-turbo', private: true, workspaces: ['packages/*'], packageManager: `npm@${npmVersion}` };
  await writeFile(join(dir, 'package.json'), `${JSON.stringify(root, null, 2)}\n`);
  // What `npm install` would write for a workspace with no external dependencies; generated so nothing touches the network.
  const lock = { name: 'bench-turbo', lockfileVersion: 3, requires: true, packages: lockPackages };
  await writeFile(join(dir, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  const turboJson = { $schema: 'https://turborepo.com/schema.json', tasks: { build: { dependsOn: ['^build'], outputs: ['out.txt'] } } };
  await writeFile(join(dir, 'turbo.json'), `${JSON.stringify(turboJson, null, 2)}\n`);
  await writeFile(join(dir, '.gitignore'), 'node_modules/\n.turbo/\nout.txt\n');
  // Turbo hashes inputs from the git index; a committed tree is the normal case for a cached CI re-run.
  await runProcess('git', ['init', '-q'], { cwd: dir });
  await runProcess('git', ['add', '-A'], { cwd: dir });
  await runProcess('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', 'commit', '-q', '--no-gpg-sign', '-m', 'bench workspace'], {
    cwd: dir,
  });
}

/**
 * Filling turbo's cache runs `npm run build` 1,000 times, and npm's own start-up made that take ~10 minutes
 * here. For the fill only, an `npm` earlier in PATH runs the package's build.sh directly; task hashes do
 * not depend on it, and the timed runs use the real PATH (a fully cached run spawns no npm at all).
 */
async function writeNpmShim(): Promise<string> {
  const dir = await freshDir('npm-shim');
  const shim = [
    '#!/bin/sh',
    '# bench fill shim: `npm run <script>` runs ./<script>.sh without starting npm',
    '[ "$1" = run ] && [ -f "$2.sh" ] && exec sh "$2.sh"',
    'echo "bench npm shim: unexpected npm $*" >&2',
    'exit 1',
    '',
  ];
  await writeFile(join(dir, 'npm'), shim.join('\n'), { mode: 0o755 });
  return dir;
}

/** The platform binary that node_modules/.bin/turbo (a Node launcher) spawns, when installed. */
function nativeTurbo(): string | undefined {
  const path = join(REPO_ROOT, 'node_modules', '@turbo', `${process.platform}-${process.arch === 'x64' ? '64' : process.arch}`, 'bin', 'turbo');
  return existsSync(path) ? path : undefined;
}

function checkFullTurbo(stdout: string): string | undefined {
  const summary = /Cached:\s+(\d+) cached, (\d+) total/.exec(stdout);
  if (summary?.[1] === String(STEPS) && summary[2] === String(STEPS) && stdout.includes('FULL TURBO')) return undefined;
  return summary?.[0].replace(/\s+/g, ' ') ?? 'no summary line';
}

async function turboSide(): Promise<{ launcher: number; native: number | undefined }> {
  const dir = await freshDir('turbo');
  await generateTurboWorkspace(dir);
  // turbo 2.11 no longer uses a daemon for `turbo run` (its --no-daemon flag is deprecated and only warns).
  const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', TURBO_NO_UPDATE_NOTIFIER: '1' };
  const args = ['run', 'build', '--no-update-notifier'];
  const version = (await runProcess(TURBO_BIN, ['--version'], { cwd: dir, env })).stdout.trim();
  const shim = await writeNpmShim();
  const fill = await runProcess(TURBO_BIN, args, { cwd: dir, env: { ...env, PATH: `${shim}:${process.env.PATH ?? ''}` } });
  line(
    `fill run (turbo ${version}, npm shim, every task)`,
    `${formatMs(fill.wallMs)}  (${/Cached:.*total/.exec(fill.stdout)?.[0].replace(/\s+/g, ' ') ?? '?'})`,
  );

  const launcher = await timeProcess(SAMPLES, TURBO_BIN, args, { cwd: dir, env });
  const problem = checkFullTurbo(launcher.last.stdout);
  line('verify last run', problem === undefined ? `OK: ${STEPS}/${STEPS} cached, FULL TURBO` : `NOT FULLY CACHED: ${problem}`);
  const warnings = launcher.last.stderr.split('\n').filter((l) => l.includes('WARNING'));
  if (warnings.length > 0) line('turbo warnings', warnings.map((w) => w.trim()).join(' | '));
  line(`cached \`node_modules/.bin/turbo run build\`, median`, `${formatMs(median(launcher.ms))}  ${formatSamples(launcher.ms)}`);

  const binary = nativeTurbo();
  if (binary === undefined) return { launcher: median(launcher.ms), native: undefined };
  // The Node launcher costs a Node start-up; the platform binary alone is the strictest baseline.
  const native = await timeProcess(SAMPLES, binary, args, { cwd: dir, env });
  const nativeProblem = checkFullTurbo(native.last.stdout);
  line(
    'cached run, platform binary directly, median',
    `${formatMs(median(native.ms))}  ${formatSamples(native.ms)}${nativeProblem === undefined ? '' : `  NOT FULLY CACHED: ${nativeProblem}`}`,
  );
  return { launcher: median(launcher.ms), native: median(native.ms) };
}

export async function benchCachedRun(): Promise<SummaryRow[]> {
  const rows: SummaryRow[] = [];
  heading(`(a) fully cached re-run of a ${STEPS}-step DAG: Flywheel`);
  const flywheel = await flywheelSide();
  heading(`(a) fully cached re-run of a ${STEPS}-package workspace: Turborepo (baseline)`);
  const turbo = await turboSide();
  heading('(a) result (target ≤ 1.00×)');
  const compare = (name: string, ours: number, theirs: number, baselineName: string): void => {
    const ratio = ours / theirs;
    line(`${name} / ${baselineName}`, `${formatMs(ours)} / ${formatMs(theirs)} = ${formatRatio(ratio)}`);
    rows.push({
      bench: '(a) 1k-step cached run',
      metric: `${name} / ${baselineName}`,
      value: formatMs(ours),
      baseline: formatMs(theirs),
      ratio,
      target: '≤ 1.00×',
    });
  };
  compare('flywheel .ts', flywheel.ts, turbo.launcher, '.bin/turbo');
  compare('flywheel .mjs', flywheel.mjs, turbo.launcher, '.bin/turbo');
  if (turbo.native !== undefined) compare('flywheel .ts', flywheel.ts, turbo.native, 'turbo binary');
  const startup = flywheel.version / flywheel.bareNode;
  line('flywheel --version / node -e 0', `${formatMs(flywheel.version)} / ${formatMs(flywheel.bareNode)} = ${formatRatio(startup)}`);
  rows.push({
    bench: '(a) CLI start-up',
    metric: 'flywheel --version / node -e 0',
    value: formatMs(flywheel.version),
    baseline: formatMs(flywheel.bareNode),
    ratio: startup,
    target: '≤ 1.50×',
  });
  rows.push({ bench: '(a) 1k-step cached run', metric: 'peak RSS of `flywheel run`', value: formatKiB(flywheel.peakRssKiB), target: '≤ 100 MiB' });
  const signed = flywheel.trust.verified / flywheel.trust.plain;
  line('signatures verified / no trust configured', `${formatMs(flywheel.trust.verified)} / ${formatMs(flywheel.trust.plain)} = ${formatRatio(signed)}`);
  rows.push({
    bench: '(a) 1k-step cached run',
    metric: 'signatures verified / no trust',
    value: formatMs(flywheel.trust.verified),
    baseline: formatMs(flywheel.trust.plain),
    ratio: signed,
    target: '≤ 1.20×',
  });
  return rows;
}

runIfMain(import.meta.url, benchCachedRun);
