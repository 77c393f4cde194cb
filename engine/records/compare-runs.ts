import { declinedSteps, type ReasonCode, type RunRecord, type StepRunRecord, type StepStatus, type Usage } from '../../cache/records.js';
import { recordedUsage } from '../cost/describe-usage.js';
import { explainMiss, type Explanation } from '../core/explain.js';

/**
 * What happened to one step between run A and run B:
 * - `same`: same cache key in both, so the same result;
 * - `reran`: B executed the step under another key than A's (or A had none), with the reason;
 * - `reused`: B's key differs from A's, but B found that result cached (another run had computed it):
 *   counted as the run counts it, cached, not executed;
 * - `new` / `removed`: the step is only in B / only in A;
 * - `failed` / `skipped`: B has no result because the step failed or was skipped;
 * - `not-run`: B never got to the step (an interrupted run).
 */
export type StepChange = 'same' | 'reran' | 'reused' | 'new' | 'removed' | 'failed' | 'skipped' | 'not-run';

/** One output of a step in both runs: `identical` bytes, `changed` bytes, or produced by only one run. */
export interface OutputComparison {
  name: string;
  kind: string;
  change: 'identical' | 'changed' | 'only-in-a' | 'only-in-b';
  a: { digest: string; size: number } | null;
  b: { digest: string; size: number } | null;
}

export interface StepComparison {
  /** The node id in the pipeline. */
  id: string;
  /** The step type id (`flow-evaluate`), B's when the step is in B. */
  step: string;
  change: StepChange;
  /** Why, relative to run A: the codes and sentence `plan` would give. */
  codes: ReasonCode[];
  reason: string;
  statusA: StepStatus | null;
  statusB: StepStatus | null;
  cacheKeyA: string | null;
  cacheKeyB: string | null;
  /** Re-ran and every output came out byte for byte as in A: nothing below it had to re-run for it. */
  earlyCutoff: boolean;
  outputs: OutputComparison[];
  error: { code: string; message: string } | null;
  /** The step ran but decided not to act (`ctx.decline`) in run A / run B: its reason, or null. Orthogonal to `change`. */
  declinedA: string | null;
  declinedB: string | null;
  /** What each run's executions of the step consumed (null: it executed nothing, or the run kept no usage). */
  spentA: Usage | null;
  spentB: Usage | null;
}

export interface RunComparison {
  pipeline: string;
  steps: StepComparison[];
  counts: Record<StepChange, number>;
  /** The steps each run declined (`ctx.decline`), by id: as each run's own summary counts them. */
  declined: { a: string[]; b: string[] };
  /** Each run's totals spent and saved by the cache (null: a run from before usage was kept). */
  usage: { a: { spent: Usage; saved: Usage } | null; b: { spent: Usage; saved: Usage } | null };
}

const HAS_RESULT: ReadonlySet<StepStatus> = new Set(['executed', 'cached']);

function compareOutputs(a: StepRunRecord | undefined, b: StepRunRecord | undefined): OutputComparison[] {
  const before = a?.outputs ?? {};
  const after = b?.outputs ?? {};
  const names = [...new Set([...Object.keys(after), ...Object.keys(before)])].sort();
  return names.map((name) => {
    const was = before[name];
    const now = after[name];
    const change = was === undefined ? 'only-in-b' : now === undefined ? 'only-in-a' : was.digest === now.digest ? 'identical' : 'changed';
    return {
      name,
      kind: (now ?? was)?.kind ?? 'file',
      change,
      a: was === undefined ? null : { digest: was.digest, size: was.size },
      b: now === undefined ? null : { digest: now.digest, size: now.size },
    };
  });
}

/** Why B's result differs from A's, in the words `plan` uses, relative to run A instead of "the last run". */
function whyDifferent(a: StepRunRecord, b: StepRunRecord): Explanation {
  if (b.components === undefined) return { codes: b.reasonCodes, reason: b.reason };
  if (a.components === undefined) return { codes: ['previous-failed'], reason: `${a.status} in run A before it had a key` };
  const explained = explainMiss(b.components, a, true);
  // explainMiss's fall-backs speak of "the last run" and of a missing entry; here they mean run A.
  if (explained.codes.includes('previous-failed')) return { codes: explained.codes, reason: `${a.status} in run A` };
  if (explained.codes.includes('entry-missing')) return { codes: [], reason: 'another key with the same readable components (key format changed?)' };
  return explained;
}

