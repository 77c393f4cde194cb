import { describe, expect, it } from 'vitest';
import type { EvaluationMetrics } from '../../steps/flow-agent/evaluate.js';
import { decideGate } from '../../steps/flow-agent/gate.js';
import { judgeSlices, type ItemScores } from '../../steps/flow-agent/slice-gate.js';
import { SeededRandom } from '../../steps/stats/seeded-random.js';

const summary = (v: number, examples = 10) => ({ examples, valid: 1, trigger: v, conditionOperators: v, actionF1: v, exact: 0 });

function metrics(overall: number, slices: Record<string, number | [number, number]>): EvaluationMetrics {
  return {
    model: 'm',
    offlineStandIn: true,
    failedPredictions: 0,
    overall: summary(overall),
    slices: Object.fromEntries(Object.entries(slices).map(([k, v]) => [k, Array.isArray(v) ? summary(v[0], v[1]) : summary(v)])),
  };
}

/** Per-example actionF1 scores of one slice: `scores[i]` for example `${slice}-${i}`. */
function items(slice: string, scores: readonly number[]): ItemScores[] {
  return scores.map((s, i) => ({ id: `${slice}-${i}`, request: `r${i}`, slices: [slice], scores: { actionF1: s } }));
}

/** A model's evaluation from its per-example scores (the summary is their mean, as evaluate computes it). */
function evaluated(bySlice: Record<string, readonly number[]>) {
  const all = Object.entries(bySlice).flatMap(([slice, scores]) => items(slice, scores));
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const m = metrics(
    mean(all.map((i) => i.scores.actionF1 as number)),
    Object.fromEntries(Object.entries(bySlice).map(([slice, scores]) => [slice, [mean(scores), scores.length]])),
  );
  return { metrics: m, items: all };
}

const policy = { metric: 'actionF1' as const, minScore: 0.5, maxSliceRegression: 0.05, sliceAlpha: 0.05, minSliceSize: 10 };
const rule = { metric: 'actionF1' as const, tolerance: 0.05, alpha: 0.05, minSliceSize: 10 };

