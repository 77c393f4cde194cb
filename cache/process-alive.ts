import { hostname } from 'node:os';
import type { RunStatus } from './records.js';

/** Whether a process with this pid exists on this host (EPERM: it exists but belongs to another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A run record marked `running` whose process is gone from this host was interrupted (SIGKILL, crash, reboot). */
export function isInterruptedRun(run: { status: string; host: string; pid: number; engine?: string | undefined }): boolean {
  return run.status === 'running' && run.engine !== 'temporal' && run.host === hostname() && !isProcessAlive(run.pid);
}

/** A run's status as every command shows it: what its record says, or `interrupted` for a run whose process died. */
export type ShownStatus = RunStatus | 'interrupted';

/** The status to show for a run: `interrupted` when its record says running but its process is gone from this host. */
export function shownStatus<S extends string>(run: { status: S; host: string; pid: number; engine?: string | undefined }): S | 'interrupted' {
  return isInterruptedRun(run) ? 'interrupted' : run.status;
}
