// CPU time per execution. Node can only measure a whole process, and executions share one (a local run's
// steps, a map's elements, a worker's activities), so the process's CPU time is shared out: between two
// moments, what the process used is split evenly among the executions running then. An execution that
// runs alone gets exactly the process's CPU time, its child processes' included once they exit.
import { readFileSync } from 'node:fs';

/** Linux reports times in clock ticks of 1/100 s on every platform Node supports (sysconf(_SC_CLK_TCK)). */
const MS_PER_TICK = 10;
/** Children's CPU time is re-read at most this often: a read costs ~12 µs, more than a small map element. */
const CHILDREN_READ_EVERY_MS = 5;

let childrenMs = 0;
let childrenReadAt = -Infinity;
let procReadable = process.platform === 'linux';

/** CPU time of the process's exited (waited-for) children: /proc/self/stat's cutime + cstime; 0 where there is no /proc. */
function childrenCpuMs(now: number): number {
  if (!procReadable || now - childrenReadAt < CHILDREN_READ_EVERY_MS) return childrenMs;
  childrenReadAt = now;
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1');
    // Fields after the command name (which may hold spaces and parentheses): state is field 3, cutime 16, cstime 17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    childrenMs = (Number(fields[13]) + Number(fields[14])) * MS_PER_TICK;
  } catch {
    procReadable = false;
  }
  return childrenMs;
}

function processCpuMs(now: number): number {
  const own = process.cpuUsage();
  return (own.user + own.system) / 1000 + childrenCpuMs(now);
}

/** An execution's share so far, and whether it is still counted. */
interface Share {
  ms: number;
}

const running = new Set<Share>();
let sampledMs = 0;

/** Hands what the process used since the last sample to the executions running now. */
function sample(): void {
  const now = processCpuMs(performance.now());
  const used = Math.max(0, now - sampledMs);
  sampledMs = now;
  if (running.size === 0) return;
  const each = used / running.size;
  for (const share of running) share.ms += each;
}

/** Starts counting an execution's CPU time; the function returned stops and gives it, in milliseconds. */
export function startCpuShare(): () => number {
  sample();
  const share: Share = { ms: 0 };
  running.add(share);
  return () => {
    if (running.has(share)) {
      sample();
      running.delete(share);
    }
    return share.ms;
  };
}
