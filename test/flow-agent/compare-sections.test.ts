import { describe, expect, it } from 'vitest';
import { compareSections, formatSections, type SectionSource } from '../../steps/release/compare-sections.js';

const source = (node: string, step: string, value: unknown, status = 'executed'): SectionSource => ({ node, step, status, value, note: null });

describe('compare sections read outputs loosely', () => {
  it('shows what each version of an output has: renamed, added and missing fields', () => {
    // A: an older mirror (winRate), B: a newer one (score, signTestP, refused) with a field nobody knows yet.
    const a = [
      source('evaluate', 'flow-evaluate', {
        model: 'm1',
        overall: { examples: 10, actionF1: 0.5, exact: null },
        slices: { email: { examples: 4, actionF1: 0.25 } },
      }),
      source('mirror', 'flow-mirror', {
        skipped: null,
        production: 'v1',
        overall: { n: 10, wins: 5, ties: 2, losses: 3, winRate: 0.6, ci: [0.3, 0.8] },
        promote: true,
        reasons: ['ok'],
      }),
    ];
    const b = [
      source('evaluate', 'flow-evaluate', {
        model: 'm2',
        overall: { examples: 10, actionF1: 0.75, exact: 0.1, meanScore: 0.7, scoreCi: [0.6, 0.8] },
        slices: { email: { examples: 4 } },
        novelty: 'x',
      }),
      source('mirror', 'flow-mirror', {
        skipped: null,
        refused: null,
        production: 'v2',
        overall: { n: 10, wins: 6, ties: 2, losses: 2, score: 0.7, ci: [0.5, 0.9], signTestP: 0.29 },
        promote: false,
        reasons: ['no'],
      }),
      source('judge', 'judge-predictions', undefined, 'failed'),
      source('trust', 'judge-trust', { trusted: false, code: 'JUDGE_DRIFT', reasons: ['drifted'], gate: { kappa: 0.7, lowerBound: 0.55 } }),
    ];
    const sections = compareSections(a, b);
    expect(sections.map((s) => s.kind)).toEqual(['metrics', 'judged', 'trust', 'mirror']);
    const metrics = sections[0];
    if (metrics?.kind !== 'metrics') throw new Error('metrics first');
    expect(metrics.rows.find((r) => r.slice === 'overall' && r.metric === 'actionF1')).toMatchObject({ a: 0.5, b: 0.75, delta: 0.25, countA: 10 });
    expect(metrics.rows.find((r) => r.metric === 'meanScore')).toMatchObject({ a: null, b: 0.7, delta: null, ciB: [0.6, 0.8], scale: 'number' });
    expect(metrics.rows.find((r) => r.slice === 'email')).toMatchObject({ a: 0.25, b: null });
    expect(metrics.extra).toEqual([{ field: 'novelty', a: undefined, b: 'x' }]);
    const mirror = sections[3];
    if (mirror?.kind !== 'mirror') throw new Error('mirror last');
    expect(mirror.mirror.a).toMatchObject({ score: 0.6, signTestP: null, refused: null });
    expect(mirror.mirror.b).toMatchObject({ score: 0.7, signTestP: 0.29, promote: false });
    expect(sections[1]?.runs).toEqual({ a: null, b: { status: 'failed', available: false, note: 'no output' } });

    const text = formatSections(sections).join('\n');
    expect(text).toMatch(/overall \(10\) +actionF1 +50\.0% +75\.0% +\+25\.0 pt/);
    expect(text).toMatch(/meanScore +– +0\.700 +– .*\[0\.600, 0\.800\]/);
    expect(text).toContain('novelty: (absent) → x');
    expect(text).toContain('B: failed, no judged');
    expect(text).toContain('B: not trusted (JUDGE_DRIFT); held-out kappa 0.700, lower bound 0.550\n     drifted');
    expect(text).toContain('A: vs v1: 5/2/3 wins/ties/losses; score 0.600 [0.300, 0.800]; promote yes');
  });

  it('shows the paired drift tests of each run', () => {
    const drift = (status: string, extra: object): SectionSource[] => [
      source('judge-drift', 'judge-golden-drift', { status, kappa: 0.7, ci: [0.6, 0.8], reasons: [status], ...extra }),
    ];
    const [section] = compareSections(
      drift('baseline', { labelShift: null, kappaChange: null }),
      drift('drift', {
        labelShift: { statistic: 20, df: 2, p: 4.5e-5, discordant: 24 },
        kappaChange: { before: 0.76, after: 0.56, delta: -0.2, ci: [-0.3, -0.1] },
      }),
    );
    const text = formatSections(section ? [section] : []).join('\n');
    expect(text).toContain('A: baseline; golden kappa 0.700 [0.600, 0.800]\n');
    expect(text).toContain('B: drift; golden kappa 0.700 [0.600, 0.800]; 24 item(s) changed; label shift p 0.000045; kappa change -0.200 [-0.300, -0.100]');
  });

  it('ignores steps it does not know and values that are not objects', () => {
    expect(compareSections([source('x', 'word-count', { a: 1 })], [source('x', 'word-count', { a: 2 })])).toEqual([]);
    const [deploy] = compareSections([source('deploy', 'flow-deploy', 'garbage')], [source('deploy', 'flow-deploy', { version: 2, promoted: true })]);
    expect(deploy).toMatchObject({ kind: 'deploy', decision: { a: null, b: { version: 2, promoted: true, production: null, reasons: [] } } });
    expect(formatSections(deploy ? [deploy] : []).join('\n')).toContain('B: v2 promoted; production none');
  });

  it('clips a paired interval of a rate to what a change of rates can be, and says so', () => {
    const metrics = (f1: number) => ({ model: 'm', overall: { examples: 3, actionF1: f1 }, slices: { 'trigger:control': { examples: 3, actionF1: f1 } } });
    const slices = { triggerCategory: 'control', kind: 'create', email: false, thirdParty: false };
    // Three items whose changes spread wide: a t interval with 2 degrees of freedom reaches far past ±1.
    const items = (scores: number[]) => scores.map((actionF1, i) => ({ id: `x${i}`, slices, scores: { actionF1 } }));
    const a = [{ ...source('evaluate', 'flow-evaluate', metrics(0.5)), items: items([0, 1, 0.5]) }];
    const b = [{ ...source('evaluate', 'flow-evaluate', metrics(0.5)), items: items([1, 0, 0.5]) }];
    const [section] = compareSections(a, b) as Array<{
      rows: Array<{ slice: string; metric: string; deltaCi: [number, number] | null; deltaCiClipped?: boolean }>;
    }>;
    const row = section?.rows.find((r) => r.slice === 'trigger:control' && r.metric === 'actionF1');
    expect(row?.deltaCi).toEqual([-1, 1]);
    expect(row?.deltaCiClipped).toBe(true);
    const text = formatSections(compareSections(a, b) as never).join('\n');
    expect(text).toContain('[-100.0, 100.0]*');
    expect(text).toContain('* clipped to what the metric can take (±100 points)');
  });
});
