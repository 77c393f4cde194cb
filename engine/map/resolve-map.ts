import type { KeyComponents } from '../../cache/cache-key.js';
import { canonicalJson } from '../../cache/canonical.js';
import { FlywheelError } from '../../cache/errors.js';
import type { CacheKey } from '../../cache/digest.js';
import type { Store } from '../../cache/store.js';
import type { Outputs, Resolution } from '../core/run-protocol.js';
import { decide, hitResolution, indexLastRun, type LastRun } from '../decide.js';
import { externalState } from '../external-state.js';
import { mapBounded } from '../map-bounded.js';
import { nodeKey } from '../node-key.js';
import type { ResolvedNode } from '../validate.js';
import { mapOf, readUnits, type MapUnit } from './collection.js';
import { describeRanges, fromRanges, toRanges } from '../core/index-ranges.js';
import type { ElementCounts } from '../../cache/records.js';

/** Element look-ups in flight at once: enough to hide a remote store's latency, few enough for its connection pool. */
const LOOKUPS_AT_ONCE = 32;

/** A map's key and a way to make each invocation's key. */
export interface MapKeys {
  key: CacheKey;
  components: KeyComponents;
  unitKey(unit: MapUnit): Promise<{ key: CacheKey; components: KeyComponents }>;
}

/**
 * The whole map's key, and each invocation's: the key a plain use of the step with that element would
 * have, so a step's `external` hook sees the element's digest as its input's (read once per invocation).
 */
export async function mapKeys(node: ResolvedNode, upstream: (id: string) => Outputs | undefined, env: NodeJS.ProcessEnv): Promise<MapKeys> {
  const over = mapOf(node).over;
  return {
    ...nodeKey(node, upstream, env, await externalState(node, upstream)),
    unitKey: async (unit) => nodeKey(node, upstream, env, await externalState(node, upstream, { [over]: unit.digest }), unit),
  };
}

/** The map's keys, checked against the key the run resolved: a process computing another runs other code. */
export async function plannedMapKeys(
  node: ResolvedNode,
  upstream: (id: string) => Outputs | undefined,
  env: NodeJS.ProcessEnv,
  planned: CacheKey,
): Promise<MapKeys> {
  const keys = await mapKeys(node, upstream, env);
  if (keys.key !== planned) {
    throw new FlywheelError('KEY_MISMATCH', `this process computes key ${keys.key.slice(0, 12)} for map ${node.id}, the run planned ${planned.slice(0, 12)}`, {
      fix: 'deploy the same pipeline code and declared env values to every worker',
    });
  }
  return keys;
}

export interface MapLookupOptions {
  store: Store;
  env: NodeJS.ProcessEnv;
  forced: 'all' | 'step' | undefined;
  repair: boolean;
  lastRun: () => Promise<LastRun>;
}

/**
 * Says what a map will do, for `plan` and the record: `map over 10,000 elements: 9,999 cached, 1 to run
 * (element 4,812 changed)`. Invocations past the last run's count are new; the others changed.
 */
export function describeMapWork(total: number, toRun: readonly number[], previous: ElementCounts | undefined, batchSize: number): string {
  const previousTotal = previous?.total;
  // Those that failed last time are retried, not changed.
  const failedBefore = new Set(previous?.leftOut === undefined ? [] : fromRanges(previous.leftOut));
  const [one, many] = batchSize > 1 ? ['batch', 'batches'] : ['element', 'elements'];
  const amount = (n: number): string => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
  const head = `map over ${amount(total)}: ${(total - toRun.length).toLocaleString('en-US')} cached, ${toRun.length.toLocaleString('en-US')} to run`;
  if (toRun.length === 0) return previousTotal !== undefined && previousTotal > total ? `${head} (${amount(previousTotal - total)} removed)` : head;
  if (previousTotal === undefined || toRun.length === total) return head;
  const named = (list: readonly number[]): string => `${list.length === 1 ? one : many} ${describeRanges(toRanges(list), 3)}`;
  const retried = toRun.filter((i) => failedBefore.has(i));
  const changed = toRun.filter((i) => i < previousTotal && !failedBefore.has(i));
  const added = toRun.filter((i) => i >= previousTotal && !failedBefore.has(i));
  const parts = [
    ...(retried.length > 0 ? [`${named(retried)} failed last time`] : []),
    ...(changed.length > 0 ? [`${named(changed)} changed`] : []),
    ...(added.length > 0 ? [`${named(added)} added`] : []),
  ];
  return `${head} (${parts.join('; ')})`;
}

/**
 * Looks a map up: first its whole collection (one entry: a fully cached map costs one look-up), else
 * each invocation's own entry, in bulk, so only the elements that changed, were added or failed last
 * time run. A plan and a run resolve a map this same way, on either executor.
 */
export async function resolveMap(node: ResolvedNode, upstream: (id: string) => Outputs | undefined, options: MapLookupOptions): Promise<Resolution> {
  const { store, forced, repair } = options;
  const keys = await mapKeys(node, upstream, options.env);
  const { key, components } = keys;
  const whole = await decide(node, key, components, { store, forced, repair, lastRun: options.lastRun });
  if (whole.hit) return hitResolution(node.id, key, components, whole);
  const units = await readUnits(store, node, upstream);
  // Invocations are not explained one by one: the map's own reason and the count say it.
  const unexplained = (): Promise<LastRun> => Promise.resolve(indexLastRun(undefined));
  const unitKeys: CacheKey[] = [];
  const hits = await mapBounded(units, LOOKUPS_AT_ONCE, async (unit) => {
    const own = await keys.unitKey(unit);
    unitKeys[unit.index] = own.key;
    return (await decide(node, own.key, own.components, { store, forced, repair, lastRun: unexplained })).hit;
  });
  // A run (not a plan) stores the list of keys now: its record names it from the start, so `cache gc` spares them.
  const keyList = repair ? (await store.putBytes(Buffer.from(canonicalJson(unitKeys)))).digest : undefined;
  const toRun = units.filter((_, i) => hits[i] !== true).map((u) => u.index);
  const previous = (await options.lastRun()).steps.get(node.id);
  const work = describeMapWork(units.length, toRun, previous?.elements, node.map?.batchSize ?? 1);
  // Unchanged since a run that stored the collection without its failed elements: no whole entry was ever written.
  const why =
    previous?.elements?.leftOut !== undefined && whole.why.codes.length === 1 && whole.why.codes[0] === 'entry-missing'
      ? {
          codes: ['previous-failed' as const],
          reason: `the last run stored the collection without ${previous.elements.failed} failed element${previous.elements.failed === 1 ? '' : 's'}`,
        }
      : whole.why;
  return {
    kind: 'map',
    id: node.id,
    key,
    components,
    codes: why.codes,
    reason: `${why.reason}; ${work}`,
    rejected: whole.rejected,
    elements: { total: units.length, cached: units.length - toRun.length, run: toRanges(toRun), ...(keyList === undefined ? {} : { keys: keyList }) },
  };
}
