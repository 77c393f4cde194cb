import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CalibrationItem, JudgeLabel } from '../../steps/judge/calibration-generator.js';
import { historyBlocks, sliceTable } from '../../steps/judge/calibration-report.js';
import { agreement, searchJudgeSpec, type SearchStep } from '../../steps/judge/calibration-search.js';
import { defaultJudgeSpec, specWithRubric } from '../../steps/judge/judge-spec.js';
import { studentTQuantile } from '../../steps/stats/distributions.js';
import { labelRates, labelRateTable } from '../../steps/judge/label-rates.js';

const t975 = (df: number): number => studentTQuantile(0.975, df);
import { offlineJudge } from '../../steps/judge/offline-judge.js';
import { FIXTURES, REPO, runCli, runJson } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const CALIBRATION = join(REPO, 'data', 'judge', 'calibration.jsonl');

async function calibrationSet(): Promise<CalibrationItem[]> {
  return (await readFile(CALIBRATION, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as CalibrationItem);
}

/** Items made from one committed item, with the annotators' labels given (request and output do not matter here). */
async function itemsLabelled(humans: ReadonlyArray<[JudgeLabel, JudgeLabel]>, slice: CalibrationItem['slice'] = 'create'): Promise<CalibrationItem[]> {
  const [template] = await calibrationSet();
  if (template === undefined) throw new Error('the committed calibration set is empty');
  return humans.map((pair, i) => ({ ...template, id: `t-${i}`, slice, humans: pair }));
}

const repeat = <T>(n: number, value: T): T[] => Array.from({ length: n }, () => value);
const interval = /^\[(-?\d\.\d{3}), (-?\d\.\d{3})\]$/;

describe('calibration report: slice intervals and the history chart', () => {
  it('sliceTable gives each slice kappa its 95% interval, clipped to [−1, 1]', async () => {
    const heldOut = (await calibrationSet()).filter((i) => i.split === 'held-out');
    const judged = heldOut.map((i) => offlineJudge(i.request, i.output).label);
    const rows = sliceTable(heldOut, judged);
    expect(rows[0]).toEqual(['slice', 'items', 'judge vs annotator 1', '95% CI', 'judge vs annotator 2', '95% CI']);
    expect(rows.find((r) => r[0] === 'edit')?.[1]).toBe('23');
    for (const row of rows.slice(1))
      for (const [kappa, ci] of [
        [row[2], row[3]],
        [row[4], row[5]],
      ]) {
        const [, low, high] = interval.exec(ci ?? '') ?? [];
        expect(Number(low)).toBeLessThanOrEqual(Number(kappa));
        expect(Number(high)).toBeGreaterThanOrEqual(Number(kappa));
        expect(Number(low)).toBeGreaterThanOrEqual(-1);
        expect(Number(high)).toBeLessThanOrEqual(1);
      }

    // Ten items, one disagreement: kappa 0.8 ± 1.96 · 0.186 would reach 1.16; the table says 1.000.
    const humans: Array<[JudgeLabel, JudgeLabel]> = [
      ...repeat(5, ['good', 'good'] as [JudgeLabel, JudgeLabel]),
      ...repeat(5, ['bad', 'bad'] as [JudgeLabel, JudgeLabel]),
    ];
    const small = await itemsLabelled(humans, 'edit');
    const smallRows = sliceTable(small, [...repeat<JudgeLabel>(5, 'good'), ...repeat<JudgeLabel>(4, 'bad'), 'good']);
    expect(smallRows[1]).toEqual(['edit', '10', '0.800', '[0.436, 1.000]', '0.800', '[0.436, 1.000]']);
  });

  it('historyBlocks charts each series against the ceiling of its own part', async () => {
    const items = await itemsLabelled([
      ['good', 'good'],
      ['bad', 'bad'],
      ['good', 'bad'],
    ]);
    const score = agreement(['good', 'bad', 'good'], items);
    const step: SearchStep = {
      iteration: 0,
      change: 'starting spec',
      specDigest: 'f'.repeat(64),
      rubricName: 'balanced',
      fewShot: [],
      development: score,
      heldOut: score,
    };
    const [figure] = historyBlocks([step], 0.6, { development: 0.71, heldOut: 0.66 });
    const svg = figure?.kind === 'figure' ? figure.svg : '';
    expect(svg).toContain('fill="#1f6fb2">development ceiling 0.71</text>');
    expect(svg).toContain('fill="#d9730d">held-out ceiling 0.66</text>');
    expect(svg).toContain('trust bar 0.60');
    const [without] = historyBlocks([step], 0.6, { development: null, heldOut: 0.66 });
    expect(without?.kind === 'figure' && without.svg).not.toContain('development ceiling');
  });
});

describe('label rates: does the judge use a label more often than the annotators?', () => {
  it('flags a judge that says good on 30 of 100 items where the annotators say good on 10', async () => {
    const items = await itemsLabelled([
      ...repeat(10, ['good', 'good'] as [JudgeLabel, JudgeLabel]),
      ...repeat(90, ['needs_improvement', 'needs_improvement'] as [JudgeLabel, JudgeLabel]),
    ]);
    const judged = [...repeat<JudgeLabel>(30, 'good'), ...repeat<JudgeLabel>(70, 'needs_improvement')];
    const result = labelRates(items, judged);
    expect(result).toMatchObject({ n: 100, unjudged: 0 });
    const good = result.rates.find((r) => r.label === 'good');
    expect(good).toMatchObject({ judge: 30, annotators: [10, 10], flag: 'over-calls' });
    expect(good?.difference).toBeCloseTo(0.2, 12);
    // d is 1 on 20 items and 0 on 80: sd = sqrt(0.16 · 100/99), t(99) = 1.984.
    const half = t975(99) * Math.sqrt((0.16 * 100) / 99 / 100);
    expect(good?.ci?.[0]).toBeCloseTo(0.2 - half, 12);
    expect(good?.ci?.[1]).toBeCloseTo(0.2 + half, 12);
    expect(result.rates.find((r) => r.label === 'needs_improvement')?.flag).toBe('under-calls');
    expect(result.rates.find((r) => r.label === 'bad')).toMatchObject({ judge: 0, difference: 0, ci: [0, 0], flag: null });

    const rows = labelRateTable([{ part: 'constructed', rates: result }]);
    expect(rows[0]).toEqual(['items', 'label', 'judge count (rate)', 'annotator 1 count (rate)', 'annotator 2 count (rate)', 'difference (95% CI)', 'flag']);
    const row = rows.find((r) => r[1] === 'good');
    expect(row?.slice(0, 5)).toEqual(['constructed (100)', 'good', '30 (0.300)', '10 (0.100)', '10 (0.100)']);
    expect(row?.[5]).toMatch(/^\+0\.200 \[\+0\.1\d\d, \+0\.2\d\d\]$/);
    expect(row?.[6]).toBe('over-calls good');
    expect(rows.find((r) => r[1] === 'needs_improvement')?.[6]).toBe('under-calls needs_improvement');
    expect(rows.find((r) => r[1] === 'bad')?.[6]).toBe('–');
  });

  it('flags nothing for a judge matching the annotators, and leaves unjudged items out', async () => {
    // The annotators disagree on 10 items, five each way; the judge says what annotator 1 says.
    const humans: Array<[JudgeLabel, JudgeLabel]> = [
      ...repeat(20, ['good', 'good'] as [JudgeLabel, JudgeLabel]),
      ...repeat(5, ['good', 'needs_improvement'] as [JudgeLabel, JudgeLabel]),
      ...repeat(5, ['needs_improvement', 'good'] as [JudgeLabel, JudgeLabel]),
      ...repeat(50, ['needs_improvement', 'needs_improvement'] as [JudgeLabel, JudgeLabel]),
      ...repeat(20, ['bad', 'bad'] as [JudgeLabel, JudgeLabel]),
    ];
    const items = await itemsLabelled(humans);
    const exact = labelRates(
      items,
      items.map((i) => i.humans[0]),
    );
    expect(exact.rates.map((r) => r.flag)).toEqual([null, null, null]);
    expect(exact.rates.map((r) => r.difference)).toEqual([0, 0, 0]);
    expect(
      labelRateTable([{ part: 'exact', rates: exact }])
        .slice(1)
        .map((r) => r[6]),
    ).toEqual(['–', '–', '–']);

    // Without a judgement an item counts for nobody: 30 "good" judgements over 98 judged items.
    const judged: Array<JudgeLabel | null> = [null, null, ...repeat<JudgeLabel>(30, 'good'), ...repeat<JudgeLabel>(68, 'needs_improvement')];
    const partial = labelRates(items, judged);
    expect(partial).toMatchObject({ n: 98, unjudged: 2 });
    expect(partial.rates.find((r) => r.label === 'good')).toMatchObject({ judge: 30, annotators: [23, 23] });
    expect(labelRateTable([{ part: 'held-out', rates: partial }])[1]?.[0]).toBe('held-out (98, 2 unjudged left out)');
    expect(labelRates(items.slice(0, 1), ['good']).rates.every((r) => r.ci === null && r.flag === null)).toBe(true);
  });

  it('t quantiles match the tables', () => {
    expect(t975(1)).toBeCloseTo(12.7062, 4);
    expect(t975(10)).toBeCloseTo(2.2281, 4);
    expect(t975(99)).toBeCloseTo(1.9842, 4);
    expect(t975(100_000)).toBeCloseTo(1.96, 3);
  });

  it('on the committed data the calibrated offline judge over-calls good (106 of 240 against 59 and 60)', async () => {
    const items = await calibrationSet();
    const judge = async (spec: Parameters<typeof offlineJudge>[2], part: readonly CalibrationItem[]): Promise<JudgeLabel[]> =>
      part.map((i) => offlineJudge(i.request, i.output, spec).label);
    const result = await searchJudgeSpec(items, judge, specWithRubric(defaultJudgeSpec(), 'lenient'), {
      maxIterations: 6,
      maxFewShot: 6,
      fewShotCandidates: 3,
      minGain: 0.005,
    });
    const development = items.filter((i) => i.split === 'development');
    const heldOut = items.filter((i) => i.split === 'held-out');
    const all = labelRates([...development, ...heldOut], [...result.chosenLabels.development, ...result.chosenLabels.heldOut]);
    expect(all.rates.find((r) => r.label === 'good')).toMatchObject({ judge: 106, annotators: [59, 60], flag: 'over-calls' });
    expect(labelRates(heldOut, result.chosenLabels.heldOut).rates.find((r) => r.label === 'good')?.flag).toBe('over-calls');
  });

  it('the judge-calibrate step puts the label rates, slice intervals and both ceilings in its report', async () => {
    const cwd = await tempDir('judge-report');
    const env = { FLYWHEEL_TEST_CALIBRATION: CALIBRATION };
    const run = await runJson(join(FIXTURES, 'judge-calibration.ts'), [], { cwd, env });
    expect(run.code, run.stderr).toBe(0);
    const out = await runCli(['output', 'calibrate-judge.report', '--out', join(cwd, 'report')], { cwd, env });
    expect(out.code, out.stderr).toBe(0);
    const report = await readFile(join(cwd, 'report', 'report.md'), 'utf8');
    expect(report).toContain('Label rates (held-out and all items)');
    expect(report).toMatch(/all items \(240\) \| good \| 106 \(0\.442\) \| 59 \(0\.246\) \| 60 \(0\.250\) \| \+0\.194 \[[^\]]+\] \| over-calls good/);
    expect(report).toMatch(/held-out \(120\) \| good \| .* \| over-calls good/);
    expect(report).toMatch(/\| edit \| 23 \| \d\.\d{3} \| \[\d\.\d{3}, \d\.\d{3}\] \|/);
    const html = await readFile(join(cwd, 'report', 'report.html'), 'utf8');
    expect(html).toContain('development ceiling');
    expect(html).toContain('held-out ceiling');
  }, 120_000);
});
