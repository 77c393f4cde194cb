// What runs and steps cost, as the run view shows it: worked out here from the recorded usage and the
// run's price table with the terminal's own helpers (engine/cost), so the browser app shows ready-made
// text and amounts and the page says what `flywheel run` and `show` say.
import type { PriceTable, RunRecord, Usage } from '../../cache/records.js';
import { gpuSecondsOf, tokensOf } from '../../engine/core/usage.js';
import { formatCount, formatGpuHours, recordedUsage, tokensByModel, usageParts, usageText } from '../../engine/cost/describe-usage.js';
import { costChange, formatMoney, priceUsage } from '../../engine/cost/price-usage.js';
import { formatDuration } from '../../engine/durations.js';
import type { CompareCost, CostSide, RunCost, RunSummaryCost, StepCost } from './api-types.js';

const NOTHING: Usage = { wallMs: 0, cpuMs: 0 };

/** GPU-hours and tokens, the resources worth a narrow place; CPU time when there are neither. */
function shortResources(usage: Usage): string {
  const notable = usageParts(
    {
      wallMs: 0,
      cpuMs: 0,
      ...(usage.gpuSeconds === undefined ? {} : { gpuSeconds: usage.gpuSeconds }),
      ...(usage.tokens === undefined ? {} : { tokens: usage.tokens }),
    },
    { cpu: false },
  );
  if (notable.length > 0) return notable.join(', ');
  return usage.cpuMs > 0 ? `CPU ${formatDuration(usage.cpuMs)}` : '';
}

/** One side of a cost (spent or saved) by a price table, or as resources without one. */
export function costSide(usage: Usage | undefined, prices: PriceTable | undefined): CostSide {
  const u = usage ?? NOTHING;
  const resources = usageParts(u).join(', ');
  const tokens = tokensByModel(u);
  const heavy = gpuSecondsOf(u) > 0 || tokensOf(u).calls > 0;
  if (prices === undefined) return { resources, text: resources, amount: null, money: null, unpriced: [], short: shortResources(u), notable: heavy, tokens };
  const cost = priceUsage(u, prices);
  const money = formatMoney(cost.amount, cost.currency);
  return {
    resources,
    text: usageText(u, prices),
    amount: cost.amount,
    money,
    unpriced: cost.unpriced,
    short: money,
    notable: cost.amount >= 0.005 || heavy,
    tokens,
  };
}

/** A run's cost and its steps'; null for a record written before usage was kept. */
export function runCost(run: RunRecord): RunCost | null {
  const usage = recordedUsage(run);
  if (usage === undefined) return null;
  const table = run.prices?.table;
  const steps: Record<string, StepCost> = {};
  for (const step of run.steps) {
    if (step.spent === undefined && step.saved === undefined) continue;
    steps[step.id] = {
      spent: step.spent === undefined ? null : costSide(step.spent, table),
      saved: step.saved === undefined ? null : costSide(step.saved, table),
    };
  }
  return {
    spent: costSide(usage.spent, table),
    saved: costSide(usage.saved, table),
    prices: run.prices === undefined ? null : { currency: run.prices.table.currency, source: run.prices.source },
    steps,
  };
}

/** A run's cost for the runs list; null for a record written before usage was kept. */
export function summaryCost(run: RunRecord): RunSummaryCost | null {
  const usage = recordedUsage(run);
  if (usage === undefined) return null;
  const table = run.prices?.table;
  const spent = costSide(usage.spent, table);
  const saved = costSide(usage.saved, table);
  const detail = `spent: ${spent.text || 'nothing measurable'}; saved by the cache: ${saved.text || 'nothing'}${table === undefined ? ' (resources only: no price table)' : ''}`;
  // Nothing saved (the first run of its kind) says nothing rather than `$0.00`.
  return { spent: spent.short, saved: saved.resources === '' ? '' : saved.short, priced: table !== undefined, detail };
}

const signed = (delta: number, text: (magnitude: number) => string): string => `${delta < 0 ? '-' : '+'}${text(Math.abs(delta))}`;

/** B less A by resource: `+96.0 GPU-h, -1.2M tokens, CPU +1.1s`; `no change` when every figure is the same. */
export function usageChange(a: Usage, b: Usage): string {
  const parts: string[] = [];
  const gpu = gpuSecondsOf(b) - gpuSecondsOf(a);
  if (gpu !== 0) parts.push(signed(gpu, formatGpuHours));
  const ta = tokensOf(a);
  const tb = tokensOf(b);
  const tokens = tb.input + tb.output - (ta.input + ta.output);
  if (tokens !== 0) parts.push(`${signed(tokens, formatCount)} tokens`);
  const cpu = b.cpuMs - a.cpuMs;
  if (cpu !== 0) parts.push(`CPU ${signed(cpu, formatDuration)}`);
  return parts.length === 0 ? 'no change' : parts.join(', ');
}

/** B less A in money, where both were priced in one currency; else by resource. */
function change(a: Usage, b: Usage, tableA: PriceTable | undefined, tableB: PriceTable | undefined): string {
  const money = costChange(a, b, tableA, tableB);
  if (money === undefined) return usageChange(a, b);
  return money.amount === 0 ? 'no change' : signed(money.amount, (m) => formatMoney(m, money.currency));
}

/** Two runs' costs side by side and the change from A to B; null when neither recorded usage. */
export function compareCost(a: RunRecord, b: RunRecord): CompareCost | null {
  const costA = runCost(a);
  const costB = runCost(b);
  if (costA === null && costB === null) return null;
  const usageA = recordedUsage(a);
  const usageB = recordedUsage(b);
  const side = (cost: RunCost | null) => (cost === null ? null : { spent: cost.spent, saved: cost.saved, prices: cost.prices });
  return {
    a: side(costA),
    b: side(costB),
    change:
      usageA === undefined || usageB === undefined
        ? null
        : {
            spent: change(usageA.spent, usageB.spent, a.prices?.table, b.prices?.table),
            saved: change(usageA.saved, usageB.saved, a.prices?.table, b.prices?.table),
          },
  };
}
