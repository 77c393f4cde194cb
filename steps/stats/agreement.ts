// Agreement statistics for judge calibration (../shared/CONTEXT.md): Cohen's kappa with an explicit
// label order and unweighted, linear or quadratic weights, its asymptotic and bootstrap intervals,
// Fleiss' kappa for more raters, and the Wilson interval for win rates. Undefined cases are typed
// results with a reason, never NaN.
import { SeededRandom } from './seeded-random.js';

export type KappaWeights = 'unweighted' | 'linear' | 'quadratic';

const Z95 = 1.959963984540054;

export type KappaResult =
  | {
      defined: true;
      kappa: number;
      n: number;
      labels: string[];
      confusion: number[][];
      observedAgreement: number;
      expectedAgreement: number;
      standardError: number;
      ci: [number, number];
    }
  | { defined: false; reason: string; n: number; labels: string[]; confusion: number[][] };

export interface KappaOptions {
  /** The label order (required for weighted kappa unless every label is a number). */
  labels?: readonly string[];
  weights?: KappaWeights;
}

export class AgreementInputError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
    this.name = 'AgreementInputError';
  }
}

/** The label order: given, or numeric order for numbers, or (unweighted only) first appearance. */
function labelOrder(a: readonly string[], b: readonly string[], options: KappaOptions): string[] {
  const seen = [...new Set([...a, ...b])];
  if (options.labels !== undefined) {
    const unknown = seen.filter((l) => !options.labels?.includes(l));
    if (unknown.length > 0)
      throw new AgreementInputError(
        `label ${JSON.stringify(unknown[0])} is not in the label order ${options.labels.join(',')}`,
        'list every label in --labels, in their order',
      );
    return [...options.labels];
  }
  if (seen.every((l) => l.trim() !== '' && Number.isFinite(Number(l)))) return seen.sort((x, y) => Number(x) - Number(y));
  if ((options.weights ?? 'unweighted') !== 'unweighted') {
    throw new AgreementInputError(
      'weighted kappa needs the order of the labels (ordinal labels must not be sorted alphabetically)',
      'pass the labels in their order, e.g. --labels bad,needs_improvement,good',
    );
  }
  return seen;
}

/** Agreement weights: 1 on the diagonal, falling with the distance between labels. */
function agreementWeights(k: number, weights: KappaWeights): number[][] {
  const max = k <= 1 ? 1 : weights === 'quadratic' ? (k - 1) ** 2 : k - 1;
  return Array.from({ length: k }, (_, i) =>
    Array.from({ length: k }, (_, j) => (weights === 'unweighted' ? (i === j ? 1 : 0) : 1 - (weights === 'linear' ? Math.abs(i - j) : (i - j) ** 2) / max)),
  );
}

/**
 * Cohen's kappa: 1 − Σ W·O / Σ W·E with disagreement weights W and E the outer product of the
 * raters' marginals; the standard error is Fleiss, Cohen & Everitt's (1969) large-sample formula.
 *
 * @example
 * cohenKappa(['1','2','3','4','5','3','2'], ['1','3','3','5','4','2','2'], { weights: 'linear' }) // kappa 0.58824
 */
