// Shared helpers for the benchmark scripts: timing, statistics, child processes, workspaces, output.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Generated workspaces, stores and large files live here (git-ignored). */
export const WORK_ROOT = join(REPO_ROOT, 'bench', '.work');
/** The CLI entry point, exactly as users run it. */
export const FLYWHEEL_BIN = join(REPO_ROOT, 'bin', 'flywheel.js');

/** One line of the final summary table; `ratio` is value/baseline when both are in the same unit. */
export interface SummaryRow {
  bench: string;
  metric: string;
  value: string;
  baseline?: string;
  ratio?: number;
  target?: string;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function best(values: readonly number[]): number {
  return Math.min(...values);
}

/** Milliseconds an async function takes, with its result. */
export async function timeAsync<T>(fn: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const start = performance.now();
  const result = await fn();
  return { ms: performance.now() - start, result };
}

/** Like timeAsync, plus the garbage-collection pauses of this process while `fn` ran. */
export async function timeWithGc<T>(fn: () => Promise<T>): Promise<{ ms: number; gcMs: number; result: T }> {
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  observer.observe({ entryTypes: ['gc'] });
  const timed = await timeAsync(fn);
  for (const entry of observer.takeRecords()) gcMs += entry.duration;
  observer.disconnect();
  return { ...timed, gcMs };
}

/**
 * Runs `fn` `times` times in sequence and returns every duration (ms) and the last result. `warmup` runs
 * that many untimed calls first; `after` runs untimed after each call (clean-up that must not count).
 */
export async function repeat<T>(
  times: number,
  fn: (i: number) => Promise<T>,
  options: { warmup?: number; after?: (i: number) => Promise<void> } = {},
): Promise<{ ms: number[]; last: T }> {
  const ms: number[] = [];
  let last: T | undefined;
  const warmup = options.warmup ?? 0;
  for (let i = 0; i < warmup + times; i++) {
    const timed = await timeAsync(() => fn(i));
    if (i >= warmup) ms.push(timed.ms);
    last = timed.result;
    await options.after?.(i);
  }
  return { ms, last: last as T };
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Spawn to exit, as a user at a shell would see it. */
  wallMs: number;
}

/** Spawns a process, captures its output and measures its wall time; throws on a non-zero exit. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; allowFailure?: boolean } = {},
): Promise<ProcessResult> {
  return new Promise((resolvePromise, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const result = { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), wallMs: performance.now() - start };
      if (code !== 0 && !options.allowFailure) {
        reject(new Error(`${command} ${args.join(' ')} exited with ${String(code)}:\n${result.stderr.slice(-2000)}${result.stdout.slice(-2000)}`));
      } else resolvePromise(result);
    });
  });
}

/** Runs a process `times` times and returns the wall times and the last result (for verification). */
export async function timeProcess(
  times: number,
  command: string,
  args: readonly string[],
  options: Parameters<typeof runProcess>[2] = {},
): Promise<{ ms: number[]; last: ProcessResult }> {
  const ms: number[] = [];
  let last: ProcessResult | undefined;
  for (let i = 0; i < times; i++) {
    last = await runProcess(command, args, options);
    ms.push(last.wallMs);
  }
  return { ms, last: last as ProcessResult };
}

/** GNU time, where installed: the portable way to read a child's peak resident set size. */
const GNU_TIME = '/usr/bin/time';

export interface MeasuredProcessResult extends ProcessResult {
  /** Peak RSS in KiB of the largest process in the tree (GNU time's %M); undefined without GNU time. */
  peakRssKiB: number | undefined;
}

/**
 * Like runProcess, run under GNU time to read the peak RSS as well. The wall time then includes
 * starting `time` itself (about a millisecond), alike for everything measured this way.
 */
export async function runProcessWithRss(
  command: string,
  args: readonly string[],
  options: Parameters<typeof runProcess>[2] = {},
): Promise<MeasuredProcessResult> {
  if (!existsSync(GNU_TIME)) return { ...(await runProcess(command, args, options)), peakRssKiB: undefined };
  const report = join(tmpdir(), `flywheel-bench-rss-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const result = await runProcess(GNU_TIME, ['-f', '%M', '-o', report, command, ...args], options);
    // On a non-zero exit GNU time writes a "Command exited with non-zero status" line first.
    const last = (await readFile(report, 'utf8')).trim().split('\n').pop() ?? '';
    const kib = Number.parseInt(last, 10);
    return { ...result, peakRssKiB: Number.isFinite(kib) ? kib : undefined };
  } finally {
    await rm(report, { force: true });
  }
}

export function formatKiB(kib: number | undefined): string {
  if (kib === undefined) return 'n/a';
  return kib >= 1024 ** 2 ? `${(kib / 1024 ** 2).toFixed(2)} GiB` : `${(kib / 1024).toFixed(0)} MiB`;
}

/** A fresh, empty directory under bench/.work. */
export async function freshDir(...parts: string[]): Promise<string> {
  const path = join(WORK_ROOT, ...parts);
  await rm(path, { recursive: true, force: true });
  await mkdir(path, { recursive: true });
  return path;
}

/** The engine as built by `npm run build`: benchmarks measure what users run, not the sources. */
export async function importDist<T>(relativePath: string): Promise<T> {
  return (await import(pathToFileURL(join(REPO_ROOT, 'dist', relativePath)).href)) as T;
}

export function formatMs(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
}

export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}

/** The individual samples, so noise is visible next to the median; one unit for the whole list. */
export function formatSamples(ms: readonly number[]): string {
  const seconds = ms.some((m) => m >= 1000);
  return `[${ms.map((m) => (seconds ? (m / 1000).toFixed(2) : m.toFixed(0))).join(', ')}] ${seconds ? 's' : 'ms'}`;
}

export function heading(text: string): void {
  console.log(`\n=== ${text} ===`);
}

export function line(label: string, value: string): void {
  console.log(`  ${label.padEnd(52)} ${value}`);
}

/** Prints rows as an aligned plain-text table. */
export function printTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const render = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  console.log(render(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(render(row));
}

/** Lets each benchmark file run on its own (`tsx bench/hash.ts`) as well as from bench/run.ts. */
export function runIfMain(moduleUrl: string, bench: () => Promise<SummaryRow[]>): void {
  const entry = process.argv[1];
  if (entry === undefined || pathToFileURL(resolve(entry)).href !== moduleUrl) return;
  bench().then(
    (rows) => printSummary(rows),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}

export function printSummary(rows: readonly SummaryRow[]): void {
  heading('Summary');
  printTable(
    ['bench', 'metric', 'flywheel', 'baseline', 'ratio', 'target'],
    rows.map((r) => [r.bench, r.metric, r.value, r.baseline ?? '', r.ratio === undefined ? '' : formatRatio(r.ratio), r.target ?? '']),
  );
}

/** Incompressible bytes written fast: one random pattern repeated (SHA-256 and S3 cannot tell). Returns the pattern. */
export async function writeIncompressibleFile(path: string, bytes: number, patternBytes = 64 * 1024 ** 2): Promise<Buffer> {
  const pattern = randomBytes(patternBytes);
  const handle = await open(path, 'w');
  try {
    for (let written = 0; written < bytes; written += patternBytes) await handle.write(pattern, 0, Math.min(patternBytes, bytes - written));
  } finally {
    await handle.close();
  }
  return pattern;
}

/** One way of running the CLI in a comparison: a build and its environment. */
export type Variant = { name: string; bin: string; env: NodeJS.ProcessEnv };

/**
 * Runs each variant in turn, `samples` times, each with `args(variant, i)`; prints and returns the medians.
 * `pauseMs` after every run lets what it left working settle first (a trace receiver ingesting its spans),
 * so the next variant's sample does not pay for it.
 */
export async function alternate(
  variants: readonly Variant[],
  args: (v: Variant, i: number) => string[],
  cwd: string,
  samples: number,
  pauseMs = 0,
): Promise<Map<string, number>> {
  const times = new Map(variants.map((v) => [v.name, [] as number[]]));
  for (let i = 0; i < samples; i++)
    for (const v of variants) {
      const result = await runProcess('node', [v.bin, ...args(v, i)], { cwd, env: v.env });
      if (result.code !== 0) throw new Error(`${v.name}: exit ${result.code}\n${result.stderr}`);
      times.get(v.name)?.push(result.wallMs);
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  for (const v of variants) line(v.name, `${formatMs(median(times.get(v.name) ?? []))}  ${formatSamples(times.get(v.name) ?? [])}`);
  return new Map([...times].map(([name, ms]) => [name, median(ms)]));
}

/** Bench (f)'s 10,000-element map, its first run into a fresh store `dir/map-<label>-<sample>` (for `alternate`). */
export function firstMapRun(dir: string, label: (v: Variant) => string): (v: Variant, i: number) => string[] {
  const map = join(REPO_ROOT, 'bench', 'pipelines', 'map.ts');
  return (v, i) => ['run', map, '--set', 'source.n=10000', '--store', join(dir, `map-${label(v)}-${i}`)];
}

/** A function that prints a timed ratio and adds it to `rows` as `bench`'s summary row. */
export function ratioRows(bench: string, rows: SummaryRow[]): (metric: string, value: number, baseline: number, target: string) => void {
  return (metric, value, baseline, target) => {
    line(metric, `${formatMs(value)} / ${formatMs(baseline)} = ${formatRatio(value / baseline)}`);
    rows.push({ bench, metric, value: formatMs(value), baseline: formatMs(baseline), ratio: value / baseline, target });
  };
}

/** A run id in the engine's format, `count` minutes after a fixed start: ids sort as the runs started. */
export function runIdAt(count: number): string {
  const at = new Date(Date.UTC(2026, 0, 1) + count * 60_000);
  return `${at.toISOString().replace(/[-:]/g, '')}-${count.toString(16).padStart(6, '0').slice(-6)}`;
}