describe('deploy gate', () => {
  it('promotes the first model that reaches the minimum', () => {
    expect(decideGate({ metrics: metrics(0.6, { email: 0.6 }) }, undefined, policy)).toMatchObject({ promote: true, slices: [] });
  });

  it('refuses a model below the minimum', () => {
    const decision = decideGate({ metrics: metrics(0.4, {}) }, undefined, policy);
    expect(decision.promote).toBe(false);
    expect(decision.reasons[0]).toContain('below the minimum 0.5');
  });

  it('does not block on a 3-item slice that moved by noise (the flagship case): too small to tell, reported', () => {
    const production = evaluated({ 'trigger:control': [1, 0.667, 0.667], email: Array<number>(40).fill(0.6) });
    const candidate = evaluated({ 'trigger:control': [1, 0.5, 0.667], email: Array<number>(40).fill(0.6) });
    const decision = decideGate(candidate, production, policy);
    expect(decision.promote).toBe(true);
    const control = decision.slices.find((s) => s.slice === 'trigger:control');
    expect(control).toMatchObject({ n: 3, verdict: 'too-small', p: null, paired: true });
    expect(control?.delta).toBeCloseTo(-0.0557, 3);
    expect(decision.reasons.join('\n')).toContain('too small to tell (under 10 items; reported, never blocking alone): trigger:control (3)');
  });

  it('blocks a slice whose paired drop is clearly beyond the tolerance, and names n, Δ, interval and p', () => {
    const rng = new SeededRandom(7);
    const before = Array.from({ length: 30 }, () => 0.5 + 0.5 * rng.next());
    const after = before.map((s) => Math.max(0, s - 0.3 + 0.1 * (rng.next() - 0.5)));
    const decision = decideGate(evaluated({ 'trigger:orders': after }), evaluated({ 'trigger:orders': before }), { ...policy, minScore: 0 });
    expect(decision.promote).toBe(false);
    expect(decision.slices).toEqual([expect.objectContaining({ slice: 'trigger:orders', n: 30, verdict: 'blocks', paired: true })]);
    expect(decision.slices[0]?.p).toBeLessThan(1e-6);
    expect(decision.reasons[0]).toMatch(
      /^slice worse than production beyond 5\.0 pt: trigger:orders \(30 paired\): actionF1 Δ -\d+\.\d pt \[-\d+\.\d pt, -\d+\.\d pt\], one-sided p .* \(Holm\): blocks/,
    );
  });

  it('tells a drop within the tolerance, or one its sample cannot tell apart, from a regression', () => {
    // 30 items, 3 of them a little worse: a 2-point drop, under the 5-point tolerance.
    const before = Array<number>(30).fill(0.8);
    const within = before.map((s, i) => (i < 3 ? s - 0.2 : s));
    expect(judgeSlices(evaluated({ s: within }), evaluated({ s: before }), rule)[0]).toMatchObject({ verdict: 'fine' });
    // 12 items, two of them lost entirely: a 13-point drop that 12 items cannot tell from noise at 5%.
    const short = Array<number>(12).fill(0.8);
    const twoLost = short.map((s, i) => (i < 2 ? 0 : s));
    const verdict = judgeSlices(evaluated({ s: twoLost }), evaluated({ s: short }), rule)[0];
    expect(verdict?.delta).toBeCloseTo(-0.1333, 3);
    expect(verdict).toMatchObject({ verdict: 'fine' });
    expect(verdict?.p).toBeGreaterThan(0.05);
  });

  it('holds the family of slices to alpha: Holm adjusts each p by the slices tested with it', () => {
    // Two slices, each with the same moderate drop: alone each p is below 0.05, Holm doubles the smaller.
    const before = Array<number>(20).fill(0.7);
    const drop = before.map((s, i) => s - (i % 2 === 0 ? 0.3 : 0.05));
    const one = judgeSlices(evaluated({ a: drop }), evaluated({ a: before }), rule)[0];
    const two = judgeSlices(evaluated({ a: drop, b: drop }), evaluated({ a: before, b: before }), rule);
    expect(one?.p).toBeGreaterThan(0);
    expect(two[0]?.p).toBeCloseTo(Math.min(1, 2 * (one?.p as number)), 12);
    expect(two[1]?.p).toBeCloseTo(two[0]?.p as number, 12);
  });

  it('pairs only the same examples: an id whose request changed is left out', () => {
    const production = evaluated({ s: Array<number>(12).fill(1) });
    const candidate = evaluated({ s: Array<number>(12).fill(1) });
    candidate.items[0] = { ...(candidate.items[0] as ItemScores), request: 'edited', scores: { actionF1: 0 } };
    expect(judgeSlices(candidate, production, rule)[0]).toMatchObject({ n: 11, delta: 0, verdict: 'fine' });
  });

  it('without per-example scores of production, compares slices unpaired with the largest variance their means allow, and says so', () => {
    const production = { metrics: metrics(0.7, { email: [0.8, 60], 'kind:edit': [0.9, 60], tiny: [0.9, 4] }) };
    const candidate = { metrics: metrics(0.8, { email: [0.4, 60], 'kind:edit': [0.86, 60], tiny: [0.2, 4], 'third-party': [0.1, 30] }), items: [] };
    const decision = decideGate(candidate, production, policy);
    expect(decision.promote).toBe(false);
    expect(Object.fromEntries(decision.slices.map((s) => [s.slice, s.verdict]))).toEqual({
      email: 'blocks',
      'kind:edit': 'fine',
      'third-party': 'new',
      tiny: 'too-small',
    });
    expect(decision.slices.every((s) => !s.paired)).toBe(true);
    expect(decision.reasons.at(-1)).toContain('production kept no per-example scores (registered before they were kept): slices compared unpaired');
  });
});
