import { spawn, type SpawnOptions } from 'node:child_process';
import { FlywheelError } from './errors.js';

export interface RunProcessOptions {
  /** The step's `ctx.signal`: on abort the whole process group gets SIGTERM, then SIGKILL after `graceMs`. */
  signal: AbortSignal;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Time between SIGTERM and SIGKILL, for the process to save a checkpoint. Default 10 s. */
  graceMs?: number;
  /** Called with each chunk the process writes (stdout and stderr); default: inherited. */
  onOutput?: (chunk: string) => void;
  /** Called once the process has started, with its pid (also its process group id). */
  onStart?: (pid: number) => void;
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
      reject(new FlywheelError('STEP_CANCELLED', `${command} was not started: the step was cancelled`, { retryable: false }));
      return;
    }
    const spawnOptions: SpawnOptions = { detached: true, stdio: options.onOutput ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'] };
    if (options.cwd !== undefined) spawnOptions.cwd = options.cwd;
    if (options.env !== undefined) spawnOptions.env = options.env;
    const child = spawn(command, args, spawnOptions);
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      if (child.pid === undefined) return;
      signalGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child.pid as number, 'SIGKILL'), graceMs);
      killTimer.unref();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout?.on('data', (chunk: Buffer) => options.onOutput?.(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => options.onOutput?.(chunk.toString()));
    child.once('spawn', () => options.onStart?.(child.pid as number));
    child.once('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      reject(new FlywheelError('STEP_PROCESS_FAILED', `could not start ${command}: ${error.message}`, { retryable: false, fix: `check that ${command} is installed and on PATH` }));
    });
    child.once('exit', (code, exitSignal) => {
      signal.removeEventListener('abort', onAbort);
      // The group may still hold grandchildren that ignored SIGTERM: the timer keeps running to end them.
      if (!signal.aborted && killTimer !== undefined) clearTimeout(killTimer);
      if (code === 0) resolve();
      else if (signal.aborted) reject(new FlywheelError('STEP_CANCELLED', `${command} stopped: the step was cancelled`, { retryable: false }));
      else reject(new FlywheelError('STEP_PROCESS_FAILED', `${command} ${args.join(' ')} exited with ${exitSignal ?? `code ${String(code)}`}`));
    });
  });
}
