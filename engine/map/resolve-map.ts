import { canonicalJson } from '../../cache/canonical.js';
import type { CacheKey } from '../../cache/digest.js';
import { WHICH_ELEMENTS, type ElementCounts, type ElementReason, type ReasonCode, type Usage } from '../../cache/records.js';
import { addUsage } from '../core/usage.js';
import type { Store } from '../../cache/store.js';
import { trustFromEnv } from '../../cache/trust-config.js';
import { describeRanges, fromRanges, toRanges } from '../core/index-ranges.js';
import type { Explanation } from '../core/explain.js';
import type { Outputs, Resolution } from '../core/run-protocol.js';
import { decide, hitResolution, keptWarning, type CacheDecision } from '../keys/decide.js';
import { mapBounded } from '../helpers/map-bounded.js';
import { elementKeys, keyOf } from '../keys/node-key.js';
import type { ResolvedNode } from '../validate/validate.js';
import { readElements } from './collection.js';

/** Element look-ups in flight at once: enough to hide a remote store's latency, few enough for its connection pool. */
const LOOKUPS_AT_ONCE = 32;

export interface MapLookupOptions {
  store: Store;
  env: NodeJS.ProcessEnv;
  forced: 'all' | 'step' | undefined;
  repair: boolean;
  /** Why the whole map's result is not stored (relative to the last run), and the map's record in that run. */
  explainAbsent: () => Promise<Explanation>;
  previous: () => Promise<ElementCounts | undefined>;
}

/** `1 element`, `12 elements`: a map's counts are of elements, whatever its batchSize. */
const amount = (n: number): string => `${n.toLocaleString('en-US')} ${n === 1 ? 'element' : 'elements'}`;

/**
 * Why an element that missed must run. The decision's own reason when it has one (code changed, expired,
 * a broken blob); a result simply not stored is told apart with the last run's record: it failed there,
 * it is new (past the last run's count), or what it receives changed.
 */
function elementWhy(
  decision: Extract<CacheDecision, { hit: false }>,
  index: number,
  failedBefore: ReadonlySet<number>,
  previousTotal: number | undefined,
): Explanation {
  const { why } = decision;
  if (decision.rejected || why.codes.some((c) => c !== 'entry-missing')) return why;
  if (failedBefore.has(index)) return { codes: ['previous-failed'], reason: 'failed last time' };
  if (previousTotal === undefined) return { codes: ['first-run'], reason: 'first run' };
  return index >= previousTotal ? { codes: ['upstream-changed'], reason: 'added' } : { codes: ['upstream-changed'], reason: 'changed' };
}

/** Groups indices by reason, in order of first appearance. */
function groupByReason(entries: ReadonlyArray<{ index: number; why: Explanation }>): ElementReason[] {
  const groups = new Map<string, { codes: ReasonCode[]; reason: string; indices: number[] }>();
  for (const { index, why } of entries) {
    let group = groups.get(why.reason);
    if (group === undefined) groups.set(why.reason, (group = { codes: why.codes, reason: why.reason, indices: [] }));
    group.indices.push(index);
  }
  return [...groups.values()].map((g) => ({ codes: g.codes, reason: g.reason, count: g.indices.length, indices: toRanges(g.indices) }));
}

/** Codes the map's own reason states for every element. */
const OWN_REASON = new Set<ReasonCode>(['forced', 'cache-disabled', 'first-run']);

/**
 * Says what a map will do, for `plan` and the record: `map over 10,000 elements: 9,999 cached, 1 to run
 * (element 4,812 changed)`, or with a reason of the elements' own: `(19 of 20 elements: code changed since
 * this result (version 1 unchanged): steps/x.ts; element 7 failed last time)`.
 */
export function describeMapWork(
  total: number,
  toRun: number,
  reasons: readonly ElementReason[],
  previousTotal: number | undefined,
  batchSize: number,
  ownReason?: string,
): string {
  const each = batchSize > 1 ? ` (${batchSize.toLocaleString('en-US')} items each)` : '';
  const head = `map over ${amount(total)}${each}: ${(total - toRun).toLocaleString('en-US')} cached, ${toRun.toLocaleString('en-US')} to run`;
  if (toRun === 0) return previousTotal !== undefined && previousTotal > total ? `${head} (${amount(previousTotal - total)} removed)` : head;
  const parts = reasons.flatMap((r) => {
    // What the map's own reason says of every element (its input changed, its code changed) is not said again.
    if (r.count === total && r.reason === ownReason) return [];
    if (WHICH_ELEMENTS.has(r.reason))
      return r.count === total && r.reason === 'changed' ? [] : [`${r.count === 1 ? 'element' : 'elements'} ${describeRanges(r.indices, 3)} ${r.reason}`];
    const share = r.count === total && total > 1 ? `all ${amount(total)}` : `${r.count.toLocaleString('en-US')} of ${amount(total)}`;
    return [`${share}: ${r.reason}`];
  });
  return parts.length === 0 ? head : `${head} (${parts.join('; ')})`;
}

