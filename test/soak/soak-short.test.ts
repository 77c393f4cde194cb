import { describe, expect, it } from 'vitest';
import { DEFAULT_SOAK, describeReport, runSoak } from '../../bench/soak/run-soak.js';

// The short version of `npm run soak`: the same harness, cluster and invariants, with a smaller pipeline
// and a few dozen faults. A failure prints the soak's report: its seed replays the same fault schedule.
describe('the chaos soak, short', () => {
  it('keeps every invariant through a few dozen kills, cuts and stalls of a distributed run', async () => {
    const lines: string[] = [];
    const report = await runSoak({
      ...DEFAULT_SOAK,
      runs: 6,
      faults: 30,
      meanGapMs: 1000,
      items: 40,
      ticks: 10,
      tickMs: 100,
      largeBytes: 1 << 20,
      log: (line) => lines.push(line),
    });
    const described = `${lines.join('\n')}\n${describeReport(report)}`;
    expect(report.broken, described).toEqual([]);
    expect(report.faultLog.length).toBeGreaterThanOrEqual(30);
    expect(report.runs).toBeGreaterThanOrEqual(6);
    expect(Object.values(report.faults).filter((n) => n > 0).length, described).toBeGreaterThanOrEqual(4);
    expect(report.executions.total).toBeGreaterThan(0);
  }, 300_000);
});
