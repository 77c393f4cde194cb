import { describe, expect, it } from 'vitest';
import type { EvaluationMetrics } from '../../steps/flow-agent/evaluate.js';
import { decideGate } from '../../steps/flow-agent/gate.js';

function metrics(overall: number, slices: Record<string, number>): EvaluationMetrics {
  const summary = (v: number) => ({ examples: 10, valid: 1, trigger: v, conditionOperators: v, actionF1: v, exact: 0 });
  return {
    model: 'm',
    offlineStandIn: true,
    failedPredictions: 0,
    overall: summary(overall),
    slices: Object.fromEntries(Object.entries(slices).map(([k, v]) => [k, summary(v)])),
  };
}
const policy = { metric: 'actionF1' as const, minScore: 0.5, maxSliceRegression: 0.05 };

describe('deploy gate', () => {
  it('promotes the first model that reaches the minimum', () => {
    expect(decideGate(metrics(0.6, { email: 0.6 }), undefined, policy)).toMatchObject({ promote: true });
  });
  it('refuses a model below the minimum', () => {
    const decision = decideGate(metrics(0.4, {}), undefined, policy);
    expect(decision.promote).toBe(false);
    expect(decision.reasons[0]).toContain('below the minimum 0.5');
  });
  it('refuses a better model that regresses a slice beyond the tolerance, and names the slice', () => {
    const decision = decideGate(metrics(0.8, { email: 0.5, 'kind:edit': 0.9 }), metrics(0.7, { email: 0.6, 'kind:edit': 0.7 }), policy);
    expect(decision.promote).toBe(false);
    expect(decision.reasons).toEqual([expect.stringContaining('slice email regresses')]);
  });
  it('tolerates a regression within the tolerance, and ignores slices production never had', () => {
    expect(decideGate(metrics(0.8, { email: 0.57, 'third-party': 0.1 }), metrics(0.7, { email: 0.6 }), policy).promote).toBe(true);
  });
});
