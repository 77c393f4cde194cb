// What a step or a run cost, as the terminal says it: resources, and money where the run recorded a
// price table. `run`'s step lines and summary, `show` and `runs --cost` say it alike.
import type { PriceTable, RunRecord, Usage } from '../../cache/records.js';
import { gpuSecondsOf, tokensOf } from '../../engine/core/usage.js';
import { recordedUsage, tokensByModel, usageParts, usageText } from '../../engine/cost/describe-usage.js';
import { costChange, formatMoney, priceUsage } from '../../engine/cost/price-usage.js';
import type { RunComparison } from '../../engine/records/compare-runs.js';

/** The run's price table, if it recorded one. */
export function pricesOf(run: Pick<RunRecord, 'prices'>): PriceTable | undefined {
  return run.prices?.table;
}

/**
 * The run's cost line: `cost — spent: CPU 4.1s, 12k tokens = $0.02; saved by the cache: 96.4 GPU-h H200 = $337.40`.
 * Without a price table it says resources only and where money comes from. Undefined for a record
 * written before usage was recorded.
 */
export function runCostLine(run: RunRecord): string | undefined {
  const usage = recordedUsage(run);
  if (usage === undefined) return undefined;
  const prices = pricesOf(run);
  const spent = usageText(usage.spent, prices) || 'nothing measurable';
  const saved = usageText(usage.saved, prices) || 'nothing';
  const note = prices === undefined ? ' (resources only: no price table; set FLYWHEEL_PRICES or write flywheel.prices.json)' : '';
  return `cost — spent: ${spent}; saved by the cache: ${saved}${note}`;
}

/**
 * A run's cost in a few words, for its line in `flywheel runs`: `spent $29.20, saved $337.20` with a price
 * table, else the GPU-hours and tokens (`spent 8.00 GPU-h H200`); empty when there is nothing to say.
 */
export function runCostBrief(run: RunRecord): string {
  const usage = recordedUsage(run);
  if (usage === undefined) return '';
  const prices = pricesOf(run);
  if (prices !== undefined) {
    const [spent, saved] = [priceUsage(usage.spent, prices), priceUsage(usage.saved, prices)];
    return `spent ${formatMoney(spent.amount, spent.currency)}, saved ${formatMoney(saved.amount, saved.currency)}`;
  }
  const [spent, saved] = [usageParts(usage.spent, { cpu: false }).join(', '), usageParts(usage.saved, { cpu: false }).join(', ')];
  return [spent === '' ? '' : `spent ${spent}`, saved === '' ? '' : `saved ${saved}`].filter((t) => t !== '').join(', ');
}

/** A step's usage for `show`: what it spent and saved, and its tokens by model. */
export function stepUsageLines(step: { spent?: Usage | undefined; saved?: Usage | undefined }, prices: PriceTable | undefined, indent: string): string[] {
  const lines: string[] = [];
  const spent = usageText(step.spent, prices);
  const saved = usageText(step.saved, prices);
  if (spent !== '') lines.push(`${indent}spent: ${spent}`);
  if (saved !== '') lines.push(`${indent}saved: ${saved}`);
  for (const usage of [step.spent, step.saved]) for (const line of tokensByModel(usage)) lines.push(`${indent}  ${line}`);
  return lines;
}

/**
 * How much a usage weighs, for ranking steps by what changed: its money by `prices` (else GPU-seconds,
 * then tokens), CPU time left out: a few milliseconds of it differ between any two runs.
 */
function weight(usage: Usage | null, prices: PriceTable | undefined): number {
  if (usage === null) return 0;
  const { cpuMs: _cpu, ...rest } = usage;
  if (prices !== undefined) return priceUsage({ ...rest, cpuMs: 0 }, prices).amount;
  const tokens = tokensOf(usage);
  return gpuSecondsOf(usage) * 1e6 + tokens.input + tokens.output;
}

/** `(+$12.30)`, `(−$308.00)`: B less A, where both runs priced in one currency. */
function moneyChange(a: Usage | undefined, b: Usage | undefined, pricesA: PriceTable | undefined, pricesB: PriceTable | undefined): string {
  const change = a === undefined || b === undefined ? undefined : costChange(a, b, pricesA, pricesB);
  if (change === undefined) return '';
  return ` (${change.amount >= 0 ? '+' : '−'}${formatMoney(Math.abs(change.amount), change.currency)})`;
}

/**
 * `compare`'s cost section: what each run spent and what the cache saved it, B against A, and the steps
 * whose spending changed most. Empty when neither run kept usage.
 */
export function compareCostLines(a: RunRecord, b: RunRecord, comparison: Pick<RunComparison, 'usage' | 'steps'>): string[] {
  const { a: usageA, b: usageB } = comparison.usage;
  if (usageA === null && usageB === null) return [];
  const [pricesA, pricesB] = [pricesOf(a), pricesOf(b)];
  const side = (usage: Usage | undefined, prices: PriceTable | undefined, none: string): string =>
    usage === undefined ? 'not recorded' : usageText(usage, prices) || none;
  const lines = ['', 'cost (A → B):'];
  lines.push(
    `  spent   A ${side(usageA?.spent, pricesA, 'nothing measurable')} → B ${side(usageB?.spent, pricesB, 'nothing measurable')}${moneyChange(usageA?.spent, usageB?.spent, pricesA, pricesB)}`,
  );
  lines.push(
    `  saved   A ${side(usageA?.saved, pricesA, 'nothing')} → B ${side(usageB?.saved, pricesB, 'nothing')}${moneyChange(usageA?.saved, usageB?.saved, pricesA, pricesB)}`,
  );
  const changed = comparison.steps
    .filter((s) => Math.abs(weight(s.spentA, pricesB) - weight(s.spentB, pricesB)) > 1e-9)
    .sort((x, y) => Math.abs(weight(y.spentB, pricesB) - weight(y.spentA, pricesB)) - Math.abs(weight(x.spentB, pricesB) - weight(x.spentA, pricesB)))
    .slice(0, 3);
  for (const s of changed) {
    const text = (usage: Usage | null, prices: PriceTable | undefined): string =>
      usage === null ? 'nothing' : usageText(usage, prices) || 'nothing measurable';
    lines.push(`  ${s.id}: spent ${text(s.spentA, pricesA)} in A, ${text(s.spentB, pricesB)} in B`);
  }
  if (pricesA === undefined || pricesB === undefined)
    lines.push(
      `  (${pricesA === undefined && pricesB === undefined ? 'neither run had' : `run ${pricesA === undefined ? 'A' : 'B'} had`} a price table: resources, not money)`,
    );
  return lines;
}
