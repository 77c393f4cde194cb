import { describe, expect, it } from 'vitest';
import { accuracyFor, gatePassRate, trueMeanKappa } from '../../steps/judge/operating-characteristics.js';
import { decideTrustGate } from '../../steps/judge/trust-gate.js';

describe('the trust gate', () => {
  it('needs both the point estimate and its lower bound, and says which failed', () => {
    const policy = { minKappa: 0.6, minLowerBound: 0.5 };
    expect(decideTrustGate({ mean: 0.635, lowerBound: 0.54, items: 120 }, policy)).toMatchObject({ passed: true });
    const uncertain = decideTrustGate({ mean: 0.65, lowerBound: 0.31, items: 20 }, policy);
    expect(uncertain.passed).toBe(false);
    expect(uncertain.reasons).toEqual([expect.stringContaining('lower bound 0.310 is below 0.5: too uncertain on 20 held-out items')]);
    const low = decideTrustGate({ mean: 0.447, lowerBound: 0.33, items: 120 }, policy);
    expect(low.reasons).toHaveLength(2);
    expect(low.reasons[0]).toContain('held-out kappa 0.447 is below the bar 0.6');
    expect(decideTrustGate({ mean: null, lowerBound: null, items: 0 }, policy).passed).toBe(false);
  });

  it('rarely trusts a judge of true kappa 0.5 and usually trusts one of 0.7 (120 held-out items; bounded simulation)', () => {
    expect(trueMeanKappa(accuracyFor(0.5))).toBeCloseTo(0.5, 6);
    const falseTrust = gatePassRate(0.5, 120, 200, 1);
    const trueTrust = gatePassRate(0.7, 120, 200, 2);
    expect(falseTrust).toBeLessThanOrEqual(0.05);
    expect(trueTrust).toBeGreaterThanOrEqual(0.9);
    // With 30 held-out items the point estimate alone would pass a 0.5 judge far more often: the bound holds it back.
    expect(gatePassRate(0.5, 30, 200, 3)).toBeLessThanOrEqual(0.05);
  }, 60_000);
});
