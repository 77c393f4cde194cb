import type { ElementCounts, Usage } from '../../cache/records.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/flywheel.js', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd: string;
  env?: Record<string, string>;
  /** Another build's `bin/flywheel.js` (an older version, for the upgrade test); default this one's. */
  bin?: string;
}

/** Starts the real `flywheel` CLI (built dist/) as a child process. */
export function startCli(args: string[], options: CliOptions): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [options.bin ?? BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, FLYWHEEL_LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function runCli(args: string[], options: CliOptions): Promise<CliResult> {
  return startCli(args, options).done;
}

export interface JsonStep {
  id: string;
  status: 'executed' | 'cached' | 'failed' | 'skipped';
  cacheKey: string | null;
  reason: string;
  reasonCodes: string[];
  outputs: Record<string, string>;
  durationMs: number;
  error?: { code: string; message: string };
  /** The step ran but decided not to act (`ctx.decline`). */
  declined?: string;
  /** What this run's executions of it consumed, and what the results it reused had cost. */
  spent?: Usage;
  saved?: Usage;
}

export interface JsonRun {
  runId: string;
  pipeline: string;
  status: 'succeeded' | 'failed';
  steps: JsonStep[];
  usage?: { spent: Usage; saved: Usage };
  /** With a price table: the run's usage in money. */
  cost?: { currency: string; spent: number; saved: number; unpriced: string[] };
}

/** `flywheel run --json`: the run document plus the exit code. */
export async function runJson(pipeline: string, extra: string[], options: CliOptions): Promise<{ code: number | null; run: JsonRun; stderr: string }> {
  const result = await runCli(['run', pipeline, '--json', ...extra], options);
  let run: JsonRun;
  try {
    run = JSON.parse(result.stdout) as JsonRun;
  } catch {
    throw new Error(`flywheel run --json printed no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  return { code: result.code, run, stderr: result.stderr };
}

/** Status by step id, for compact assertions. */
export function statuses(run: JsonRun): Record<string, string> {
  return Object.fromEntries(run.steps.map((s) => [s.id, s.status]));
}

/** Step ids in the order they executed, as the fixture steps logged them. */
export async function executions(logPath: string): Promise<string[]> {
  const text = await readFile(logPath, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean);
}

/** Polls until `condition` holds; fails with `what` after the timeout (a guard, not a timing assertion). */
export async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** What a run did with a map step's elements, from its stored record (`flywheel show <runId> --json`). */
export async function elementsOf(runId: string, stepId: string, options: CliOptions): Promise<ElementCounts | undefined> {
  const shown = JSON.parse((await runCli(['show', runId, '--json'], options)).stdout) as { record: { steps: Array<{ id: string; elements?: ElementCounts }> } };
  return shown.record.steps.find((s) => s.id === stepId)?.elements;
}
