// "No slice regresses" as a statistician would say it: no slice is shown to be worse than production by
// more than a stated tolerance, at the gate's error rate, across all the slices tested at once. A slice of
// three items moving by five points is noise, and the rule says so instead of blocking on it.
import { z } from 'zod';
import type { EvaluationMetrics } from './evaluate.js';
import type { Metric } from './score-workflow.js';
import { normalCdf, studentTCdf } from '../stats/distributions.js';
import { holmAdjust } from '../stats/multiplicity.js';
import { tInterval } from '../stats/paired-tests.js';

/** One benchmark example as evaluate scored it: its id, the slices it belongs to and its score per metric. */
export const ItemScores = z.object({
  id: z.string(),
  /** A digest of the example's request: an id pairs only with the same example (a benchmark edited under the same ids does not). */
  request: z.string(),
  slices: z.array(z.string()),
  scores: z.record(z.string(), z.number().nullable()),
});
export type ItemScores = z.infer<typeof ItemScores>;

/** A model's evaluation: the summary always, the per-example scores when they were kept (the paired test needs them). */
export interface Evaluated {
  metrics: EvaluationMetrics;
  items?: readonly ItemScores[] | undefined;
}

export interface SliceRule {
  metric: Metric;
  /** A slice blocks only when it is significantly worse than production by more than this (0.02: two points). */
  tolerance: number;
  /** Family-wise error rate of the slice tests together (Holm): the chance that an equal candidate is blocked on a slice. */
  alpha: number;
  /** Slices with fewer items than this are reported but never block on their own. */
  minSliceSize: number;
}

export const SLICE_VERDICTS = ['blocks', 'too-small', 'fine', 'new'] as const;

export const SliceVerdict = z.object({
  slice: z.string(),
  /** Items compared: paired examples (both models scored), or the smaller side when unpaired. */
  n: z.number().int(),
  /** Candidate − production on the gate's metric. */
  delta: z.number().nullable(),
  /** Two-sided 95% interval of the change, clipped to what a change of a 0–1 metric can be. */
  ci: z.tuple([z.number(), z.number()]).nullable(),
  /** One-sided p of "no worse than the tolerance", Holm-adjusted across the slices tested; null when not tested. */
  p: z.number().nullable(),
  /** Per-example pairs (the same examples scored by both), or unpaired from the two summaries. */
  paired: z.boolean(),
  /** `blocks`; `too-small` (too few items to tell, never blocks alone); `fine`; `new` (production has no score on it). */
  verdict: z.enum(SLICE_VERDICTS),
});
export type SliceVerdict = z.infer<typeof SliceVerdict>;

export interface Tested {
  n: number;
  delta: number | null;
  ci: [number, number] | null;
  /** Unadjusted one-sided p of H0: delta ≥ −tolerance. */
  p: number | null;
}

const clip = ([low, high]: [number, number]): [number, number] => [Math.max(-1, low), Math.min(1, high)];

/** The paired test: per-example changes, Student's t against −tolerance (one-sided: is the slice worse than that?). */
export function pairedTest(changes: readonly number[], tolerance: number): Tested {
  const n = changes.length;
  if (n < 2) return { n, delta: n === 0 ? null : (changes[0] as number), ci: null, p: null };
  const { mean, ci } = tInterval(changes);
  const sd = Math.sqrt(changes.reduce((s, d) => s + (d - mean) ** 2, 0) / (n - 1));
  // Every example moved by the same amount: no noise to weigh, the change is what it is.
  const p = sd === 0 ? (mean < -tolerance ? 0 : 1) : studentTCdf((mean + tolerance) / (sd / Math.sqrt(n)), n - 1);
  return { n, delta: mean, ci: clip(ci), p };
}

/**
 * Without per-example scores of production (a version registered before they were kept): the two means,
 * each with the largest variance a 0–1 score of that mean can have, m(1 − m) (Bhatia–Davis). Conservative
 * twice over (no pairing, worst-case spread): it blocks less often than the paired test, never more wrongly.
 */
