// How often each of the judge's decisions errs, by seeded simulation: the trust gate (a judge of known true
// kappa), the golden-set drift test (noise and an injected lenient shift) and the mirroring interval
// (coverage across tie rates). The tests hold these to their bounds; scripts/judge-error-rates.ts prints them
// for docs/judge.md.
import { cohenKappa } from '../stats/agreement.js';
import { JUDGE_LABELS, type CalibrationItem, type JudgeLabel } from './calibration-generator.js';
import { judgeDrift } from './golden-drift.js';
import { DriftCusum } from './sequential-drift.js';
import { meanInterval } from '../stats/paired-tests.js';
import { SeededRandom } from '../stats/seeded-random.js';
import { decideTrustGate, meanKappaLowerBound, type TrustPolicy } from './trust-gate.js';

// A calibration set like the committed one: a true quality per item (good 2/7, needs_improvement 3/7,
// bad 2/7, as the generator's patterns), two annotators right 88% / 85% of the time and otherwise off by
// one step, and a judge right with probability `accuracy`, otherwise off by one step.
const PRIOR: Record<JudgeLabel, number> = { bad: 2 / 7, needs_improvement: 3 / 7, good: 2 / 7 };
const ANNOTATORS = [0.88, 0.85] as const;

/** P(label | truth) for a rater right with probability `accuracy`, otherwise a neighbouring label. */
function rater(accuracy: number): (label: JudgeLabel, truth: JudgeLabel) => number {
  return (label, truth) => {
    if (label === truth) return accuracy;
    const i = JUDGE_LABELS.indexOf(truth);
    const neighbours = [JUDGE_LABELS[i - 1], JUDGE_LABELS[i + 1]].filter((l) => l !== undefined);
    return neighbours.includes(label) ? (1 - accuracy) / neighbours.length : 0;
  };
}

/** The judge's population kappa against each annotator (the mean of the two), from the joint distribution. */
export function trueMeanKappa(accuracy: number): number {
  const judge = rater(accuracy);
  const kappas = ANNOTATORS.map((a) => {
    const human = rater(a);
    const joint = JUDGE_LABELS.map((x) => JUDGE_LABELS.map((y) => JUDGE_LABELS.reduce((s, t) => s + PRIOR[t] * judge(x, t) * human(y, t), 0)));
    const rows = joint.map((r) => r.reduce((s, v) => s + v, 0));
    const cols = JUDGE_LABELS.map((_, j) => joint.reduce((s, r) => s + (r[j] as number), 0));
    const po = joint.reduce((s, r, i) => s + (r[i] as number), 0);
    const pe = rows.reduce((s, r, i) => s + r * (cols[i] as number), 0);
    return (po - pe) / (1 - pe);
  });
  return (kappas[0]! + kappas[1]!) / 2;
}

