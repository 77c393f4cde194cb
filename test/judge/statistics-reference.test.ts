// The judge statistics against reference values frozen from scikit-learn, statsmodels and scipy by
// scripts/reference-statistics.py (the command that regenerates them is in the fixture's header).
// A failure here means our TypeScript disagrees with the libraries: fix the code, not the tolerance.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cohenKappa, wilsonInterval, type KappaWeights } from '../../steps/stats/agreement.js';
import {
  binomialHalfUpperTail,
  chiSquareSurvival,
  logGamma,
  normalCdf,
  regularizedBeta,
  studentTCdf,
  studentTQuantile,
} from '../../steps/stats/distributions.js';
import { holmAdjust } from '../../steps/stats/multiplicity.js';
import { pairedTest } from '../../steps/flow-agent/slice-gate.js';
import { signTest, stuartMaxwell, tInterval } from '../../steps/stats/paired-tests.js';

interface KappaReference {
  kappa: number;
  standardError: number;
  /** Unclipped kappa ∓ z·SE, as statsmodels reports it. */
  ci: [number, number];
}

interface PairedTable {
  name: string;
  labels: string[];
  /** table[i][j]: items labelled labels[i] before and labels[j] after. */
  table: number[][];
  statistic: number;
  p: number;
}

interface Reference {
  generatedBy: { script: string; command: string; python: string; libraries: Record<string, string> };
  kappa: { name: string; labels: string[]; a: string[]; b: string[]; table: number[][]; weights: Record<KappaWeights, KappaReference> }[];
  wilson: { successes: number; n: number; ci: [number, number] }[];
  chiSquareSurvival: { x: number; df: number; p: number }[];
  studentTCdf: { t: number; df: number; p: number }[];
  studentTQuantile: { p: number; df: number; t: number }[];
  regularizedBeta: { x: number; a: number; b: number; value: number }[];
  logGamma: { x: number; value: number }[];
  binomialHalfUpperTail: { k: number; n: number; p: number }[];
  /** p is statsmodels' 1 − chi2.cdf (absolute precision only); pSurvival is chi2.sf of its statistic. */
  stuartMaxwell: (PairedTable & { df: number; pSurvival: number })[];
  mcnemar: PairedTable[];
  signTest: { wins: number; losses: number; p: number }[];
  tInterval: { values: number[]; level: number; mean: number; ci: [number, number] }[];
  normalCdf: { z: number; p: number }[];
  holm: { p: number[]; adjusted: number[] }[];
  pairedRegression: { changes: number[]; tolerance: number; p: number }[];
}

const reference = JSON.parse(readFileSync(new URL('../fixtures/statistics-reference.json', import.meta.url), 'utf8')) as Reference;

/** Passes when |actual − expected| ≤ max(abs, rel·|expected|): relative for p-values that can be tiny. */
function expectClose(actual: number, expected: number, tolerance: { abs?: number; rel?: number }, what: string): void {
  const allowed = Math.max(tolerance.abs ?? 0, (tolerance.rel ?? 0) * Math.abs(expected));
  const deviation = actual === expected ? 0 : Math.abs(actual - expected);
  expect(deviation, `${what}: got ${actual}, reference ${expected}`).toBeLessThanOrEqual(allowed);
}

/** The label vectors behind a paired table (order does not matter to the tests). */
function expand(labels: readonly string[], table: readonly (readonly number[])[]): { before: string[]; after: string[] } {
  const before: string[] = [];
  const after: string[] = [];
  table.forEach((row, i) =>
    row.forEach((count, j) => {
      for (let c = 0; c < count; c++) {
        before.push(labels[i] as string);
        after.push(labels[j] as string);
      }
    }),
  );
  return { before, after };
}

const clip = (v: number): number => Math.min(1, Math.max(-1, v));

describe('statistics reference fixture', () => {
  it('names the script and the library versions that produced it', () => {
    expect(reference.generatedBy.script).toBe('scripts/reference-statistics.py');
    expect(reference.generatedBy.command).toContain('scripts/reference-statistics.py');
    expect(Object.keys(reference.generatedBy.libraries).sort()).toEqual(['numpy', 'scikit-learn', 'scipy', 'statsmodels']);
  });
});

describe("Cohen's kappa against scikit-learn and statsmodels", () => {
  for (const c of reference.kappa) {
    it(c.name, () => {
      for (const weights of ['unweighted', 'linear', 'quadratic'] as const) {
        const expected = c.weights[weights];
        const result = cohenKappa(c.a, c.b, { labels: c.labels, weights });
        if (!result.defined) throw new Error(`${weights}: ${result.reason}`);
        expect(result.confusion).toEqual(c.table);
        expectClose(result.kappa, expected.kappa, { abs: 1e-12 }, `${weights} kappa`);
        // statsmodels' std_kappa (the large-sample SE behind its interval), not std_kappa0 (under H0).
        expectClose(result.standardError, expected.standardError, { abs: 1e-9 }, `${weights} standard error`);
        expectClose(result.ci[0], clip(expected.ci[0]), { abs: 1e-9 }, `${weights} lower limit`);
        expectClose(result.ci[1], clip(expected.ci[1]), { abs: 1e-9 }, `${weights} upper limit`);
      }
    });
  }
});