/**
 * Looks a map up: first its whole collection (one entry: a fully cached map costs one look-up), else
 * each element's own entry, in bulk, each by the same rule as a step, so only the elements that
 * changed, were added, failed last time or were made by other code run, and the map says which and why.
 * A plan and a run resolve a map this same way, on either executor.
 */
export async function resolveMap(node: ResolvedNode, upstream: (id: string) => Outputs | undefined, options: MapLookupOptions): Promise<Resolution> {
  const { store, forced, repair } = options;
  const { trusted } = trustFromEnv(options.env);
  const { key, components } = await keyOf(node, upstream, options.env);
  const whole = await decide(node, key, { store, forced, repair, trusted, explainAbsent: options.explainAbsent });
  if (whole.hit) return hitResolution(node.id, key, components, whole);
  const elements = await readElements(store, node, upstream);
  const keys: CacheKey[] = [];
  const keyOfElement = elementKeys(node, upstream, options.env);
  const decisions = await mapBounded(elements, LOOKUPS_AT_ONCE, async (element) => {
    const own = await keyOfElement(element);
    keys[element.index] = own.key;
    return decide(node, own.key, { store, forced, repair, trusted });
  });
  // A run (not a plan) stores the list of keys now: its record names it from the start, so `cache gc` spares them.
  const keyList = repair ? (await store.putBytes(Buffer.from(canonicalJson(keys)))).digest : undefined;
  const previous = await options.previous();
  const failedBefore = new Set(previous?.leftOut === undefined ? [] : fromRanges(previous.leftOut));
  const misses: Array<{ index: number; why: Explanation }> = [];
  // Results of other code kept under 'warn': one group (their files may differ element by element: the first names them).
  const kept: number[] = [];
  let keptReason: string | undefined;
  let saved: Usage | undefined;
  decisions.forEach((decision, index) => {
    if (!decision.hit) misses.push({ index, why: elementWhy(decision, index, failedBefore, previous?.total) });
    else saved = addUsage(saved, decision.entry.usage);
    if (decision.hit && decision.otherCode !== undefined) {
      kept.push(index);
      keptReason ??= decision.otherCode;
    }
  });
  // Forced, uncached and first runs: the map's own reason says it for every element.
  const reasons = groupByReason(misses).filter((r) => !r.codes.some((c) => OWN_REASON.has(c)));
  const batchSize = node.map?.batchSize ?? 1;
  // The whole map's reason, unless it only says the collection is not stored: its elements say more.
  const own = whole.why.codes.every((c) => c === 'entry-missing') && reasons.length > 0 ? undefined : whole.why;
  const work = describeMapWork(elements.length, misses.length, reasons, previous?.total, batchSize, own?.reason);
  const codes = [...new Set([...(own?.codes ?? []), ...reasons.flatMap((r) => r.codes)])];
  const elementKept: ElementReason | undefined =
    keptReason === undefined ? undefined : { codes: ['code-changed'], reason: keptReason, count: kept.length, indices: toRanges(kept) };
  return {
    kind: 'map',
    id: node.id,
    key,
    components,
    codes: codes.length === 0 ? whole.why.codes : codes,
    reason: own === undefined ? work : `${own.reason}; ${work}`,
    rejected: whole.rejected,
    ...(elementKept === undefined ? {} : { warning: keptWarning(elementKept.reason, { kept: elementKept.count, total: elements.length }) }),
    ...(saved === undefined ? {} : { saved }),
    elements: {
      total: elements.length,
      cached: elements.length - misses.length,
      run: toRanges(misses.map((m) => m.index)),
      ...(reasons.length === 0 ? {} : { reasons }),
      ...(elementKept === undefined ? {} : { kept: elementKept }),
      ...(keyList === undefined ? {} : { keys: keyList }),
    },
  };
}
