// `flywheel runs --cost`: what a pipeline's runs spent and what the cache saved them, run by run and in
// total ("the last 8 weekly runs: spent …, saved …"), each run priced by the table it recorded.
import { shownStatus } from '../../cache/process-alive.js';
import type { RunRecord, Usage } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import { addUsage } from '../../engine/core/usage.js';
import { recordedUsage, usageText } from '../../engine/cost/describe-usage.js';
import { formatMoney, priceUsage } from '../../engine/cost/price-usage.js';
import { listRuns } from '../../engine/records/run-history.js';

interface Totals {
  spent: Usage | undefined;
  saved: Usage | undefined;
  /** Money by currency: runs priced in different currencies are not added up. */
  money: Map<string, { spent: number; saved: number }>;
  unpriced: number;
  unrecorded: number;
}

function total(runs: readonly RunRecord[]): Totals {
  const totals: Totals = { spent: undefined, saved: undefined, money: new Map(), unpriced: 0, unrecorded: 0 };
  for (const run of runs) {
    const usage = recordedUsage(run);
    if (usage === undefined) {
      totals.unrecorded++;
      continue;
    }
    totals.spent = addUsage(totals.spent, usage.spent);
    totals.saved = addUsage(totals.saved, usage.saved);
    const table = run.prices?.table;
    if (table === undefined) {
      totals.unpriced++;
      continue;
    }
    const money = totals.money.get(table.currency) ?? { spent: 0, saved: 0 };
    money.spent += priceUsage(usage.spent, table).amount;
    money.saved += priceUsage(usage.saved, table).amount;
    totals.money.set(table.currency, money);
  }
  return totals;
}

const day = (iso: string): string => iso.slice(0, 10);

export async function runsCostCommand(
  args: { pipeline: string | undefined; limit: number; sinceMs: number | undefined; json: boolean },
  store: Store,
): Promise<number> {
  const since = args.sinceMs === undefined ? undefined : new Date(Date.now() - args.sinceMs).toISOString();
  const runs = (await listRuns(store, args.pipeline)).filter((r) => since === undefined || r.startedAt >= since).slice(0, args.limit);
  const totals = total(runs);
  if (args.json) {
    const rows = runs.map((r) => {
      const usage = recordedUsage(r);
      const table = r.prices?.table;
      return {
        runId: r.runId,
        pipeline: r.pipeline,
        status: shownStatus(r),
        startedAt: r.startedAt,
        spent: usage?.spent ?? null,
        saved: usage?.saved ?? null,
        cost:
          table === undefined || usage === undefined
            ? null
            : { currency: table.currency, spent: priceUsage(usage.spent, table), saved: priceUsage(usage.saved, table) },
      };
    });
    const money = Object.fromEntries(totals.money);
    process.stdout.write(`${JSON.stringify({ runs: rows, total: { spent: totals.spent ?? null, saved: totals.saved ?? null, money } }, null, 2)}\n`);
    return 0;
  }
  const which = `${args.pipeline === undefined ? '' : ` of ${args.pipeline}`}`;
  if (runs.length === 0) {
    process.stdout.write(`no runs${which}${since === undefined ? '' : ` since ${day(since)}`} in ${store.description}\n`);
    return 0;
  }
  const oldest = runs[runs.length - 1] as RunRecord;
  const newest = runs[0] as RunRecord;
  process.stdout.write(
    `cost of the last ${runs.length} run${runs.length === 1 ? '' : 's'}${which} (${day(oldest.startedAt)} → ${day(newest.startedAt)}), newest first:\n`,
  );
  for (const r of runs) {
    const usage = recordedUsage(r);
    const table = r.prices?.table;
    const text =
      usage === undefined
        ? 'not recorded (a run from before Flywheel kept usage)'
        : `spent ${usageText(usage.spent, table) || 'nothing measurable'} · saved ${usageText(usage.saved, table) || 'nothing'}`;
    process.stdout.write(`  ${r.runId}  ${r.pipeline.padEnd(16)} ${shownStatus(r).padEnd(10)} ${text}\n`);
  }
  const money = [...totals.money].map(([currency, m]) => ({ spent: formatMoney(m.spent, currency), saved: formatMoney(m.saved, currency) }));
  const spentMoney = money.map((m) => m.spent).join(' + ');
  const savedMoney = money.map((m) => m.saved).join(' + ');
  const spent = usageText(totals.spent, undefined) || 'nothing measurable';
  const saved = usageText(totals.saved, undefined) || 'nothing';
  process.stdout.write(
    `total: spent ${spent}${spentMoney === '' ? '' : ` = ${spentMoney}`}; saved by the cache ${saved}${savedMoney === '' ? '' : ` = ${savedMoney}`}\n`,
  );
  if (totals.unpriced > 0)
    process.stdout.write(
      `  ${totals.unpriced} of these runs had no price table: their usage counts above, not their money (set FLYWHEEL_PRICES or write flywheel.prices.json)\n`,
    );
  if (totals.unrecorded > 0) process.stdout.write(`  ${totals.unrecorded} of these runs recorded no usage (made before Flywheel kept it)\n`);
  return 0;
}
