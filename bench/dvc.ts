// (h) Flywheel against DVC, the usual tool for cached ML pipelines, on two shapes. A 1,000-stage chain of
// small files: a fully cached re-run (`flywheel run` vs `dvc repro`) and a status check (`flywheel plan` vs
// `dvc status`) are pure overhead, loading the pipeline and checking every stage. Three stages under
// 8 × 256 MiB of incompressible data: a no-op re-run must establish that the large files are unchanged.
// Both tools are timed as whole processes, as a user runs them, sampled in turns so a noisy moment hits
// both alike. DVC lives in a virtualenv of its own outside the repository (scripts/install-dvc-bench-env.sh).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chainDagSource } from './cached-run.js';
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
  type MeasuredProcessResult,
  type SummaryRow,
} from './lib.js';

/** A positive integer from the environment: the scale overrides for development. */
function envCount(name: string, fallback: number, least = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < least) throw new Error(`${name}=${raw}: expected an integer ≥ ${least}`);
  return value;
}

const STAGES = envCount('FLYWHEEL_BENCH_DVC_STAGES', 1000, 2);
const FILE_MIB = envCount('FLYWHEEL_BENCH_DVC_FILE_MIB', 256);
const FILES = envCount('FLYWHEEL_BENCH_DVC_FILES', 8);
const SAMPLES = 5;
/**
 * How DVC's cache for the chain is filled. `commit` (default): every stage's command run in order by one
 * shell, then `dvc commit -f`, which writes dvc.lock and the cache exactly as `dvc repro` would (equal
 * files checked at 30 stages), in a fraction of the ~15 minutes a first `dvc repro` of 1,000 stages takes
 * here. `repro`: the real first `dvc repro`, timed. Either way the cached state is verified before timing.
 */
const FILL = process.env.FLYWHEEL_BENCH_DVC_FILL === 'repro' ? 'repro' : 'commit';

const INSTALL_SCRIPT = join(REPO_ROOT, 'scripts', 'install-dvc-bench-env.sh');
const GIT_IDENTITY = ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost'];

interface Dvc {
  bin: string;
  version: string;
  env: NodeJS.ProcessEnv;
}

/** Installs DVC into its virtualenv when missing or of another version, and says which one runs. */
async function setUpDvc(): Promise<Dvc> {
  const installed = await runProcess('bash', [INSTALL_SCRIPT]);
  for (const message of installed.stderr.trim().split('\n')) if (message !== '') line('install', message);
  const bin = installed.stdout.trim().split('\n').pop() ?? '';
  // No analytics (and so no network): the variable for every call, the config in every project too.
  const env = { ...process.env, DVC_NO_ANALYTICS: '1' };
  const version = (await runProcess(bin, ['--version'], { env })).stdout.trim();
  return { bin, version, env };
}

/** A git repository with DVC initialised, as a DVC user's project is. */
async function initDvcProject(dir: string, dvc: Dvc): Promise<void> {
  await runProcess('git', ['init', '-q'], { cwd: dir });
  await runProcess(dvc.bin, ['init', '-q'], { cwd: dir, env: dvc.env });
  await runProcess(dvc.bin, ['config', 'core.analytics', 'false'], { cwd: dir, env: dvc.env });
  // DVC keeps its state and index databases in a per-machine directory named after the project's path;
  // inside this project they start empty every time, like a fresh checkout's, and go when it goes.
  await runProcess(dvc.bin, ['config', '--local', 'core.site_cache_dir', join(dir, '.dvc', 'tmp', 'site-cache')], { cwd: dir, env: dvc.env });
}

async function gitCommitAll(dir: string, message: string): Promise<void> {
  await runProcess('git', ['add', '-A'], { cwd: dir });
  await runProcess('git', [...GIT_IDENTITY, 'commit', '-q', '--no-gpg-sign', '-m', message], { cwd: dir });
}