export function cohenKappa(a: readonly string[], b: readonly string[], options: KappaOptions = {}): KappaResult {
  if (a.length !== b.length)
    throw new AgreementInputError(
      `the raters labelled ${a.length} and ${b.length} items`,
      'give both raters the same items, one label per line in the same order',
    );
  const weights = options.weights ?? 'unweighted';
  const labels = labelOrder(a, b, options);
  const k = labels.length;
  const index = new Map(labels.map((l, i) => [l, i]));
  const n = a.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let t = 0; t < n; t++) (confusion[index.get(a[t] as string) as number] as number[])[index.get(b[t] as string) as number]! += 1;
  if (n === 0) return { defined: false, reason: 'no items were rated', n, labels, confusion };
  const p = confusion.map((row) => row.map((c) => c / n));
  const rows = p.map((row) => row.reduce((s, v) => s + v, 0));
  const cols = labels.map((_, j) => p.reduce((s, row) => s + (row[j] as number), 0));
  const w = agreementWeights(k, weights);
  let po = 0;
  let pe = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      po += (w[i]![j] as number) * (p[i]![j] as number);
      pe += (w[i]![j] as number) * (rows[i] as number) * (cols[j] as number);
    }
  }
  if (1 - pe <= 1e-12) {
    const used = labels.filter((_, i) => (rows[i] as number) > 0 || (cols[i] as number) > 0);
    return {
      defined: false,
      reason:
        used.length === 1
          ? `both raters used one single identical label (${used[0] ?? ''}): agreement beyond chance is 0/0`
          : 'chance agreement is total: kappa is 0/0',
      n,
      labels,
      confusion,
    };
  }
  const kappa = (po - pe) / (1 - pe);
  const rowWeight = labels.map((_, i) => labels.reduce((s, _l, j) => s + (cols[j] as number) * (w[i]![j] as number), 0));
  const colWeight = labels.map((_, j) => labels.reduce((s, _l, i) => s + (rows[i] as number) * (w[i]![j] as number), 0));
  let sum = 0;
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) sum += (p[i]![j] as number) * ((w[i]![j] as number) - ((rowWeight[i] as number) + (colWeight[j] as number)) * (1 - kappa)) ** 2;
  const variance = Math.max(0, (sum - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2));
  const standardError = Math.sqrt(variance);
  return {
    defined: true,
    kappa,
    n,
    labels,
    confusion,
    observedAgreement: po,
    expectedAgreement: pe,
    standardError,
    // Kappa lies in [−1, 1]; the normal approximation does not know that on small or extreme samples.
    ci: [Math.max(-1, kappa - Z95 * standardError), Math.min(1, kappa + Z95 * standardError)],
  };
}

/** Percentile bootstrap interval of kappa (pairs resampled with a seeded generator; undefined resamples skipped). */
export function bootstrapKappaInterval(
  a: readonly string[],
  b: readonly string[],
  options: KappaOptions & { samples?: number; seed?: number; level?: number } = {},
): [number, number] | undefined {
  const samples = options.samples ?? 2000;
  const rng = new SeededRandom(options.seed ?? 1);
  const labels = labelOrder(a, b, options);
  const values: number[] = [];
  for (let s = 0; s < samples; s++) {
    const ra: string[] = [];
    const rb: string[] = [];
    for (let t = 0; t < a.length; t++) {
      const pick = rng.int(0, a.length - 1);
      ra.push(a[pick] as string);
      rb.push(b[pick] as string);
    }
    const result = cohenKappa(ra, rb, { ...options, labels });
    if (result.defined) values.push(result.kappa);
  }
  if (values.length === 0) return undefined;
  values.sort((x, y) => x - y);
  const alpha = (1 - (options.level ?? 0.95)) / 2;
  const at = (q: number): number => values[Math.min(values.length - 1, Math.max(0, Math.round(q * (values.length - 1))))] as number;
  return [at(alpha), at(1 - alpha)];
}

/** Fleiss' kappa for any number of raters: `ratings[item]` lists each rater's label for the item. */
export function fleissKappa(ratings: ReadonlyArray<readonly string[]>): { defined: true; kappa: number } | { defined: false; reason: string } {
  const raters = ratings[0]?.length ?? 0;
  if (ratings.length === 0 || raters < 2) return { defined: false, reason: 'needs at least one item rated by two or more raters' };
  if (ratings.some((r) => r.length !== raters))
    throw new AgreementInputError('every item needs the same number of ratings', 'give every item one label from each rater');
  const labels = [...new Set(ratings.flat())];
  const totals = new Map(labels.map((l) => [l, 0]));
  let agreement = 0;
  for (const item of ratings) {
    const counts = new Map<string, number>();
    for (const l of item) counts.set(l, (counts.get(l) ?? 0) + 1);
    for (const [l, c] of counts) totals.set(l, (totals.get(l) ?? 0) + c);
    agreement += [...counts.values()].reduce((s, c) => s + c * (c - 1), 0) / (raters * (raters - 1));
  }
  const po = agreement / ratings.length;
  const pe = [...totals.values()].reduce((s, c) => s + (c / (ratings.length * raters)) ** 2, 0);
  if (1 - pe <= 1e-12) return { defined: false, reason: 'every rating used one single label: kappa is 0/0' };
  return { defined: true, kappa: (po - pe) / (1 - pe) };
}

/** Wilson score interval of a proportion (e.g. a win rate): 60 wins of 100 → [0.502, 0.691]. */
export function wilsonInterval(successes: number, n: number, z = Z95): [number, number] {
  if (n === 0) return [0, 1];
  const p = successes / n;
  const denominator = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denominator;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}