function unpairedTest(candidate: { mean: number; n: number }, production: { mean: number; n: number }, tolerance: number): Tested {
  const n = Math.min(candidate.n, production.n);
  const delta = candidate.mean - production.mean;
  const se = Math.sqrt((candidate.mean * (1 - candidate.mean)) / candidate.n + (production.mean * (1 - production.mean)) / production.n);
  if (n < 2 || !Number.isFinite(se)) return { n, delta, ci: null, p: null };
  const p = se === 0 ? (delta < -tolerance ? 0 : 1) : normalCdf((delta + tolerance) / se);
  return { n, delta, ci: clip([delta - 1.959964 * se, delta + 1.959964 * se]), p };
}

function scoreOf(item: ItemScores, metric: Metric): number | null {
  const value = item.scores[metric];
  return typeof value === 'number' ? value : null;
}

/**
 * Each of the candidate's slices against production: paired on the examples both scored when both kept
 * per-example scores, unpaired from the summaries otherwise. The slices big enough to test are tested
 * together, Holm-adjusted, so an equal candidate is blocked on some slice with probability at most alpha
 * (at the tolerance's edge; less for a truly equal one).
 */
export function judgeSlices(candidate: Evaluated, production: Evaluated, rule: SliceRule): SliceVerdict[] {
  const paired = candidate.items !== undefined && production.items !== undefined;
  const before = new Map((production.items ?? []).map((item) => [`${item.id}\0${item.request}`, scoreOf(item, rule.metric)]));
  const tested = Object.keys(candidate.metrics.slices)
    .sort()
    .map((slice): Tested & { slice: string; new: boolean } => {
      const summary = production.metrics.slices[slice];
      if (paired) {
        const changes = (candidate.items ?? []).flatMap((item) => {
          const [now, then] = [scoreOf(item, rule.metric), before.get(`${item.id}\0${item.request}`)];
          return item.slices.includes(slice) && now !== null && then !== null && then !== undefined ? [now - then] : [];
        });
        return { slice, new: changes.length === 0 && summary === undefined, ...pairedTest(changes, rule.tolerance) };
      }
      const [now, then] = [candidate.metrics.slices[slice]?.[rule.metric], summary?.[rule.metric]];
      if (summary === undefined || now === null || now === undefined || then === null || then === undefined)
        return { slice, new: true, n: 0, delta: null, ci: null, p: null };
      return {
        slice,
        new: false,
        ...unpairedTest({ mean: now, n: candidate.metrics.slices[slice]?.examples ?? 0 }, { mean: then, n: summary.examples }, rule.tolerance),
      };
    });
  const eligible = tested.filter((t) => !t.new && t.n >= rule.minSliceSize && t.p !== null);
  const holm = holmAdjust(eligible.map((e) => e.p as number));
  const adjusted = new Map(eligible.map((t, i) => [t.slice, holm[i] as number]));
  return tested.map((t) => {
    const p = adjusted.get(t.slice) ?? null;
    const verdict = t.new ? 'new' : p === null ? 'too-small' : p <= rule.alpha ? 'blocks' : 'fine';
    return { slice: t.slice, n: t.n, delta: t.delta, ci: t.ci, p, paired, verdict };
  });
}

const points = (v: number): string => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)} pt`;

/** One slice's line for a report or a reason: n, Δ, interval, p and what it means. */
export function describeSlice(v: SliceVerdict, rule: Pick<SliceRule, 'metric' | 'alpha'>): string {
  const change = v.delta === null ? 'Δ –' : `Δ ${points(v.delta)}${v.ci === null ? '' : ` [${points(v.ci[0])}, ${points(v.ci[1])}]`}`;
  const test = v.p === null ? '' : `, one-sided p ${v.p < 0.001 ? v.p.toExponential(1) : v.p.toFixed(3)} (Holm)`;
  const meaning = { blocks: `blocks (p ≤ α ${rule.alpha})`, 'too-small': 'too small to tell', fine: 'fine', new: 'new: production has no score on it' }[
    v.verdict
  ];
  return `${v.slice} (${v.n} ${v.paired ? 'paired' : 'unpaired'}): ${rule.metric} ${change}${test}: ${meaning}`;
}