/** A Flywheel project: its own store and compiled-pipeline cache, so the first run starts from nothing. */
function flywheelEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, FLYWHEEL_STORE: join(dir, 'store'), FLYWHEEL_COMPILE_CACHE: join(dir, 'compile-cache') };
}

const stageName = (i: number): string => `s${String(i).padStart(4, '0')}`;

/** The same chain as DVC stages: stage i reads stage i−1's file and writes its own, through the shell. */
function chainStages(): Array<{ name: string; cmd: string; dep?: string; out: string }> {
  return Array.from({ length: STAGES }, (_, i) => {
    const out = `data/${stageName(i)}.txt`;
    if (i === 0) return { name: stageName(i), cmd: `echo "step 0" > ${out}`, out };
    const dep = `data/${stageName(i - 1)}.txt`;
    return { name: stageName(i), cmd: `echo "step ${i} after $(wc -c < ${dep}) bytes" > ${out}`, dep, out };
  });
}

function chainDvcYaml(): string {
  const lines = ['stages:'];
  for (const stage of chainStages()) {
    // Single-quoted YAML: the commands hold double quotes and no single ones.
    lines.push(`  ${stage.name}:`, `    cmd: '${stage.cmd}'`);
    if (stage.dep !== undefined) lines.push('    deps:', `    - ${stage.dep}`);
    lines.push('    outs:', `    - ${stage.out}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The code both tools run for the large-file stages, so the two do the same work. */
const WORK_MODULE = `import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

// One random pattern per file, repeated: incompressible to any hash or store, and fast to write.
const PATTERN_BYTES = 64 * 1024 * 1024;

export async function writeShards(dir, files, mib) {
  await mkdir(dir, { recursive: true });
  const bytes = mib * 1024 * 1024;
  for (let f = 0; f < files; f++) {
    const pattern = randomBytes(Math.min(PATTERN_BYTES, bytes));
    const handle = await open(join(dir, \`shard-\${f}.bin\`), 'w');
    try {
      for (let written = 0; written < bytes; written += pattern.length) await handle.write(pattern, 0, Math.min(pattern.length, bytes - written));
    } finally {
      await handle.close();
    }
  }
}

/** Reads every byte of every shard and writes a few lines about them. */
export async function summarize(dir, out) {
  const lines = [];
  for (const name of (await readdir(dir)).sort()) {
    let bytes = 0;
    let xor = 0;
    for await (const chunk of createReadStream(join(dir, name), { highWaterMark: 4 * 1024 * 1024 })) {
      bytes += chunk.length;
      xor ^= chunk[chunk.length - 1];
    }
    lines.push(\`\${name} \${bytes} \${xor}\`);
  }
  await writeFile(out, \`\${lines.join('\\n')}\\n\`);
}

export async function report(summary, out) {
  const lines = (await readFile(summary, 'utf8')).trim().split('\\n');
  const total = lines.reduce((sum, l) => sum + Number(l.split(' ')[1]), 0);
  await writeFile(out, \`\${total} bytes in \${lines.length} shards\\n\`);
}
`;

/** DVC's stage commands: \`node stage.mjs <stage> <args>\`. */
const DVC_STAGE_SCRIPT = `import { report, summarize, writeShards } from './work.mjs';

const [stage, ...args] = process.argv.slice(2);
if (stage === 'shards') await writeShards(args[0], Number(args[1]), Number(args[2]));
else if (stage === 'summarize') await summarize(args[0], args[1]);
else if (stage === 'report') await report(args[0], args[1]);
else throw new Error(\`unknown stage \${stage}\`);
`;

function largePipelineSource(): string {
  return `import { z } from 'zod';
import { definePipeline, defineStep, dir, file } from 'flywheel';
import { report, summarize, writeShards } from './work.mjs';

const shards = defineStep({
  id: 'shards',
  version: 1,
  config: z.object({ files: z.number().int(), mib: z.number().int() }),
  outputs: { shards: dir() },
  async run({ config, outputs }) {
    await writeShards(outputs.shards, config.files, config.mib);
  },
});

const summary = defineStep({
  id: 'summarize',
  version: 1,
  inputs: { shards: dir() },
  outputs: { summary: file({ fileName: 'summary.txt' }) },
  async run({ inputs, outputs }) {
    await summarize(inputs.shards, outputs.summary);
  },
});

const reportStep = defineStep({
  id: 'report',
  version: 1,
  inputs: { summary: file() },
  outputs: { report: file({ fileName: 'report.txt' }) },
  async run({ inputs, outputs }) {
    await report(inputs.summary, outputs.report);
  },
});

export default definePipeline({
  name: 'dvc-peer-large',
  build(p) {
    const made = p.add(shards, { config: { files: ${FILES}, mib: ${FILE_MIB} } });
    const summed = p.add(summary, { inputs: { shards: made.out.shards } });
    p.add(reportStep, { inputs: { summary: summed.out.summary } });
  },
});
`;
}

function largeDvcYaml(): string {
  const code = ['stage.mjs', 'work.mjs'];
  const stage = (name: string, cmd: string, deps: string[], out: string): string[] => [
    `  ${name}:`,
    `    cmd: ${cmd}`,
    '    deps:',
    ...[...deps, ...code].map((d) => `    - ${d}`),
    '    outs:',
    `    - ${out}`,
  ];
  return `${[
    'stages:',
    ...stage('shards', `node stage.mjs shards shards ${FILES} ${FILE_MIB}`, [], 'shards'),
    ...stage('summarize', 'node stage.mjs summarize shards summary.txt', ['shards'], 'summary.txt'),
    ...stage('report', 'node stage.mjs report summary.txt report.txt', ['summary.txt'], 'report.txt'),
  ].join('\n')}\n`;
}

/** Counts step statuses in `flywheel run --json` output. */
function runStatuses(stdout: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const step of (JSON.parse(stdout) as { steps: Array<{ status: string }> }).steps) counts[step.status] = (counts[step.status] ?? 0) + 1;
  return counts;
}

const describe = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');

/** Why a `flywheel run` output does not show a fully cached run, or undefined when it does. */
function runProblem(stdout: string, steps: number): string | undefined {
  return stdout.includes(`${steps} steps — 0 executed, ${steps} cached`)
    ? undefined
    : (stdout
        .trim()
        .split('\n')
        .find((l) => l.startsWith('succeeded')) ?? 'no summary line');
}

/** Why a `flywheel plan` output is not "everything cached", or undefined when it is. */
function planProblem(stdout: string, steps: number): string | undefined {
  const last = stdout.trim().split('\n').pop() ?? '';
  return last.startsWith(`${steps} steps: ${steps} cached, 0 to run`) ? undefined : last;
}

/** Why a `dvc repro` output is not "no stage ran", or undefined when it is. */
function reproProblem(stdout: string, stages: number): string | undefined {
  const ran = stdout.split('\n').filter((l) => l.startsWith('Running stage')).length;
  const skipped = stdout.split('\n').filter((l) => l.includes("didn't change, skipping")).length;
  return ran === 0 && skipped === stages ? undefined : `${ran} stages ran, ${skipped} of ${stages} skipped`;
}

function statusProblem(stdout: string): string | undefined {
  return stdout.includes('Data and pipelines are up to date.') ? undefined : stdout.trim().split('\n').slice(0, 3).join(' | ');
}

interface Side {
  label: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Why a run's output shows it did not do what is being timed; undefined when it did. */
  problem(result: MeasuredProcessResult): string | undefined;
}

interface Sampled {
  ms: number[];
  rssKiB: number[];
  problems: string[];
}

/** SAMPLES runs of each side, in turns; every run's output is checked, and its peak RSS read. */
async function sampleInTurns(sides: readonly Side[]): Promise<Sampled[]> {
  const sampled = sides.map((): Sampled => ({ ms: [], rssKiB: [], problems: [] }));
  for (let i = 0; i < SAMPLES; i++) {
    for (const [s, side] of sides.entries()) {
      const result = await runProcessWithRss(side.command, side.args, { cwd: side.cwd, env: side.env });
      const into = sampled[s] as Sampled;
      into.ms.push(result.wallMs);
      if (result.peakRssKiB !== undefined) into.rssKiB.push(result.peakRssKiB);
      const problem = side.problem(result);
      if (problem !== undefined) into.problems.push(`run ${i + 1}: ${problem}`);
    }
  }
  for (const [s, side] of sides.entries()) {
    const { ms, rssKiB, problems } = sampled[s] as Sampled;
    const rss = rssKiB.length > 0 ? `, peak RSS ${formatKiB(median(rssKiB))}` : '';
    line(`${side.label}, median of ${SAMPLES}`, `${formatMs(median(ms))}  ${formatSamples(ms)}${rss}`);
    if (problems.length > 0) line(`  NOT A NO-OP (${side.label})`, problems.join('; '));
  }
  return sampled;
}

const medianRss = (s: Sampled): number | undefined => (s.rssKiB.length > 0 ? median(s.rssKiB) : undefined);

function firstRun(label: string, result: MeasuredProcessResult, extra = ''): void {
  line(label, `${formatMs(result.wallMs)}, peak RSS ${formatKiB(result.peakRssKiB)}${extra}`);
}

async function benchChain(dvc: Dvc): Promise<{ run: Sampled[]; plan: Sampled[] }> {
  heading(`(h) ${STAGES}-stage chain: Flywheel`);
  const fw = await freshDir('dvc', 'flywheel-chain');
  const env = flywheelEnv(fw);
  const pipeline = join(fw, `chain-${STAGES}.ts`);
  // The same generator as (a): chain c0, steps c0-s000 … (one chain of STAGES steps).
  await writeFile(pipeline, chainDagSource(`dvc-peer-chain-${STAGES}`, 1, STAGES));
  const fill = await runProcessWithRss('node', [FLYWHEEL_BIN, 'run', pipeline], { cwd: fw, env });
  firstRun('first `flywheel run` (compiles, runs every step)', fill);
  const verify = await runProcess('node', [FLYWHEEL_BIN, 'run', pipeline, '--json'], { cwd: fw, env });
  const counts = runStatuses(verify.stdout);
  line('verify: `flywheel run --json`', `${counts.cached === STAGES ? 'OK' : 'NOT ALL CACHED'}: ${describe(counts)}`);

  heading(`(h) ${STAGES}-stage chain: DVC ${dvc.version}`);
  const dv = await freshDir('dvc', 'dvc-chain');
  await initDvcProject(dv, dvc);
  await writeFile(join(dv, 'dvc.yaml'), chainDvcYaml());
  await mkdir(join(dv, 'data')); // the stages' commands write into it
  await gitCommitAll(dv, 'pipeline');
  if (FILL === 'repro') {
    const first = await runProcessWithRss(dvc.bin, ['repro'], { cwd: dv, env: dvc.env });
    firstRun('first `dvc repro` (runs every stage)', first);
  } else {
    // The stages' commands in dependency order, then the state `dvc repro` would leave (see FILL).
    const script = ['set -e', ...chainStages().map((s) => s.cmd)].join('\n');
    await writeFile(join(dv, 'stages.sh'), `${script}\n`);
    const commands = await runProcess('sh', ['stages.sh'], { cwd: dv });
    const commit = await runProcessWithRss(dvc.bin, ['commit', '-f'], { cwd: dv, env: dvc.env });
    line('cache filled without `dvc repro`', 'stage commands by one shell, then `dvc commit -f`');
    console.log('    (FLYWHEEL_BENCH_DVC_FILL=repro times a real first `dvc repro` instead)');
    line('  the stage commands (sh stages.sh)', formatMs(commands.wallMs));
    firstRun('  `dvc commit -f` (writes dvc.lock and cache)', commit);
  }
  await gitCommitAll(dv, 'outputs');
  const status = await runProcess(dvc.bin, ['status'], { cwd: dv, env: dvc.env });
  const statusIssue = statusProblem(status.stdout);
  line('verify: `dvc status`', statusIssue === undefined ? 'OK: Data and pipelines are up to date.' : `NOT UP TO DATE: ${statusIssue}`);
  const repro = await runProcess(dvc.bin, ['repro'], { cwd: dv, env: dvc.env });
  const reproIssue = reproProblem(repro.stdout, STAGES);
  line('verify: `dvc repro`', reproIssue === undefined ? `OK: no stage ran, ${STAGES} skipped` : `NOT A NO-OP: ${reproIssue}`);

  heading(`(h) ${STAGES}-stage chain: fully cached re-run and status check`);
  const run = await sampleInTurns([
    { label: 'cached `flywheel run`', command: 'node', args: [FLYWHEEL_BIN, 'run', pipeline], cwd: fw, env, problem: (r) => runProblem(r.stdout, STAGES) },
    { label: 'cached `dvc repro`', command: dvc.bin, args: ['repro'], cwd: dv, env: dvc.env, problem: (r) => reproProblem(r.stdout, STAGES) },
  ]);
  const plan = await sampleInTurns([
    { label: '`flywheel plan`', command: 'node', args: [FLYWHEEL_BIN, 'plan', pipeline], cwd: fw, env, problem: (r) => planProblem(r.stdout, STAGES) },
    { label: '`dvc status`', command: dvc.bin, args: ['status'], cwd: dv, env: dvc.env, problem: (r) => statusProblem(r.stdout) },
  ]);
  return { run, plan };
}

async function benchLarge(dvc: Dvc): Promise<{ first: MeasuredProcessResult[]; rerun: Sampled[] }> {
  const shape = `${FILES} × ${FILE_MIB} MiB`;
  heading(`(h) 3 stages over ${shape} of incompressible data: first runs`);
  const fw = await freshDir('dvc', 'flywheel-large');
  const env = flywheelEnv(fw);
  const pipeline = join(fw, 'large.ts');
  await writeFile(join(fw, 'work.mjs'), WORK_MODULE);
  await writeFile(pipeline, largePipelineSource());
  const dv = await freshDir('dvc', 'dvc-large');
  await initDvcProject(dv, dvc);
  await writeFile(join(dv, 'work.mjs'), WORK_MODULE);
  await writeFile(join(dv, 'stage.mjs'), DVC_STAGE_SCRIPT);
  await writeFile(join(dv, 'dvc.yaml'), largeDvcYaml());
  await gitCommitAll(dv, 'pipeline');

  const flywheelFirst = await runProcessWithRss('node', [FLYWHEEL_BIN, 'run', pipeline], { cwd: fw, env });
  firstRun('first `flywheel run` (writes, hashes, stores)', flywheelFirst);
  const dvcFirst = await runProcessWithRss(dvc.bin, ['repro'], { cwd: dv, env: dvc.env });
  firstRun('first `dvc repro` (writes, hashes, caches)', dvcFirst);
  await gitCommitAll(dv, 'outputs');
  const verify = await runProcess('node', [FLYWHEEL_BIN, 'run', pipeline, '--json'], { cwd: fw, env });
  const counts = runStatuses(verify.stdout);
  line('verify: `flywheel run --json`', `${counts.cached === 3 ? 'OK' : 'NOT ALL CACHED'}: ${describe(counts)}`);
  const status = statusProblem((await runProcess(dvc.bin, ['status'], { cwd: dv, env: dvc.env })).stdout);
  line('verify: `dvc status`', status === undefined ? 'OK: Data and pipelines are up to date.' : `NOT UP TO DATE: ${status}`);

  heading(`(h) 3 stages over ${shape}: no-op re-run`);
  const rerun = await sampleInTurns([
    { label: 'cached `flywheel run`', command: 'node', args: [FLYWHEEL_BIN, 'run', pipeline], cwd: fw, env, problem: (r) => runProblem(r.stdout, 3) },
    { label: 'cached `dvc repro`', command: dvc.bin, args: ['repro'], cwd: dv, env: dvc.env, problem: (r) => reproProblem(r.stdout, 3) },
  ]);
  // Both projects hold their data twice (workspace and cache or store): give the disk back.
  await freshDir('dvc', 'flywheel-large');
  await freshDir('dvc', 'dvc-large');
  return { first: [flywheelFirst, dvcFirst], rerun };
}

export async function benchDvc(): Promise<SummaryRow[]> {
  heading('(h) vs DVC: set-up');
  let dvc: Dvc;
  try {
    dvc = await setUpDvc();
  } catch (error) {
    // No DVC here (no Python 3.11, no package index): the other parts' figures still print.
    line('SKIPPED: DVC could not be installed', String(error).split('\n').slice(0, 4).join(' | '));
    return [];
  }
  line('dvc', `${dvc.version} (${dvc.bin})`);
  line('scale', `${STAGES} stages; ${FILES} files × ${FILE_MIB} MiB; ${SAMPLES} samples each`);
  const chain = await benchChain(dvc);
  const large = await benchLarge(dvc);

  const rows: SummaryRow[] = [];
  heading('(h) result');
  const compare = (bench: string, metric: string, ours: number, theirs: number, target?: string): void => {
    const ratio = ours / theirs;
    line(`${bench}: ${metric}`, `${formatMs(ours)} / ${formatMs(theirs)} = ${formatRatio(ratio)}${target === undefined ? '' : `  (target ${target})`}`);
    rows.push({ bench, metric, value: formatMs(ours), baseline: formatMs(theirs), ratio, ...(target === undefined ? {} : { target }) });
  };
  const compareRss = (bench: string, metric: string, ours: number | undefined, theirs: number | undefined): void => {
    if (ours === undefined || theirs === undefined) return;
    line(`${bench}: ${metric}`, `${formatKiB(ours)} / ${formatKiB(theirs)} = ${formatRatio(ours / theirs)}`);
    rows.push({ bench, metric, value: formatKiB(ours), baseline: formatKiB(theirs), ratio: ours / theirs });
  };
  const chainBench = `(h) ${STAGES}-stage chain`;
  const [runFw, runDvc] = chain.run as [Sampled, Sampled];
  const [planFw, planDvc] = chain.plan as [Sampled, Sampled];
  compare(chainBench, 'cached flywheel run / dvc repro', median(runFw.ms), median(runDvc.ms), '≤ 0.10×');
  compare(chainBench, 'flywheel plan / dvc status', median(planFw.ms), median(planDvc.ms), '≤ 0.10×');
  compareRss(chainBench, 'peak RSS, cached run / repro', medianRss(runFw), medianRss(runDvc));
  compareRss(chainBench, 'peak RSS, plan / status', medianRss(planFw), medianRss(planDvc));
  const largeBench = `(h) 3 stages, ${FILES}×${FILE_MIB} MiB`;
  const [firstFw, firstDvc] = large.first as [MeasuredProcessResult, MeasuredProcessResult];
  const [rerunFw, rerunDvc] = large.rerun as [Sampled, Sampled];
  compare(largeBench, 'no-op flywheel run / dvc repro', median(rerunFw.ms), median(rerunDvc.ms), '≤ 1.00×');
  compare(largeBench, 'first flywheel run / dvc repro', firstFw.wallMs, firstDvc.wallMs);
  compareRss(largeBench, 'peak RSS, no-op run / repro', medianRss(rerunFw), medianRss(rerunDvc));
  compareRss(largeBench, 'peak RSS, first run / repro', firstFw.peakRssKiB, firstDvc.peakRssKiB);
  return rows;
}

runIfMain(import.meta.url, benchDvc);
