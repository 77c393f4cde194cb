// Tests for paired judgements: the same items judged twice (golden-set drift) or two models judged on the
// same requests (mirroring). Treating paired data as two independent samples throws away the pairing and
// with it most of the power; these keep it.
import { SeededRandom } from './seeded-random.js';
import { cohenKappa, type KappaOptions } from './agreement.js';
import { binomialHalfUpperTail, chiSquareSurvival, studentTQuantile } from './distributions.js';

export interface MarginalHomogeneity {
  /** Stuart–Maxwell statistic (McNemar's without continuity correction for two labels). */
  statistic: number;
  df: number;
  p: number;
  /** Items labelled differently the second time. */
  discordant: number;
}

/** Solves A x = b by Gaussian elimination with partial pivoting; undefined when A is singular. */
function solve(a: number[][], b: number[]): number[] | undefined {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i] as number]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    if (Math.abs(m[pivot]![col]!) < 1e-12) return undefined;
    [m[col], m[pivot]] = [m[pivot] as number[], m[col] as number[]];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r]![col]! / m[col]![col]!;
      for (let c = col; c <= n; c++) m[r]![c]! -= f * m[col]![c]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

/**
 * Stuart–Maxwell test of marginal homogeneity for paired labels: did the label distribution move
 * between two judgements of the same items? Labels nobody moved into or out of carry no information
 * and are left out (fewer degrees of freedom); with no discordant item the answer is p = 1. (With four
 * or more labels, moves that fall into groups never exchanging items would leave the matrix singular and
 * the answer p = 1; with the judge's three labels that cannot happen.)
 *
 * @example
 * stuartMaxwell(['a','a','b'], ['a','b','b'], ['a','b']) // one item moved a → b: statistic 1, df 1
 */
export function stuartMaxwell(before: readonly string[], after: readonly string[], labels: readonly string[]): MarginalHomogeneity {
  const index = new Map(labels.map((l, i) => [l, i]));
  const table = labels.map(() => labels.map(() => 0));
  for (let t = 0; t < before.length; t++) table[index.get(before[t] as string) as number]![index.get(after[t] as string) as number]! += 1;
  const discordant = before.reduce((s, l, t) => s + (l === after[t] ? 0 : 1), 0);
  const rows = table.map((r) => r.reduce((s, v) => s + v, 0));
  const cols = labels.map((_, j) => table.reduce((s, r) => s + (r[j] as number), 0));
  const moved = labels.map((_, i) => i).filter((i) => (rows[i] as number) + (cols[i] as number) - 2 * (table[i]![i] as number) > 0);
  if (moved.length < 2) return { statistic: 0, df: 0, p: 1, discordant };
  const kept = moved.slice(0, -1);
  const d = kept.map((i) => (rows[i] as number) - (cols[i] as number));
  const v = kept.map((i) =>
    kept.map((j) =>
      i === j ? (rows[i] as number) + (cols[i] as number) - 2 * (table[i]![i] as number) : -((table[i]![j] as number) + (table[j]![i] as number)),
    ),
  );
  const x = solve(v, d);
  if (x === undefined) return { statistic: 0, df: 0, p: 1, discordant };
  const statistic = d.reduce((s, di, i) => s + di * (x[i] as number), 0);
  return { statistic, df: kept.length, p: chiSquareSurvival(statistic, kept.length), discordant };
}

/** Exact two-sided sign test of wins against losses (ties left out): could they be equally likely? */
export function signTest(wins: number, losses: number): number {
  const n = wins + losses;
  if (n === 0) return 1;
  return Math.min(1, 2 * binomialHalfUpperTail(Math.max(wins, losses), n));
}

export interface MeanInterval {
  mean: number;
  n: number;
  ci: [number, number];
}

/** Student's t interval of a mean (n ≥ 2; with fewer values the interval is the whole line). */
export function tInterval(values: readonly number[], level = 0.95): MeanInterval {
  const n = values.length;
  const mean = n === 0 ? 0 : values.reduce((s, v) => s + v, 0) / n;
  if (n < 2) return { mean, n, ci: [-Infinity, Infinity] };
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1);
  const half = studentTQuantile(1 - (1 - level) / 2, n - 1) * Math.sqrt(variance / n);
  return { mean, n, ci: [mean - half, mean + half] };
}

/**
 * Student-t interval of a mean of scores in [0, 1], clipped to [0, 1]. `prior` adds pseudo-observations
 * (e.g. one 1 and one 0), which keeps the interval honest for a handful of identical scores (three
 * straight losses are not proof of a regression) and moves a 100-item mean by about 1%.
 */
export function meanInterval(scores: readonly number[], options: { level?: number; prior?: readonly number[] } = {}): MeanInterval {
  const { mean, ci } = tInterval([...scores, ...(options.prior ?? [])], options.level);
  return { mean, n: scores.length, ci: [Math.max(0, ci[0]), Math.min(1, ci[1])] };
}

/** Percentile of sorted values (nearest rank on the closed interval). */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))] as number;
}

/** Resamples item indices with a seeded generator and collects `statistic` over each resample that defines it. */
export function bootstrapItems(n: number, options: { samples: number; seed: number }, statistic: (pick: readonly number[]) => number | undefined): number[] {
  const rng = new SeededRandom(options.seed);
  const values: number[] = [];
  const pick = new Array<number>(n);
  for (let s = 0; s < options.samples; s++) {
    for (let t = 0; t < n; t++) pick[t] = rng.int(0, n - 1);
    const value = statistic(pick);
    if (value !== undefined && Number.isFinite(value)) values.push(value);
  }
  return values.sort((x, y) => x - y);
}

export interface KappaChange {
  before: number | null;
  after: number | null;
  /** after − before */
  delta: number | null;
  /** Paired percentile bootstrap interval of the change (items resampled together). */
  ci: [number, number] | null;
}

/**
 * The change in kappa against reference labels between two judgements of the same items, with a paired
 * bootstrap interval: each resample takes the same items for both, so item difficulty cancels out.
 */
export function pairedKappaChange(
  before: readonly string[],
  after: readonly string[],
  reference: readonly string[],
  options: KappaOptions & { samples?: number; seed?: number; level?: number } = {},
): KappaChange {
  const kappa = (a: readonly string[]): number | null => {
    const k = cohenKappa(a, reference, options);
    return k.defined ? k.kappa : null;
  };
  const [k0, k1] = [kappa(before), kappa(after)];
  if (k0 === null || k1 === null) return { before: k0, after: k1, delta: null, ci: null };
  const deltas = bootstrapItems(before.length, { samples: options.samples ?? 2000, seed: options.seed ?? 1 }, (pick) => {
    const ref = pick.map((i) => reference[i] as string);
    const b = cohenKappa(
      pick.map((i) => before[i] as string),
      ref,
      options,
    );
    const a = cohenKappa(
      pick.map((i) => after[i] as string),
      ref,
      options,
    );
    return a.defined && b.defined ? a.kappa - b.kappa : undefined;
  });
  const alpha = (1 - (options.level ?? 0.95)) / 2;
  return { before: k0, after: k1, delta: k1 - k0, ci: deltas.length === 0 ? null : [percentile(deltas, alpha), percentile(deltas, 1 - alpha)] };
}
