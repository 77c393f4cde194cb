// Adding up what executions consumed (see Usage in cache/records.ts): per attempt into a step, per
// element into a map, per step into a run. Pure: the run core and the Temporal workflow use it.
import type { Usage } from '../../cache/records.js';

export const NO_USAGE: Usage = Object.freeze({ wallMs: 0, cpuMs: 0 });

function addAmounts(a: Record<string, number> | undefined, b: Record<string, number> | undefined): Record<string, number> | undefined {
  if (b === undefined) return a;
  if (a === undefined) return b;
  const sum = { ...a };
  for (const [name, amount] of Object.entries(b)) sum[name] = (sum[name] ?? 0) + amount;
  return sum;
}

function addTokens(a: Usage['tokens'], b: Usage['tokens']): Usage['tokens'] {
  if (b === undefined) return a;
  if (a === undefined) return b;
  const sum = { ...a };
  for (const [model, t] of Object.entries(b)) {
    const before = sum[model];
    if (before === undefined) {
      sum[model] = t;
      continue;
    }
    // Offline only while every call was: one real call makes the counts real (if partly zero).
    const offline = before.offline === true && t.offline === true;
    sum[model] = { input: before.input + t.input, output: before.output + t.output, calls: before.calls + t.calls, ...(offline ? { offline } : {}) };
  }
  return sum;
}

/** `a` and `b` together; either may be absent (nothing known). Absent and absent stay absent. */
export function addUsage(a: Usage | undefined, b: Usage | undefined): Usage | undefined {
  if (b === undefined) return a;
  if (a === undefined) return b;
  const gpuSeconds = addAmounts(a.gpuSeconds, b.gpuSeconds);
  const tokens = addTokens(a.tokens, b.tokens);
  const counts = addAmounts(a.counts, b.counts);
  return {
    wallMs: a.wallMs + b.wallMs,
    cpuMs: a.cpuMs + b.cpuMs,
    ...(gpuSeconds === undefined ? {} : { gpuSeconds }),
    ...(tokens === undefined ? {} : { tokens }),
    ...(counts === undefined ? {} : { counts }),
  };
}

/** The sum of many (absent ones count as nothing known); undefined when none is known. */
export function totalUsage(usages: Iterable<Usage | undefined>): Usage | undefined {
  let total: Usage | undefined;
  for (const usage of usages) total = addUsage(total, usage);
  return total;
}

/** GPU-seconds over every GPU type. */
export function gpuSecondsOf(usage: Usage | undefined): number {
  return Object.values(usage?.gpuSeconds ?? {}).reduce((sum, s) => sum + s, 0);
}

/** Tokens in and out over every model, and whether any was counted by a real (not offline) call. */
export function tokensOf(usage: Usage | undefined): { input: number; output: number; calls: number; offline: boolean } {
  const all = Object.values(usage?.tokens ?? {});
  return {
    input: all.reduce((sum, t) => sum + t.input, 0),
    output: all.reduce((sum, t) => sum + t.output, 0),
    calls: all.reduce((sum, t) => sum + t.calls, 0),
    offline: all.length > 0 && all.every((t) => t.offline === true),
  };
}

function lessAmounts(a: Record<string, number> | undefined, b: Record<string, number> | undefined): Record<string, number> | undefined {
  if (a === undefined || b === undefined) return a;
  const rest: Record<string, number> = {};
  for (const [name, amount] of Object.entries(a)) if (amount - (b[name] ?? 0) > 0) rest[name] = amount - (b[name] ?? 0);
  return Object.keys(rest).length === 0 ? undefined : rest;
}

/** `a` less `b`, each amount no lower than zero (a map's cached elements less those this run executed before it continued). */
export function subtractUsage(a: Usage | undefined, b: Usage | undefined): Usage | undefined {
  if (a === undefined || b === undefined) return a;
  const gpuSeconds = lessAmounts(a.gpuSeconds, b.gpuSeconds);
  const counts = lessAmounts(a.counts, b.counts);
  const tokens: NonNullable<Usage['tokens']> = {};
  for (const [model, t] of Object.entries(a.tokens ?? {})) {
    const less = b.tokens?.[model];
    const left = {
      input: Math.max(0, t.input - (less?.input ?? 0)),
      output: Math.max(0, t.output - (less?.output ?? 0)),
      calls: Math.max(0, t.calls - (less?.calls ?? 0)),
    };
    if (left.calls > 0) tokens[model] = { ...left, ...(t.offline === true ? { offline: true as const } : {}) };
  }
  return {
    wallMs: Math.max(0, a.wallMs - b.wallMs),
    cpuMs: Math.max(0, a.cpuMs - b.cpuMs),
    ...(gpuSeconds === undefined ? {} : { gpuSeconds }),
    ...(Object.keys(tokens).length === 0 ? {} : { tokens }),
    ...(counts === undefined ? {} : { counts }),
  };
}

/** A run's totals: what its steps' executions consumed, and what the results it reused had cost. */
export function runUsage(steps: ReadonlyArray<{ spent?: Usage | undefined; saved?: Usage | undefined }>): { spent: Usage; saved: Usage } {
  return { spent: totalUsage(steps.map((s) => s.spent)) ?? NO_USAGE, saved: totalUsage(steps.map((s) => s.saved)) ?? NO_USAGE };
}