function compareStep(a: StepRunRecord | undefined, b: StepRunRecord | undefined): StepComparison {
  const outputs = compareOutputs(a, b);
  const make = (change: StepChange, why: Explanation, earlyCutoff = false): StepComparison => ({
    id: (b ?? a)?.id ?? '',
    step: (b ?? a)?.step ?? '',
    change,
    codes: why.codes,
    reason: why.reason,
    statusA: a?.status ?? null,
    statusB: b?.status ?? null,
    cacheKeyA: a?.cacheKey ?? null,
    cacheKeyB: b?.cacheKey ?? null,
    earlyCutoff,
    outputs,
    error: b?.error ?? null,
    declinedA: a?.declined ?? null,
    declinedB: b?.declined ?? null,
    spentA: a?.spent ?? null,
    spentB: b?.spent ?? null,
  });
  if (b === undefined) return make('removed', { codes: [], reason: 'not in run B' });
  if (a === undefined) return make('new', { codes: ['new-step'], reason: 'new step: not in run A' });
  const sameKey = a.cacheKey !== undefined && a.cacheKey === b.cacheKey;
  // A failed step's own reason is relative to whatever ran before it; relative to A, say what changed.
  if (b.status === 'failed') return make('failed', sameKey || b.components === undefined ? { codes: b.reasonCodes, reason: b.reason } : whyDifferent(a, b));
  if (b.status === 'skipped') return make('skipped', { codes: b.reasonCodes, reason: b.reason });
  if (!HAS_RESULT.has(b.status)) return make('not-run', { codes: b.reasonCodes, reason: `${b.status} in run B` });
  // The same key is the same result unless B re-ran it for other code (the fingerprint is not in the key).
  const inB = outputs.filter((o) => o.b !== null);
  if (HAS_RESULT.has(a.status) && sameKey && (b.reasonCodes.includes('code-changed') || outputs.some((o) => o.change === 'changed'))) {
    return make('reran', { codes: b.reasonCodes, reason: b.reason }, inB.length > 0 && inB.every((o) => o.change === 'identical'));
  }
  if (HAS_RESULT.has(a.status) && sameKey) {
    return make(
      'same',
      b.status === 'executed'
        ? { codes: b.reasonCodes, reason: `same key, executed again in B (${b.reason})` }
        : { codes: ['cache-hit'], reason: 'same result (cached)' },
    );
  }
  return make(b.status === 'cached' ? 'reused' : 'reran', whyDifferent(a, b), inB.length > 0 && inB.every((o) => o.change === 'identical'));
}

/**
 * Compares two runs step by step: for every node in either run, whether B re-ran it relative to A
 * and why (the config path old → new, a version bump, an upstream output, env or outside state), and
 * which of its outputs changed bytes. Pure: reads only the two records.
 *
 * @example
 * const { steps } = compareRuns(lastWeek, thisWeek);
 * steps.filter((s) => s.change === 'reran').map((s) => `${s.id}: ${s.reason}`);
 */
export function compareRuns(a: RunRecord, b: RunRecord): RunComparison {
  const before = new Map(a.steps.map((s) => [s.id, s]));
  const inB = new Set(b.steps.map((s) => s.id));
  const steps = [...b.steps.map((s) => compareStep(before.get(s.id), s)), ...a.steps.filter((s) => !inB.has(s.id)).map((s) => compareStep(s, undefined))];
  const counts: Record<StepChange, number> = { reran: 0, reused: 0, new: 0, removed: 0, failed: 0, skipped: 0, 'not-run': 0, same: 0 };
  for (const s of steps) counts[s.change]++;
  return {
    pipeline: b.pipeline,
    steps,
    counts,
    declined: { a: declinedSteps(a.steps), b: declinedSteps(b.steps) },
    usage: { a: recordedUsage(a) ?? null, b: recordedUsage(b) ?? null },
  };
}
