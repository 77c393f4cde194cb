import { hostname } from 'node:os';

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

/** A run's status as every command shows it: `interrupted` for a run whose process died, else what its record says. */
export function shownStatus(run: { status: string; host: string; pid: number; engine?: string | undefined }): string {
  return isInterruptedRun(run) ? 'interrupted' : run.status;
}
