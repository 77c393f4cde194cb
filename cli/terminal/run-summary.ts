import { shownStatus } from '../../cache/process-alive.js';
import { declinedSteps, type ElementCounts, type PriceTable, type RunRecord, type StepRunRecord } from '../../cache/records.js';
import { priceUsage } from '../../engine/cost/price-usage.js';

/** How many steps a note names at most before `…`. */
const NAMED = 5;

/**
 * `1 declined (deploy)`: the steps that decided not to act (`ctx.decline`), counted and named, with `where`
 * after the word (` in B`); empty when none did. `flywheel run`, `runs` and `compare` count them alike.
 */
export function declinedNote(steps: readonly Pick<StepRunRecord, 'id' | 'declined'>[], where = ''): string {
  const ids = declinedSteps(steps);
  if (ids.length === 0) return '';
  return `${ids.length} declined${where} (${ids.slice(0, NAMED).join(', ')}${ids.length > NAMED ? ', …' : ''})`;
}

/** A map step's elements: the counts first, then whatever else its record holds (ranges, failures, keys). */
function elementsSummary(elements: ElementCounts): ElementCounts {
  const { total, executed, cached, failed, ...rest } = elements;
  return { total, executed, cached, failed, ...rest };
}

/** A run's usage in money by its price table: amounts, currency and what had no price. */
function runCost(usage: NonNullable<RunRecord['usage']>, table: PriceTable) {
  const spent = priceUsage(usage.spent, table);
  const saved = priceUsage(usage.saved, table);
  return { currency: table.currency, spent: spent.amount, saved: saved.amount, unpriced: [...new Set([...spent.unpriced, ...saved.unpriced])] };
}

/** The `--json` document: stable fields for scripts and CI. */
export function runSummary(run: RunRecord): unknown {
  return {
    runId: run.runId,
    pipeline: run.pipeline,
    status: shownStatus(run),
    durationMs: run.durationMs,
    steps: run.steps.map((s) => ({
      id: s.id,
      status: s.status,
      cacheKey: s.cacheKey ?? null,
      reason: s.reason,
      reasonCodes: s.reasonCodes,
      outputs: Object.fromEntries(Object.entries(s.outputs).map(([name, o]) => [name, o.digest])),
      durationMs: s.durationMs ?? 0,
      ...(s.savedMs === undefined ? {} : { savedMs: s.savedMs }),
      ...(s.error === undefined ? {} : { error: s.error }),
      ...(s.declined === undefined ? {} : { declined: s.declined }),
      ...(s.warning === undefined ? {} : { warning: s.warning }),
      ...(s.layer === undefined ? {} : { layer: s.layer }),
      ...(s.elements === undefined ? {} : { elements: elementsSummary(s.elements) }),
      ...(s.spent === undefined ? {} : { spent: s.spent }),
      ...(s.saved === undefined ? {} : { saved: s.saved }),
    })),
    ...(run.usage === undefined ? {} : { usage: run.usage }),
    ...(run.usage === undefined || run.prices === undefined ? {} : { cost: runCost(run.usage, run.prices.table) }),
  };
}
