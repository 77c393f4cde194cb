// Usage as people read it in a terminal line or a panel: GPU-hours, tokens, CPU time, counts; money
// beside it when the run has a price table.
import type { PriceTable, Usage } from '../../cache/records.js';
import { formatDuration } from '../durations.js';
import { gpuSecondsOf, runUsage, tokensOf } from '../core/usage.js';
import { formatCost, priceUsage } from './price-usage.js';

/** `12.0 GPU-h`, `0.35 GPU-h`, `<0.01 GPU-h`. */
export function formatGpuHours(seconds: number): string {
  const hours = seconds / 3600;
  if (hours >= 10) return `${hours.toFixed(1)} GPU-h`;
  if (hours >= 0.01) return `${hours.toFixed(2)} GPU-h`;
  return seconds > 0 ? '<0.01 GPU-h' : '0 GPU-h';
}

/** `1.2M`, `840k`, `312`. */
export function formatCount(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(n >= 10_000_000 ? 0 : 1)}M`;
  if (n >= 10_000) return `${Math.round(n / 1000)}k`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)}k`;
  return String(Math.round(n));
}

/** The GPU types of a usage, short: `H200` for `NVIDIA H200`. */
function gpuTypes(usage: Usage): string {
  return Object.keys(usage.gpuSeconds ?? {})
    .map((t) => t.replace(/^NVIDIA\s+/i, ''))
    .join(', ');
}

/**
 * The parts of a usage worth a line, most expensive first: `12.0 GPU-h H200`, `1.2M tokens`, `LLM
 * offline (42 calls, no tokens)`, `CPU 3m 02s`, `pages 120`. Nothing known: no parts.
 */
export function usageParts(usage: Usage | undefined, options: { cpu?: boolean } = {}): string[] {
  if (usage === undefined) return [];
  const parts: string[] = [];
  const gpu = gpuSecondsOf(usage);
  if (gpu > 0) parts.push(`${formatGpuHours(gpu)} ${gpuTypes(usage)}`);
  const tokens = tokensOf(usage);
  if (tokens.offline) parts.push(`LLM offline (${formatCount(tokens.calls)} calls, no tokens)`);
  else if (tokens.calls > 0) parts.push(`${formatCount(tokens.input + tokens.output)} tokens`);
  if (options.cpu !== false && usage.cpuMs > 0) parts.push(`CPU ${formatDuration(usage.cpuMs)}`);
  for (const [name, count] of Object.entries(usage.counts ?? {})) parts.push(`${name} ${formatCount(count)}`);
  return parts;
}

/**
 * `96.4 GPU-h H200, 1.2M tokens, CPU 12h 00m 05s = $341.12`; CPU left out with `cpu: false` (a step line
 * names only what is worth naming). Money only with prices, and only when it is more than nothing or
 * something else is named. Empty when there is nothing to say.
 */
export function usageText(usage: Usage | undefined, prices: PriceTable | undefined, options: { cpu?: boolean } = {}): string {
  const parts = usageParts(usage, options);
  if (prices === undefined || usage === undefined) return parts.join(', ');
  const cost = priceUsage(usage, prices);
  if (parts.length === 0 && cost.amount < 0.005 && cost.unpriced.length === 0) return '';
  return parts.length === 0 ? formatCost(cost) : `${parts.join(', ')} = ${formatCost(cost)}`;
}

/** A run's totals, from its record (or its steps, for a record written while it ran). Undefined: made before usage was kept. */
export function recordedUsage(run: {
  usage?: { spent: Usage; saved: Usage } | undefined;
  steps: ReadonlyArray<{ spent?: Usage | undefined; saved?: Usage | undefined }>;
}) {
  return run.usage ?? (run.steps.some((s) => s.spent !== undefined || s.saved !== undefined) ? runUsage(run.steps) : undefined);
}

/** Tokens by model, for a step's details: `gpt-4.1-mini 812k in / 96k out (1,204 calls)`. */
export function tokensByModel(usage: Usage | undefined): string[] {
  return Object.entries(usage?.tokens ?? {}).map(([model, t]) =>
    t.offline === true
      ? `${model}: offline stand-in, ${t.calls.toLocaleString('en-US')} calls, no tokens`
      : `${model}: ${formatCount(t.input)} in / ${formatCount(t.output)} out (${t.calls.toLocaleString('en-US')} calls)`,
  );
}
