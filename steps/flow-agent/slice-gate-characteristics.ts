// How often the slice gate errs, by seeded simulation from a real production evaluation: it blocks a
// candidate as good as production (false block), and it catches a real drop on one slice (power).
// scripts/gate-error-rates.ts prints them for docs/judge.md; the tests hold them to their bounds.
import { SeededRandom } from '../stats/seeded-random.js';
import { judgeSlices, type ItemScores, type SliceRule } from './slice-gate.js';
import type { EvaluationMetrics } from './evaluate.js';
import type { Metric } from './score-workflow.js';

export interface GateScenario {
  /** Two real evaluations of models of equal quality (two retrains), the same examples: what an equal candidate looks like. */
  pair: { before: readonly ItemScores[]; after: readonly ItemScores[] };
  /**
   * The slice that really gets worse, by `by` in expectation (0.1: ten points): `breaks` loses whole
   * examples (each scores 0 with the probability that takes `by` off the mean), `shrinks` takes the same
   * share off every example.
   */
  drop?: { slice: string; by: number; how: 'breaks' | 'shrinks' };
  rule: SliceRule;
  simulations: number;
  seed: number;
}

/** The summary evaluate would write for these examples, as far as the slice gate reads it. */
function summaryOf(items: readonly ItemScores[], metric: Metric): EvaluationMetrics {
  const mean = (group: readonly ItemScores[]): number => group.reduce((s, i) => s + ((i.scores[metric] as number | null) ?? 0), 0) / group.length;
  const slices = [...new Set(items.flatMap((i) => i.slices))];
  const entry = (group: readonly ItemScores[]) =>
    ({
      examples: group.length,
      valid: null,
      trigger: null,
      conditionOperators: null,
      actionF1: null,
      exact: null,
      [metric]: mean(group),
    }) as EvaluationMetrics['overall'];
  return {
    model: 'simulated',
    offlineStandIn: true,
    failedPredictions: 0,
    overall: entry(items),
    slices: Object.fromEntries(slices.map((s) => [s, entry(items.filter((i) => i.slices.includes(s)))])),
  };
}

/**
 * One simulated production and candidate: for each example the two real scores, either way round with
 * equal chance (so the candidate is exactly as good as production in expectation, on every slice), then
 * the drop applied to the candidate.
 */
export function simulatedPair(
  scenario: Pick<GateScenario, 'pair' | 'drop' | 'rule'>,
  rng: SeededRandom,
): { production: ItemScores[]; candidate: ItemScores[] } {
  const { metric } = scenario.rule;
  const score = (i: ItemScores | undefined): number => (i?.scores[metric] as number | null | undefined) ?? 0;
  const twin = new Map(scenario.pair.after.map((i) => [i.id, i]));
  const production: ItemScores[] = [];
  const candidate: ItemScores[] = [];
  for (const item of scenario.pair.before) {
    const other = twin.get(item.id) ?? item;
    const [p, c] = rng.chance(0.5) ? [item, other] : [other, item];
    production.push(p);
    candidate.push(c);
  }
  const drop = scenario.drop;
  if (drop === undefined) return { production, candidate };
  const inSlice = candidate.filter((i) => i.slices.includes(drop.slice));
  const mean = inSlice.reduce((s, i) => s + score(i), 0) / Math.max(1, inSlice.length);
  const share = mean === 0 ? 0 : Math.min(1, drop.by / mean);
  return {
    production,
    candidate: candidate.map((item) => {
      if (!item.slices.includes(drop.slice)) return item;
      const s = drop.how === 'shrinks' ? score(item) * (1 - share) : rng.chance(share) ? 0 : score(item);
      return { ...item, scores: { ...item.scores, [metric]: s } };
    }),
  };
}

/** The share of simulations in which the gate blocks on some slice, and on the dropped slice itself. */
export function sliceGateRates(scenario: GateScenario): { blocked: number; blockedOnDrop: number } {
  const rng = new SeededRandom(scenario.seed);
  const { metric } = scenario.rule;
  let blocked = 0;
  let blockedOnDrop = 0;
  for (let s = 0; s < scenario.simulations; s++) {
    const { production, candidate } = simulatedPair(scenario, rng);
    const verdicts = judgeSlices(
      { metrics: summaryOf(candidate, metric), items: candidate },
      { metrics: summaryOf(production, metric), items: production },
      scenario.rule,
    );
    if (verdicts.some((v) => v.verdict === 'blocks')) blocked++;
    if (verdicts.some((v) => v.verdict === 'blocks' && v.slice === scenario.drop?.slice)) blockedOnDrop++;
  }
  return { blocked: blocked / scenario.simulations, blockedOnDrop: blockedOnDrop / scenario.simulations };
}