describe('Wilson interval against statsmodels', () => {
  it.each(reference.wilson)('$successes of $n', ({ successes, n, ci }) => {
    const [low, high] = wilsonInterval(successes, n);
    expectClose(low, ci[0], { abs: 1e-12 }, 'lower limit');
    expectClose(high, ci[1], { abs: 1e-12 }, 'upper limit');
  });
});

describe('distributions against scipy', () => {
  it('chiSquareSurvival = scipy.stats.chi2.sf', () => {
    for (const { x, df, p } of reference.chiSquareSurvival) expectClose(chiSquareSurvival(x, df), p, { rel: 1e-10 }, `chi2.sf(${x}, ${df})`);
  });

  it('studentTCdf = scipy.stats.t.cdf', () => {
    for (const { t, df, p } of reference.studentTCdf) expectClose(studentTCdf(t, df), p, { rel: 1e-10 }, `t.cdf(${t}, ${df})`);
  });

  it('studentTQuantile = scipy.stats.t.ppf', () => {
    // Absolute floor for the median (0), which the bisection reaches to within 1e-12.
    for (const { p, df, t } of reference.studentTQuantile) expectClose(studentTQuantile(p, df), t, { rel: 1e-10, abs: 1e-11 }, `t.ppf(${p}, ${df})`);
  });

  it('regularizedBeta = scipy.special.betainc', () => {
    for (const { x, a, b, value } of reference.regularizedBeta) expectClose(regularizedBeta(x, a, b), value, { rel: 1e-10 }, `betainc(${a}, ${b}, ${x})`);
  });

  it('logGamma = scipy.special.gammaln', () => {
    // Absolute near the zeros of ln Γ at 1 and 2, relative for large arguments.
    for (const { x, value } of reference.logGamma) expectClose(logGamma(x), value, { rel: 1e-10, abs: 1e-10 }, `gammaln(${x})`);
  });

  it('binomialHalfUpperTail = scipy.stats.binom.sf(k − 1, n, ½)', () => {
    for (const { k, n, p } of reference.binomialHalfUpperTail) expectClose(binomialHalfUpperTail(k, n), p, { rel: 1e-10 }, `P(X ≥ ${k}), n = ${n}`);
  });
});

describe('paired tests against statsmodels and scipy', () => {
  describe('Stuart–Maxwell = SquareTable(table, shift_zeros=False).homogeneity()', () => {
    for (const c of reference.stuartMaxwell) {
      it(c.name, () => {
        const { before, after } = expand(c.labels, c.table);
        const result = stuartMaxwell(before, after, c.labels);
        expect(result.df).toBe(c.df);
        expect(result.discordant).toBe(before.length - c.table.reduce((s, row, i) => s + (row[i] as number), 0));
        expectClose(result.statistic, c.statistic, { rel: 1e-9, abs: 1e-9 }, 'statistic');
        expectClose(result.p, c.p, { abs: 1e-9 }, 'p (statsmodels)');
        expectClose(result.p, c.pSurvival, { rel: 1e-9 }, 'p (chi2.sf of the statistic)');
      });
    }
  });

  describe("two labels: Stuart–Maxwell is McNemar's test without continuity correction", () => {
    for (const c of reference.mcnemar) {
      it(c.name, () => {
        const { before, after } = expand(c.labels, c.table);
        const result = stuartMaxwell(before, after, c.labels);
        expect(result.df).toBe(1);
        expectClose(result.statistic, c.statistic, { rel: 1e-9, abs: 1e-9 }, 'statistic');
        expectClose(result.p, c.p, { rel: 1e-9 }, 'p');
      });
    }
  });

  it('signTest = scipy.stats.binomtest(wins, wins + losses, ½).pvalue', () => {
    for (const { wins, losses, p } of reference.signTest) expectClose(signTest(wins, losses), p, { rel: 1e-10 }, `${wins} wins, ${losses} losses`);
  });

  it.each(reference.tInterval.map((c) => ({ ...c, n: c.values.length })))('tInterval = scipy.stats.t.interval ($n values, level $level)', (c) => {
    const result = tInterval(c.values, c.level);
    expect(result.n).toBe(c.values.length);
    expectClose(result.mean, c.mean, { abs: 1e-12 }, 'mean');
    expectClose(result.ci[0], c.ci[0], { abs: 1e-9 }, 'lower limit');
    expectClose(result.ci[1], c.ci[1], { abs: 1e-9 }, 'upper limit');
  });
});

describe('the slice gate against scipy and statsmodels', () => {
  it('normalCdf = scipy.stats.norm.cdf', () => {
    for (const { z, p } of reference.normalCdf) expectClose(normalCdf(z), p, { rel: 1e-9 }, `z ${z}`);
  });

  it("holmAdjust = statsmodels multipletests(p, method='holm')", () => {
    for (const { p, adjusted } of reference.holm) expect(holmAdjust(p).map((v, i) => Math.abs(v - (adjusted[i] as number)))).toEqual(p.map(() => 0));
  });

  it.each(reference.pairedRegression.map((c) => ({ ...c, n: c.changes.length })))(
    "pairedTest = scipy.stats.ttest_1samp(changes + tolerance, 0, alternative='less') ($n changes, tolerance $tolerance)",
    (c) => {
      const result = pairedTest(c.changes, c.tolerance);
      expect(result.n).toBe(c.changes.length);
      expectClose(result.p as number, c.p, { rel: 1e-9 }, 'one-sided p');
    },
  );
});
