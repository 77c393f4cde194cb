import { describe, expect, it } from 'vitest';
import type { CacheKey, Digest } from '../../cache/digest.js';
import type { RunRecord, StepRunRecord } from '../../cache/records.js';
import { compareRuns } from '../../engine/records/compare-runs.js';

const KEY = 'a'.repeat(64) as CacheKey;
const OTHER = 'b'.repeat(64) as CacheKey;
const output = (c: string): StepRunRecord['outputs'] => ({ out: { kind: 'file', digest: c.repeat(64) as Digest, size: 3 } });

function run(runId: string, step: Partial<StepRunRecord>): RunRecord {
  return {
    format: 'flywheel.run/v1',
    runId,
    pipeline: 'p',
    status: 'succeeded',
    startedAt: '2026-11-29T00:00:00.000Z',
    host: 'h',
    pid: 1,
    overrides: [],
    steps: [{ id: 's', step: 's', status: 'cached', cacheKey: KEY, reasonCodes: ['cache-hit'], reason: 'cached', outputs: {}, ...step } as StepRunRecord],
  } as RunRecord;
}

describe('compareRuns', () => {
  it('calls a step re-run when B computed it again for other code under the same key, even though the key matches', () => {
    const a = run('a', { status: 'executed', outputs: output('1') });
    const b = run('b', {
      status: 'executed',
      reasonCodes: ['code-changed'],
      reason: 'code changed since this result (version 1 unchanged): steps/s.ts',
      outputs: output('2'),
    });
    const [step] = compareRuns(a, b).steps;
    expect(step).toMatchObject({ change: 'reran', codes: ['code-changed'], reason: expect.stringContaining('code changed since this result') });
    expect(step?.outputs[0]?.change).toBe('changed');
    // The same key and the same bytes: the same result.
    const same = run('c', { outputs: output('1') });
    expect(compareRuns(a, same).steps[0]?.change).toBe('same');
  });

  it('counts a step whose key changed but that B found cached as reused, as the run counted it, not as re-run', () => {
    const a = run('a', { status: 'executed', cacheKey: KEY, outputs: output('1') });
    const b = run('b', { status: 'cached', cacheKey: OTHER, outputs: output('1'), computedBy: 'c' });
    const comparison = compareRuns(a, b);
    expect(comparison.steps[0]?.change).toBe('reused');
    expect(comparison.counts).toMatchObject({ reused: 1, reran: 0 });
    // Re-run means executed in B: every count agrees with the run's own (executed, cached).
    const executed = compareRuns(a, run('d', { status: 'executed', cacheKey: OTHER, outputs: output('2') }));
    expect(executed.counts).toMatchObject({ reused: 0, reran: 1 });
  });

  it('says which run declined a step, whatever its change, and lists them as each run counts them', () => {
    const declinedA = run('a', { status: 'executed', outputs: output('1'), declined: 'slice x regresses' });
    const cachedB = run('b', { outputs: output('1'), declined: 'slice x regresses' });
    const same = compareRuns(declinedA, cachedB);
    expect(same.steps[0]).toMatchObject({ change: 'same', declinedA: 'slice x regresses', declinedB: 'slice x regresses' });
    expect(same.declined).toEqual({ a: ['s'], b: ['s'] });
    const promoted = compareRuns(declinedA, run('c', { status: 'executed', cacheKey: OTHER, outputs: output('2') }));
    expect(promoted.steps[0]).toMatchObject({ change: 'reran', declinedA: 'slice x regresses', declinedB: null });
    expect(promoted.declined).toEqual({ a: ['s'], b: [] });
  });
});
