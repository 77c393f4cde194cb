// Usage into money, by a price table. Pure: the CLI, the run view's server and `compare` price a
// run's recorded usage by the table the run recorded.
import type { PriceTable, Usage } from '../../cache/records.js';

/** An amount of money, and what was used but has no price in the table (so the amount is a floor). */
export interface Cost {
  amount: number;
  currency: string;
  /** e.g. `GPU NVIDIA A10G`, `tokens of gpt-4o`, `count pages`: used, not priced. */
  unpriced: string[];
}

/** The table's price per GPU-hour for a device name: the longest key the name contains, ignoring case. */
export function gpuHourPrice(table: PriceTable, gpuType: string): number | undefined {
  const name = gpuType.toLowerCase();
  let best: { key: string; price: number } | undefined;
  for (const [key, price] of Object.entries(table.gpuHour ?? {})) {
    if (name.includes(key.toLowerCase()) && (best === undefined || key.length > best.key.length)) best = { key, price };
  }
  return best?.price;
}

/**
 * What `usage` costs by `table`. CPU time is priced only where the table gives `cpuHour` (and is not
 * named as unpriced otherwise: most teams do not bill it); offline stand-ins' tokens cost nothing.
 */
export function priceUsage(usage: Usage | undefined, table: PriceTable): Cost {
  const unpriced: string[] = [];
  let amount = 0;
  if (usage === undefined) return { amount, currency: table.currency, unpriced };
  if (table.cpuHour !== undefined) amount += (usage.cpuMs / 3_600_000) * table.cpuHour;
  for (const [gpu, seconds] of Object.entries(usage.gpuSeconds ?? {})) {
    const price = gpuHourPrice(table, gpu);
    if (price === undefined) {
      if (seconds > 0) unpriced.push(`GPU ${gpu}`);
    } else amount += (seconds / 3600) * price;
  }
  for (const [model, tokens] of Object.entries(usage.tokens ?? {})) {
    if (tokens.offline === true) continue;
    const price = table.tokensPerMillion?.[model] ?? table.tokensPerMillion?.['*'];
    if (price === undefined) {
      if (tokens.input + tokens.output > 0) unpriced.push(`tokens of ${model}`);
    } else amount += (tokens.input * price.input + tokens.output * price.output) / 1_000_000;
  }
  for (const [name, count] of Object.entries(usage.counts ?? {})) {
    const price = table.counts?.[name];
    if (price === undefined) {
      if (count > 0) unpriced.push(`count ${name}`);
    } else amount += count * price;
  }
  return { amount, currency: table.currency, unpriced };
}

/** B's cost less A's, each by its run's table, where both were priced in one currency; undefined otherwise. */
export function costChange(
  a: Usage,
  b: Usage,
  pricesA: PriceTable | undefined,
  pricesB: PriceTable | undefined,
): { amount: number; currency: string } | undefined {
  if (pricesA === undefined || pricesB === undefined || pricesA.currency !== pricesB.currency) return undefined;
  return { amount: priceUsage(b, pricesB).amount - priceUsage(a, pricesA).amount, currency: pricesB.currency };
}

const SYMBOLS: Record<string, string> = { USD: '$', EUR: '€', GBP: '£', JPY: '¥' };

/** `$1,234.56`, `$0.0042`, `12.30 CHF`: two decimals; below a cent two significant digits, so a small cost never reads as zero. */
export function formatMoney(amount: number, currency: string): string {
  const symbol = SYMBOLS[currency];
  // Below a hundredth of a cent the figure says nothing more than that it is next to nothing.
  if (amount > 0 && amount < 0.0001) return symbol === undefined ? `<0.0001 ${currency}` : `<${symbol}0.0001`;
  const small = amount !== 0 && Math.abs(amount) < 0.01;
  const number = small
    ? amount.toLocaleString('en-US', { maximumSignificantDigits: 2 })
    : amount.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  if (symbol === undefined) return `${number} ${currency}`;
  return amount < 0 ? `-${symbol}${number.slice(1)}` : `${symbol}${number}`;
}

/** A cost as text, with `(+ unpriced …)` when some of the usage has no price. */
export function formatCost(cost: Cost): string {
  const floor = cost.unpriced.length === 0 ? '' : ` (+ unpriced: ${cost.unpriced.join(', ')})`;
  return `${formatMoney(cost.amount, cost.currency)}${floor}`;
}
