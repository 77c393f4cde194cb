import type { KeyComponents } from '../cache/cache-key.js';
import type { CacheKey } from '../cache/digest.js';
import type { ActionEntry, RunRecord } from '../cache/records.js';
import type { Store } from '../cache/store.js';
import { lookUpResult } from './cache-lookup.js';
import { changedFiles, listFiles } from './code-fingerprint.js';
import { explainMiss, type Explanation } from './core/explain.js';
import type { Resolution } from './core/run-protocol.js';
import type { ResolvedNode } from './validate.js';

/** The run that reasons are relative to, indexed by step id. */
export interface LastRun {
  run: RunRecord | undefined;
  steps: Map<string, RunRecord['steps'][number]>;
}

export function indexLastRun(run: RunRecord | undefined): LastRun {
  return { run, steps: new Map((run?.steps ?? []).map((s) => [s.id, s])) };
}

export type CacheDecision = { hit: true; entry: ActionEntry; warning?: string } | { hit: false; why: Explanation; rejected: boolean };

/**
 * Whether a stored result was computed by other code than the node's current code, its version being
 * the same (the version is in the key): undefined when the code agrees or cannot be compared. `rerun`
 * follows the node's `onCodeChange`. The fingerprint is not in the key, so keys stay the same on every
 * machine and worker; it is judged here, where hits are decided, for both executors.
 */
export function codeChange(node: ResolvedNode, entry: ActionEntry): { rerun: boolean; reason: string } | undefined {
  const files = changedFiles(node.code, entry.code);
  if (files === undefined) return undefined;
  // Anything but an explicit 'warn' re-runs: a cache must not keep other code's result by accident.
  return { rerun: node.onCodeChange !== 'warn', reason: `code changed since this result (version ${node.step.version} unchanged): ${listFiles(files)}` };
}

export interface DecideOptions {
  store: Store;
  /** `all` for --force-all, `step` when this step is named by --force. */
  forced: 'all' | 'step' | undefined;
  /** Remove broken entries and blobs found on the way (a run does; a plan only looks). */
  repair: boolean;
  /** Loaded only when a miss needs explaining. */
  lastRun: () => Promise<LastRun>;
}

/** A hit as the run core takes it: the entry's outputs, who computed them and the time they save (a whole map's: its element count too). */
export function hitResolution(id: string, key: CacheKey, components: KeyComponents, decision: Extract<CacheDecision, { hit: true }>): Resolution {
  const { entry, warning } = decision;
  return {
    kind: 'hit',
    id,
    key,
    components,
    outputs: entry.outputs,
    computedBy: entry.runId,
    savedMs: entry.durationMs,
    ...(warning === undefined ? {} : { warning }),
    ...(entry.elements === undefined ? {} : { elements: entry.elements }),
  };
}

/** Whether a step with a known key is a cache hit or must run, and why. */
export async function decide(node: ResolvedNode, key: CacheKey, components: KeyComponents, options: DecideOptions): Promise<CacheDecision> {
  if (options.forced !== undefined)
    return { hit: false, rejected: false, why: { codes: ['forced'], reason: options.forced === 'all' ? 'forced (--force-all)' : 'forced (--force)' } };
  if (node.step.cache === false)
    return { hit: false, rejected: false, why: { codes: ['cache-disabled'], reason: 'cache disabled for this step (cache: false)' } };
  const found = await lookUpResult(options.store, key, node.maxAgeMs, { repair: options.repair });
  if (found.hit) {
    const changed = codeChange(node, found.entry);
    if (changed === undefined) return { hit: true, entry: found.entry };
    if (changed.rerun) return { hit: false, rejected: false, why: { codes: ['code-changed'], reason: changed.reason } };
    const warning = `${changed.reason}; kept the cached result (onCodeChange: 'warn'): bump the step's version to re-run it`;
    return { hit: true, entry: found.entry, warning };
  }
  if (found.problem) return { hit: false, rejected: true, why: found.problem };
  const last = await options.lastRun();
  return { hit: false, rejected: false, why: explainMiss(components, last.steps.get(node.id), last.run !== undefined) };
}
