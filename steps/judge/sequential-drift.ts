// The golden set is re-judged every week, so evidence of a small persistent drift accumulates even when
// no single week can show it: a two-sided CUSUM over the weekly history, each week's labels against the
// mean of the weeks before it since the accepted baseline.
import { z } from 'zod';
import { JUDGE_LABELS, type JudgeLabel } from './calibration-generator.js';

/** A label as a step on the quality scale: bad 0, needs_improvement 1, good 2 (a lenient judge moves items up). */
const STEP: Record<JudgeLabel, number> = Object.fromEntries(JUDGE_LABELS.map((l, i) => [l, i])) as Record<JudgeLabel, number>;

/**
 * The CUSUM's allowance k and threshold h, in standard deviations of one week's net label movement.
 * k = 0.5 tunes it to shifts of about one standard deviation per week (a 10% bad→good shift on the
 * 175-item golden set is 1.5–3); h = 6 holds false alarms under 5% over 52 weekly runs of pure
 * re-asking noise (docs/judge.md has the measured rates; scripts/judge-error-rates.ts measures them).
 */
export const CUSUM = { allowance: 0.5, threshold: 6 } as const;

export const SequentialDrift = z.object({
  /** This week's net label movement against the mean of the in-control weeks before it, in standard deviations. */
  statistic: z.number(),
  /** The upper (lenient: labels moving up) and lower (harsh) cumulative sums after this week. */
  upper: z.number(),
  lower: z.number(),
  threshold: z.number(),
  /** Weeks since the baseline this test has weighed, this one included. */
  weeks: z.number().int(),
  /** The CUSUM fired: which way, and the run from which the sum has been building up (the estimated start of the drift). */
  alarm: z.enum(['lenient', 'harsh']).nullable(),
  since: z.string().nullable(),
});
export type SequentialDrift = z.infer<typeof SequentialDrift>;

/** One week of the history as the sequential test reads it. */
export interface WeekLabels {
  runId: string;
  items: Record<string, JudgeLabel>;
  /** Weeks that alarmed do not join the reference later weeks are measured against. */
  inControl: boolean;
}

/**
 * The CUSUM, a week at a time. Each week after the baseline: Z = Σ over items (its step − the item's mean
 * step over the in-control weeks before it), standardized by the re-asking variance (per item, over
 * those weeks; with only the baseline, half the squared change from it), inflated for the reference's
 * own noise. The sums start at zero from the baseline, so `acceptBaseline` restarts the test.
 */
export class DriftCusum {
  private readonly reference = new Map<string, { n: number; sum: number; squares: number }>();
  private upper = 0;
  private lower = 0;
  private upperFrom: string | null = null;
  private lowerFrom: string | null = null;
  private weeks = 0;

  constructor(
    baseline: Record<string, JudgeLabel>,
    private readonly options: { allowance: number; threshold: number } = CUSUM,
  ) {
    this.accept(baseline);
  }

  /** Weighs one week after the baseline: the test's state after it. */
  add(week: Pick<WeekLabels, 'runId' | 'items'>): SequentialDrift {
    const { allowance: k, threshold: h } = this.options;
    const statistic = this.movement(week.items);
    if (this.upper === 0) this.upperFrom = week.runId;
    if (this.lower === 0) this.lowerFrom = week.runId;
    this.upper = Math.max(0, this.upper + statistic - k);
    this.lower = Math.max(0, this.lower - statistic - k);
    this.weeks++;
    const alarm = this.upper > h ? 'lenient' : this.lower > h ? 'harsh' : null;
    const since = alarm === 'lenient' ? this.upperFrom : alarm === 'harsh' ? this.lowerFrom : null;
    return { statistic, upper: this.upper, lower: this.lower, threshold: h, weeks: this.weeks, alarm, since };
  }

  /**
   * Adds an in-control week to the reference later weeks are measured against. (Holding back weeks while
   * a sum is above zero keeps a drift out of the reference, but leaves the baseline's own noise in it for
   * longer: measured, it false-alarms in half the years. So every in-control week joins at once.)
   */
  accept(items: Record<string, JudgeLabel>): void {
    for (const [id, label] of Object.entries(items)) {
      const r = this.reference.get(id) ?? { n: 0, sum: 0, squares: 0 };
      this.reference.set(id, { n: r.n + 1, sum: r.sum + STEP[label], squares: r.squares + STEP[label] ** 2 });
    }
  }

  /** A week's net movement of labels against the reference, in standard deviations of its noise. */
  private movement(items: Record<string, JudgeLabel>): number {
    let movement = 0;
    let variance = 0;
    for (const [id, label] of Object.entries(items)) {
      const r = this.reference.get(id);
      if (r === undefined) continue;
      const mean = r.sum / r.n;
      const change = STEP[label] - mean;
      movement += change;
      const perAsk = r.n === 1 ? change ** 2 / 2 : Math.max(0, r.squares - r.n * mean ** 2) / (r.n - 1);
      variance += perAsk * (1 + 1 / r.n);
    }
    // A judge that never changed its labels has no noise to weigh a change by: one changed label counts as one.
    return movement / Math.sqrt(Math.max(variance, 1));
  }
}

/** The test over a history: the accepted baseline first, this week last (null before there is a week to weigh). */
export function sequentialDrift(weeks: readonly WeekLabels[], options: { allowance: number; threshold: number } = CUSUM): SequentialDrift | null {
  if (weeks.length < 2) return null;
  const cusum = new DriftCusum((weeks[0] as WeekLabels).items, options);
  let state: SequentialDrift | null = null;
  for (const week of weeks.slice(1)) {
    state = cusum.add(week);
    if (week.inControl) cusum.accept(week.items);
  }
  return state;
}
