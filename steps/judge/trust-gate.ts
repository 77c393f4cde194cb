// The trust decision: may the judge's verdicts act (judge the benchmark, decide mirroring, feed training
// data, promote)? One split's point estimate is one lucky number; the gate also asks how sure we are.
import { JUDGE_LABELS, type CalibrationItem, type JudgeLabel } from './calibration-generator.js';
import { cohenKappa } from '../stats/agreement.js';
import { bootstrapItems, percentile } from '../stats/paired-tests.js';

const LABELS = [...JUDGE_LABELS];

/** The one-sided confidence of the bootstrap lower bound the gate reads. */
export const TRUST_CONFIDENCE = 0.95;

/**
 * One-sided lower bound of the judge's mean kappa against the two annotators: a bootstrap over items,
 * each resample keeping an item's judgement and both human labels together. Items without a judgement
 * are left out, as in the point estimate.
 */
export function meanKappaLowerBound(
  items: readonly CalibrationItem[],
  judged: ReadonlyArray<JudgeLabel | null>,
  options: { confidence?: number; samples?: number; seed?: number } = {},
): number | null {
  const kept = items.flatMap((item, i) => (judged[i] === null || judged[i] === undefined ? [] : [{ item, label: judged[i] as JudgeLabel }]));
  const values = bootstrapItems(kept.length, { samples: options.samples ?? 2000, seed: options.seed ?? 1 }, (pick) => {
    const judge = pick.map((i) => (kept[i] as (typeof kept)[number]).label);
    const [a, b] = ([0, 1] as const).map((h) =>
      cohenKappa(
        judge,
        pick.map((i) => (kept[i] as (typeof kept)[number]).item.humans[h]),
        { labels: LABELS },
      ),
    );
    return a?.defined && b?.defined ? (a.kappa + b.kappa) / 2 : undefined;
  });
  return values.length === 0 ? null : percentile(values, 1 - (options.confidence ?? TRUST_CONFIDENCE));
}

export interface TrustPolicy {
  /** The held-out mean kappa must reach this (CONTEXT.md: a judge is trusted for decisions at ≥ 0.6). */
  minKappa: number;
  /** …and its one-sided 95% lower bound must reach this: a judge that may well be below it is not trusted. */
  minLowerBound: number;
}

export interface GateVerdict {
  passed: boolean;
  kappa: number | null;
  lowerBound: number | null;
  reasons: string[];
}

/** Trusted only if both the point estimate and the lower bound clear their bars. */
export function decideTrustGate(heldOut: { mean: number | null; lowerBound: number | null; items: number }, policy: TrustPolicy): GateVerdict {
  const { mean, lowerBound } = heldOut;
  const reasons: string[] = [];
  if (mean === null || mean < policy.minKappa)
    reasons.push(`held-out kappa ${mean?.toFixed(3) ?? 'undefined'} is below the bar ${policy.minKappa} (${heldOut.items} items)`);
  if (lowerBound === null || lowerBound < policy.minLowerBound)
    reasons.push(
      `its ${TRUST_CONFIDENCE * 100}% lower bound ${lowerBound?.toFixed(3) ?? 'undefined'} is below ${policy.minLowerBound}: too uncertain on ${heldOut.items} held-out items`,
    );
  if (reasons.length > 0) return { passed: false, kappa: mean, lowerBound, reasons };
  return {
    passed: true,
    kappa: mean,
    lowerBound,
    reasons: [
      `held-out kappa ${(mean as number).toFixed(3)} ≥ ${policy.minKappa}, ${TRUST_CONFIDENCE * 100}% lower bound ${(lowerBound as number).toFixed(3)} ≥ ${policy.minLowerBound}`,
    ],
  };
}
