import { execFileSync } from 'node:child_process';

/** Pids of running trainer processes whose command line mentions `marker` (a test's own store path). */
export function trainerPids(marker: string): number[] {
  const lines = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n');
  return lines.filter((l) => l.includes('flywheel_trainer.train') && l.includes(marker)).map((l) => Number.parseInt(l.trim(), 10));
}