/** The judge accuracy whose true mean kappa is `target` (bisection: kappa grows with accuracy). */
export function accuracyFor(target: number): number {
  let [low, high] = [0.3, 1];
  for (let i = 0; i < 60; i++) {
    const mid = (low + high) / 2;
    if (trueMeanKappa(mid) < target) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
}

function draw(rng: SeededRandom, truth: JudgeLabel, accuracy: number): JudgeLabel {
  if (rng.chance(accuracy)) return truth;
  const i = JUDGE_LABELS.indexOf(truth);
  return rng.pick([JUDGE_LABELS[i - 1], JUDGE_LABELS[i + 1]].filter((l): l is JudgeLabel => l !== undefined));
}

/** How often the gate passes a judge of true kappa `target` on `n` held-out items. */
export function gatePassRate(
  target: number,
  n: number,
  simulations: number,
  seed: number,
  policy: TrustPolicy = { minKappa: 0.6, minLowerBound: 0.5 },
): number {
  const rng = new SeededRandom(seed);
  const accuracy = accuracyFor(target);
  const truths = JUDGE_LABELS.flatMap((l) => Array<JudgeLabel>(Math.round(PRIOR[l] * 700)).fill(l));
  let passed = 0;
  for (let s = 0; s < simulations; s++) {
    const items: CalibrationItem[] = [];
    const judged: JudgeLabel[] = [];
    for (let i = 0; i < n; i++) {
      const truth = rng.pick(truths);
      items.push({ humans: [draw(rng, truth, ANNOTATORS[0]), draw(rng, truth, ANNOTATORS[1])] } as CalibrationItem);
      judged.push(draw(rng, truth, accuracy));
    }
    const kappa = ([0, 1] as const).map((h) =>
      cohenKappa(
        judged,
        items.map((it) => it.humans[h]),
        { labels: [...JUDGE_LABELS] },
      ),
    );
    const mean = kappa[0]?.defined && kappa[1]?.defined ? (kappa[0].kappa + kappa[1].kappa) / 2 : null;
    const lowerBound = meanKappaLowerBound(items, judged, { samples: 400, seed: s + 1 });
    if (decideTrustGate({ mean, lowerBound, items: n }, policy).passed) passed++;
  }
  return passed / simulations;
}

/**
 * How often the drift test alarms when a judge (right 80% of the time against the reference labels) is
 * asked twice, each answer flipping to a neighbouring label with probability `noise`; with `lenient`, the
 * second time 30% of its needs_improvement verdicts become good (a provider update made it lenient).
 */
export function driftAlarmRate(
  reference: readonly JudgeLabel[],
  options: { lenient: boolean; noise: number; alpha: number; simulations: number; seed: number; samples?: number },
): number {
  const rng = new SeededRandom(options.seed);
  const ids = reference.map((_, i) => `g-${i}`);
  const refs = Object.fromEntries(ids.map((id, i) => [id, reference[i] as JudgeLabel]));
  let alarms = 0;
  for (let s = 0; s < options.simulations; s++) {
    const judge = reference.map((h) => draw(rng, h, 0.8));
    const ask = (): JudgeLabel[] => judge.map((j) => (rng.chance(options.noise) ? draw(rng, j, 0) : j));
    const before = ask();
    const after = ask().map((l) => (options.lenient && l === 'needs_improvement' && rng.chance(0.3) ? 'good' : l));
    const verdict = judgeDrift(
      Object.fromEntries(ids.map((id, i) => [id, after[i] as JudgeLabel])),
      Object.fromEntries(ids.map((id, i) => [id, before[i] as JudgeLabel])),
      refs,
      { alpha: options.alpha, baselineRun: 'baseline', samples: options.samples ?? 400, seed: s + 1 },
    );
    if (verdict.drift) alarms++;
  }
  return alarms / options.simulations;
}

/** How often the mirroring interval of the mean score covers the true mean, for n requests at a tie rate and a win–loss advantage. */
export function mirrorCoverage(options: { tieRate: number; advantage: number; n: number; simulations: number; seed: number; below?: boolean }): {
  coverage: number;
  promoted: number;
  /** With `below`: how often the upper bound falls under ½ (a mirrored slice "regresses"). */
  regressed?: number;
} {
  const rng = new SeededRandom(options.seed);
  const win = (1 - options.tieRate) / 2 + options.advantage;
  const truth = win + options.tieRate / 2;
  let covered = 0;
  let promoted = 0;
  let regressed = 0;
  for (let s = 0; s < options.simulations; s++) {
    const scores = Array.from({ length: options.n }, () => {
      const u = rng.next();
      return u < win ? 1 : u < win + options.tieRate ? 0.5 : 0;
    });
    const { ci } = meanInterval(scores, { prior: [1, 0] });
    if (ci[0] <= truth && truth <= ci[1]) covered++;
    if (ci[0] > 0.5) promoted++;
    if (ci[1] < 0.5) regressed++;
  }
  return {
    coverage: covered / options.simulations,
    promoted: promoted / options.simulations,
    ...(options.below === true ? { regressed: regressed / options.simulations } : {}),
  };
}

export interface WeeklyScenario {
  /** The judge's own label of each golden item (the offline judge's, on the real golden set). */
  judge: readonly JudgeLabel[];
  /** Each answer flips to a neighbouring label with this probability, afresh every week (re-asking noise). */
  noise: number;
  /** Weekly runs after the baseline. */
  weeks: number;
  /** From this week on, this share of the judge's bad verdicts come out good (a provider update made it lenient). */
  shift?: { at: number; badToGood: number };
  simulations: number;
  seed: number;
  /** The CUSUM's allowance and threshold (default: the drift step's). */
  cusum?: { allowance: number; threshold: number };
}

/**
 * The sequential test over simulated weekly histories: the share of histories in which it alarms at all
 * (pure noise: the false-alarm rate over the horizon), alarms before the shift, and catches the shift
 * within `within` runs of its start; and the median number of runs it took. With `perWeek`, also how
 * often the per-week test (each run against the baseline) alarms at least once over the horizon.
 */
export function sequentialAlarmRates(
  scenario: WeeklyScenario & { perWeek?: { alpha: number; reference: readonly JudgeLabel[]; samples: number } },
  within = 8,
): { alarmed: number; beforeShift: number; caughtWithin: number; medianRuns: number | null; perWeekAlarmed?: number } {
  const rng = new SeededRandom(scenario.seed);
  const ids = scenario.judge.map((_, i) => `g-${i}`);
  const ask = (week: number): Record<string, JudgeLabel> =>
    Object.fromEntries(
      scenario.judge.map((label, i) => {
        let answer = rng.chance(scenario.noise) ? draw(rng, label, 0) : label;
        if (scenario.shift !== undefined && week >= scenario.shift.at && answer === 'bad' && rng.chance(scenario.shift.badToGood)) answer = 'good';
        return [ids[i] as string, answer];
      }),
    );
  const perWeek = scenario.perWeek;
  const reference = perWeek === undefined ? {} : Object.fromEntries(ids.map((id, i) => [id, perWeek.reference[i] as JudgeLabel]));
  let [alarmed, beforeShift, caught, perWeekAlarmed] = [0, 0, 0, 0];
  const runs: number[] = [];
  for (let s = 0; s < scenario.simulations; s++) {
    const baseline = ask(0);
    const cusum = new DriftCusum(baseline, scenario.cusum);
    let [sequentialDone, perWeekDone] = [false, perWeek === undefined];
    for (let week = 1; week <= scenario.weeks && !(sequentialDone && perWeekDone); week++) {
      const labels = ask(week);
      if (!perWeekDone && perWeek !== undefined) {
        const options = { alpha: perWeek.alpha, baselineRun: 'w0', samples: perWeek.samples, seed: s * 100 + week };
        perWeekDone = judgeDrift(labels, baseline, reference, options).drift;
        if (perWeekDone) perWeekAlarmed++;
      }
      if (sequentialDone) continue;
      if (cusum.add({ runId: `w${week}`, items: labels }).alarm === null) {
        cusum.accept(labels);
        continue;
      }
      sequentialDone = true;
      alarmed++;
      const start = scenario.shift?.at;
      if (start !== undefined && week < start) beforeShift++;
      else if (start !== undefined) {
        runs.push(week - start + 1);
        if (week - start < within) caught++;
      }
    }
  }
  runs.sort((a, b) => a - b);
  const n = scenario.simulations;
  return {
    alarmed: alarmed / n,
    beforeShift: beforeShift / n,
    caughtWithin: caught / n,
    medianRuns: runs.length === 0 ? null : (runs[Math.floor(runs.length / 2)] as number),
    ...(perWeek === undefined ? {} : { perWeekAlarmed: perWeekAlarmed / n }),
  };
}
