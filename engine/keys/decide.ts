import type { KeyComponents } from '../../cache/cache-key.js';
import type { CacheKey } from '../../cache/digest.js';
import type { TrustedKeys } from '../../cache/entry-signature.js';
import type { ActionEntry } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import { lookUpResult } from './cache-lookup.js';
import { changedFiles, listFiles } from '../code/code-fingerprint.js';
import type { Explanation } from '../core/explain.js';
import type { Resolution } from '../core/run-protocol.js';
import type { ResolvedNode } from '../validate/validate.js';

/**
 * Whether a stored result may serve a node or a map element now: a hit, a hit the user should hear
 * about (`otherCode`: computed by other code, kept under onCodeChange 'warn'), or a miss with reason
 * codes and a sentence (`rejected` when an entry was there but unusable).
 */
export type CacheDecision =
  { hit: true; entry: ActionEntry; otherCode?: string; warning?: string; layer?: string } | { hit: false; why: Explanation; rejected: boolean };

export interface DecideOptions {
  store: Store;
  /** `all` for --force-all, `step` when this step is named by --force. */
  forced: 'all' | 'step' | undefined;
  /** Remove broken entries and blobs found on the way (a run does; a plan only looks). */
  repair: boolean;
  /** Why a result that is simply not stored is missing: a node's reason relative to the last run. Default `entry-missing`. */
  explainAbsent?: () => Promise<Explanation>;
  /** See LookupOptions.verifyBlobs: off only for a map's assembly, which reads the bytes it assembles. */
  verifyBlobs?: boolean;
  /** The moment maxAge is judged at: now, or for a map's assembly the look-up that chose its elements. */
  now?: number;
  /** The keys a usable entry must be signed by (`trustFromEnv(env).trusted`); undefined when the run trusts entries as written. */
  trusted: TrustedKeys | undefined;
}

/** A result that is simply not in the store, when nothing more can be said (a map element). */
export const ABSENT: Explanation = { codes: ['entry-missing'], reason: 'no cached result' };

/** The warning on a result of other code that was kept: of one step, or of `count` elements of a map. */
export function keptWarning(otherCode: string, count?: { kept: number; total: number }): string {
  const what =
    count === undefined
      ? 'the cached result'
      : `the cached results of ${count.kept === count.total ? 'all ' : ''}${count.kept.toLocaleString('en-US')}${count.kept === count.total ? '' : ` of ${count.total.toLocaleString('en-US')}`} elements`;
  return `${otherCode}; kept ${what} (onCodeChange: 'warn'): bump the step's version to re-run ${count === undefined || count.kept === 1 ? 'it' : 'them'}`;
}

/**
 * Judges a found entry against the node's code. The fingerprint is not in the key, so keys stay the same
 * on every machine and worker; other code under the same version re-runs (`code-changed`) unless the
 * node says `onCodeChange: 'warn'`. Entries without a fingerprint, or of another scheme, are trusted.
 */
function judgeCode(node: ResolvedNode, entry: ActionEntry): CacheDecision {
  const files = changedFiles(node.code, entry.code);
  if (files === undefined) return { hit: true, entry };
  const otherCode = `code changed since this result (version ${node.step.version} unchanged): ${listFiles(files)}`;
  // Anything but an explicit 'warn' re-runs: a cache must not keep other code's result by accident.
  if (node.onCodeChange !== 'warn') return { hit: false, rejected: false, why: { codes: ['code-changed'], reason: otherCode } };
  return {
    hit: true,
    entry,
    otherCode,
    warning: keptWarning(otherCode, entry.elements === undefined ? undefined : { kept: entry.elements.total, total: entry.elements.total }),
  };
}

/**
 * The one rule for using a stored result, for a node, a map element, the look-again after claiming a
 * key and a map's assembly alike: forced and uncached steps miss; otherwise the result for this key
 * (this code's own entry first) must be signed by a trusted key (where the run trusts some), stored
 * whole, within maxAge, and of this code (see judgeCode).
 */
export async function decide(node: ResolvedNode, key: CacheKey, options: DecideOptions): Promise<CacheDecision> {
  if (options.forced !== undefined)
    return { hit: false, rejected: false, why: { codes: ['forced'], reason: options.forced === 'all' ? 'forced (--force-all)' : 'forced (--force)' } };
  if (node.step.cache === false)
    return { hit: false, rejected: false, why: { codes: ['cache-disabled'], reason: 'cache disabled for this step (cache: false)' } };
  const found = await lookUpResult(options.store, key, node.code, node.maxAgeMs, {
    repair: options.repair,
    trusted: options.trusted,
    ...(options.verifyBlobs === undefined ? {} : { verifyBlobs: options.verifyBlobs }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  if (found.hit) {
    const judged = judgeCode(node, found.entry);
    return judged.hit && found.layer !== undefined ? { ...judged, layer: found.layer } : judged;
  }
  if (found.problem) return { hit: false, rejected: true, why: found.problem };
  return { hit: false, rejected: false, why: options.explainAbsent === undefined ? ABSENT : await options.explainAbsent() };
}

/** A hit as the run core takes it: the entry's outputs, who computed them, the time they save and whether the step declined (a whole map's: its element count too). */
export function hitResolution(id: string, key: CacheKey, components: KeyComponents, decision: Extract<CacheDecision, { hit: true }>): Resolution {
  const { entry, warning, layer } = decision;
  return {
    kind: 'hit',
    id,
    key,
    components,
    outputs: entry.outputs,
    computedBy: entry.runId,
    savedMs: entry.durationMs,
    ...(warning === undefined ? {} : { warning }),
    ...(layer === undefined ? {} : { layer }),
    ...(entry.elements === undefined ? {} : { elements: entry.elements }),
    ...(entry.declined === undefined ? {} : { declined: entry.declined }),
    ...(entry.usage === undefined ? {} : { usage: entry.usage }),
  };
}
