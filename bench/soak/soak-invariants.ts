import { readFile } from 'node:fs/promises';

/** A fault as the soak injected it: when it began and ended (epoch ms; and ms into the stream), what, and on what. */
export interface FaultRecord {
  at: number;
  atMs: number;
  /** When it was over (a frozen worker thawed, a filled disk freed, a killed server back); absent while it lasts. */
  endAt?: number;
  kind: string;
  detail: string;
}

/** Whether a fault was under way at some moment from `from` to `to` (one still lasting counts until now). */
export function faultDuring(faults: readonly FaultRecord[], from: number, to: number): boolean {
  return faults.some((f) => f.at <= to && (f.endAt ?? Date.now()) >= from);
}

/** One line of the steps' own execution log (see soak-steps.ts). */
export interface ExecutionEvent {
  at: number;
  phase: 'start' | 'end';
  /** The work's identity: one cache key's worth (a variant's step, or an item's score). */
  what: string;
}

export async function readExecutionLog(path: string): Promise<ExecutionEvent[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [at, phase, ...rest] = line.split(' ');
      // A resumed training attempt names the tick it resumed from; it is the same work.
      return { at: Number(at), phase: phase as 'start' | 'end', what: rest.join(' ').replace(/ from-tick-\d+$/, '') };
    });
}

/** The step an execution belongs to, for the figures: `source`, `link`, `score (map element)`, `train`, `report`. */
function stepOf(what: string): string {
  if (what.startsWith('item-')) return 'score (map element)';
  return (what.split('/')[1] ?? what).replace(/-\d+$/, '');
}

export interface ExecutionFigures {
  /** Executions started, of work that completed at least once. */
  total: number;
  /** Executions beyond the first of each piece of work. */
  extra: number;
  /** Time spent in executions beyond the first, as a share of all execution time. */
  extraShareOfCompute: number;
  byStep: Record<string, { executions: number; extra: number }>;
  /** Each execution beyond the first with no fault since the one before it: work done twice that nothing forced. */
  unexplained: string[];
}

/**
 * Counts executions by the steps' own log, independently of the engine: each piece of work (one cache
 * key's) should execute once, and each execution after its first must follow a fault under way at some
 * moment since the one before it began (a disk still full, a worker still frozen, count too). Work that never completed (the always-failing items) is not counted.
 */
export function executionsBeyondFaults(events: readonly ExecutionEvent[], faults: readonly FaultRecord[]): ExecutionFigures {
  const byWhat = new Map<string, ExecutionEvent[]>();
  for (const event of events) {
    const list = byWhat.get(event.what);
    if (list === undefined) byWhat.set(event.what, [event]);
    else list.push(event);
  }
  const figures: ExecutionFigures = { total: 0, extra: 0, extraShareOfCompute: 0, byStep: {}, unexplained: [] };
  let allMs = 0;
  let extraMs = 0;
  for (const [what, list] of byWhat) {
    if (!list.some((e) => e.phase === 'end')) continue;
    list.sort((a, b) => a.at - b.at);
    const starts = list.filter((e) => e.phase === 'start');
    const step = (figures.byStep[stepOf(what)] ??= { executions: 0, extra: 0 });
    step.executions += starts.length;
    step.extra += starts.length - 1;
    figures.total += starts.length;
    figures.extra += starts.length - 1;
    starts.forEach((start, i) => {
      const next = starts[i + 1];
      // An execution lasts until its end, or (interrupted) until the next one started.
      const end = list.find((e) => e.phase === 'end' && e.at >= start.at && (next === undefined || e.at <= next.at));
      const ms = (end?.at ?? next?.at ?? start.at) - start.at;
      allMs += ms;
      if (i > 0) extraMs += ms;
      if (next !== undefined && !faultDuring(faults, start.at, next.at))
        figures.unexplained.push(
          `${what} executed again at ${new Date(next.at).toISOString()} with no fault since its execution at ${new Date(start.at).toISOString()}`,
        );
    });
  }
  figures.extraShareOfCompute = allMs === 0 ? 0 : extraMs / allMs;
  return figures;
}

/** A step of a run as `flywheel show --json` presents it. */
export interface ShownStep {
  id: string;
  status: string;
}

/**
 * `show` agrees with what executed: each step of the soak's own (every node but the map, whose elements
 * are shared across variants) that a run's record calls executed has an execution of its work in the
 * steps' log. A record claiming work nobody did would be a lie the cache then repeats.
 */
export function recordsWithoutExecution(
  runs: ReadonlyArray<{ runId: string; variant: number; steps: readonly ShownStep[] }>,
  events: readonly ExecutionEvent[],
): string[] {
  const started = new Set(events.filter((e) => e.phase === 'start').map((e) => e.what));
  const claims: string[] = [];
  for (const run of runs)
    for (const step of run.steps)
      if (step.status === 'executed' && step.id !== 'score' && !started.has(`v${run.variant}/${step.id}`))
        claims.push(
          `run ${run.runId} (variant ${run.variant}): show says ${step.id} executed, but its steps' log has no execution of v${run.variant}/${step.id}`,
        );
  return claims;
}
