import { describe, expect, it } from 'vitest';
import { sliceGateRates } from '../../steps/flow-agent/slice-gate-characteristics.js';
import { flagshipScorePair } from '../support/flagship-scores.js';

// The slice gate's error rates, simulated from two real evaluations of the flagship (two retrains of equal
// quality): the short version of scripts/gate-error-rates.ts, whose figures docs/judge.md reports.
describe('slice gate operating characteristics', () => {
  it('blocks an equal candidate at most at its alpha, even with no tolerance, and catches a clear drop on a 31-item slice', async () => {
    const pair = await flagshipScorePair();
    expect(pair.before).toHaveLength(300);
    const rule = (tolerance: number) => ({ metric: 'actionF1' as const, tolerance, alpha: 0.05, minSliceSize: 10 });
    // With no tolerance an equal candidate sits on the null's edge: the family's error rate is the bound.
    expect(sliceGateRates({ pair, rule: rule(0), simulations: 300, seed: 1 }).blocked).toBeLessThanOrEqual(0.05);
    expect(sliceGateRates({ pair, rule: rule(0.05), simulations: 300, seed: 1 }).blocked).toBe(0);
    const drop = sliceGateRates({ pair, rule: rule(0.05), drop: { slice: 'trigger:marketing', by: 0.2, how: 'shrinks' }, simulations: 200, seed: 2 });
    expect(drop.blockedOnDrop).toBeGreaterThanOrEqual(0.5);
  }, 120_000);
});
