import { spawn, type SpawnOptions } from 'node:child_process';
import { FlywheelError } from '../errors.js';

export interface RunProcessOptions {
  /** The step's `ctx.signal`: on abort the whole process group gets SIGTERM, then SIGKILL after `graceMs`. */
  signal: AbortSignal;
  cwd?: string;
  /** The child's environment (default: this process's), never with the writer's key: a trainer has no business signing cache entries. */
  env?: NodeJS.ProcessEnv;
  /** Time between SIGTERM and SIGKILL, for the process to save a checkpoint. Default 10 s. */
  graceMs?: number;
  /** Called with each chunk the process writes (stdout and stderr); default: inherited. */
  onOutput?: (chunk: string) => void;
  /** Called with each complete line the process writes, and the stream it came from. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Called once the process has started, with its pid (also its process group id). */
  onStart?: (pid: number) => void;
}

/** A process that ended with a non-zero code or a signal: retryable, with both kept for callers that classify. */
export class ProcessFailedError extends FlywheelError {
  constructor(
    commandLine: string,
    readonly exitCode: number | null,
    readonly exitSignal: NodeJS.Signals | null,
  ) {
    super('STEP_PROCESS_FAILED', `${commandLine} exited with ${exitSignal ?? `code ${String(exitCode)}`}`);
  }
}

/** Turns chunks into whole lines; a last line without a newline is delivered at the end. */
function lineSplitter(onLine: (line: string) => void): { push(chunk: string): void; end(): void } {
  let pending = '';
  return {
    push(chunk) {
      const parts = (pending + chunk).split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    },
    end() {
      if (pending !== '') onLine(pending);
      pending = '';
    },
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Runs a child process (a trainer, a script) in its own process group, so cancelling the step ends
 * it and everything it started: SIGTERM to the group, then SIGKILL after the grace period.
 * Resolves on exit code 0; a non-zero exit is a retryable STEP_PROCESS_FAILED.
 *
 * @example
 * ```ts
 * async run({ inputs, outputs, signal }) {
 *   await runProcess('python', ['trainer/train.py', '--data', inputs.data, '--out', outputs.adapter], { signal });
 * }
 * ```
 */
export function runProcess(command: string, args: readonly string[], options: RunProcessOptions): Promise<void> {
  const { signal } = options;
  const graceMs = options.graceMs ?? 10_000;
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(new FlywheelError('STEP_CANCELLED', `${command} was not started: the step was cancelled`));
      return;
    }
    const piped = options.onOutput !== undefined || options.onLine !== undefined;
    const spawnOptions: SpawnOptions = { detached: true, stdio: piped ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'] };
    if (options.cwd !== undefined) spawnOptions.cwd = options.cwd;
    const { FLYWHEEL_SIGNING_KEY: _key, ...env } = options.env ?? process.env;
    spawnOptions.env = env;
    const child = spawn(command, args, spawnOptions);
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      if (child.pid === undefined) return;
      signalGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child.pid as number, 'SIGKILL'), graceMs);
      killTimer.unref();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    for (const stream of ['stdout', 'stderr'] as const) {
      const lines = lineSplitter((line) => options.onLine?.(line, stream));
      child[stream]?.setEncoding('utf8');
      child[stream]?.on('data', (chunk: string) => {
        options.onOutput?.(chunk);
        lines.push(chunk);
      });
      child[stream]?.on('end', () => lines.end());
    }
    child.once('spawn', () => options.onStart?.(child.pid as number));
    child.once('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      reject(
        new FlywheelError('STEP_PROCESS_NOT_STARTED', `could not start ${command}: ${error.message}`, {
          fix: `check that ${command} is installed and on PATH`,
        }),
      );
    });
    // 'close' comes after the output streams have ended, so every line has been delivered by then.
    child.once('close', (code, exitSignal) => {
      signal.removeEventListener('abort', onAbort);
      // The group may still hold grandchildren that ignored SIGTERM: the timer keeps running to end them.
      if (!signal.aborted && killTimer !== undefined) clearTimeout(killTimer);
      if (code === 0) resolve();
      else if (signal.aborted) reject(new FlywheelError('STEP_CANCELLED', `${command} stopped: the step was cancelled`));
      else reject(new ProcessFailedError(`${command} ${args.join(' ')}`, code, exitSignal));
    });
  });
}
