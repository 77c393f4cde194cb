// Does the judge use a label more (or less) often than the annotators do on the same items? Kappa can
// look fine while a judge hands out "good" far more freely than people: this paired comparison says so.
import { JUDGE_LABELS, type CalibrationItem, type JudgeLabel } from './calibration-generator.js';
import { tInterval } from '../stats/paired-tests.js';

export interface LabelRate {
  label: JudgeLabel;
  /** Items the judge gave this label, and each annotator, over the judged items. */
  judge: number;
  annotators: [number, number];
  /** Mean of d = [judge = L] − ([annotator 1 = L] + [annotator 2 = L]) / 2: the judge's rate minus the annotators'. */
  difference: number;
  /** 95% t interval of the mean difference; null with fewer than two judged items. */
  ci: [number, number] | null;
  /** Set when the interval lies wholly above 0 (over-calls) or below 0 (under-calls). */
  flag: 'over-calls' | 'under-calls' | null;
}

export interface LabelRates {
  /** Judged items: the denominator of every rate. */
  n: number;
  /** Items without a judgement, left out. */
  unjudged: number;
  rates: LabelRate[];
}

/**
 * For each label L, the judge's rate of L against the annotators' on the same items, paired per item:
 * d = [judge = L] − ([annotator 1 = L] + [annotator 2 = L]) / 2, its mean with a 95% t interval, and a
 * flag when the interval excludes 0. Items without a judgement (null) are left out.
 *
 * @example
 * // The judge says good on 30 of 100 items, the annotators on 10: "over-calls good", difference +0.20.
 * labelRates(items, judged).rates.find((r) => r.label === 'good')?.flag // 'over-calls'
 */
export function labelRates(items: readonly CalibrationItem[], judged: ReadonlyArray<JudgeLabel | null>): LabelRates {
  const kept = items.flatMap((item, i) => (judged[i] === null || judged[i] === undefined ? [] : [{ item, label: judged[i] as JudgeLabel }]));
  const n = kept.length;
  const rates = JUDGE_LABELS.map((label): LabelRate => {
    const is = (l: JudgeLabel): number => (l === label ? 1 : 0);
    const d = kept.map((k) => is(k.label) - (is(k.item.humans[0]) + is(k.item.humans[1])) / 2);
    const difference = n === 0 ? 0 : d.reduce((s, v) => s + v, 0) / n;
    const ci = n >= 2 ? tInterval(d).ci : null;
    return {
      label,
      judge: kept.filter((k) => k.label === label).length,
      annotators: [kept.filter((k) => k.item.humans[0] === label).length, kept.filter((k) => k.item.humans[1] === label).length],
      difference,
      ci,
      flag: ci === null ? null : ci[0] > 0 ? 'over-calls' : ci[1] < 0 ? 'under-calls' : null,
    };
  });
  return { n, unjudged: items.length - n, rates };
}

const signed = (v: number): string => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}`;
const share = (count: number, n: number): string => `${count} (${n === 0 ? '–' : (count / n).toFixed(3)})`;

/**
 * Rows for the report, one per part and label: counts (with rates) of the judge and each annotator, the
 * difference in rate with its 95% interval, and the flag ("over-calls good").
 */
export function labelRateTable(parts: ReadonlyArray<{ part: string; rates: LabelRates }>): string[][] {
  return [
    ['items', 'label', 'judge count (rate)', 'annotator 1 count (rate)', 'annotator 2 count (rate)', 'difference (95% CI)', 'flag'],
    ...parts.flatMap(({ part, rates }) =>
      rates.rates.map((r) => [
        `${part} (${rates.n}${rates.unjudged > 0 ? `, ${rates.unjudged} unjudged left out` : ''})`,
        r.label,
        share(r.judge, rates.n),
        share(r.annotators[0], rates.n),
        share(r.annotators[1], rates.n),
        `${signed(r.difference)} ${r.ci === null ? '(no interval: fewer than 2 items)' : `[${signed(r.ci[0])}, ${signed(r.ci[1])}]`}`,
        r.flag === null ? '–' : `${r.flag} ${r.label}`,
      ]),
    ),
  ];
}
