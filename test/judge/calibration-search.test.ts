import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JUDGE_LABELS, type CalibrationItem, type JudgeLabel } from '../../steps/judge/calibration-generator.js';
import { searchJudgeSpec, type JudgeFn } from '../../steps/judge/calibration-search.js';
import { defaultJudgeSpec, specDigest, specWithRubric } from '../../steps/judge/judge-spec.js';
import { offlineJudge } from '../../steps/judge/offline-judge.js';
import { REPO } from '../support/cli.js';

const options = { maxIterations: 6, maxFewShot: 6, fewShotCandidates: 3, minGain: 0.005 };

async function calibrationSet(): Promise<CalibrationItem[]> {
  return (await readFile(join(REPO, 'data', 'judge', 'calibration.jsonl'), 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as CalibrationItem);
}

describe('judge calibration search', () => {
  it('improves held-out kappa from the first-draft rubric past the trust bar, choosing on the development part', async () => {
    const items = await calibrationSet();
    const judged: string[][] = [];
    const judge: JudgeFn = async (spec, part) => {
      judged.push(part.map((i) => i.id));
      return part.map((i) => offlineJudge(i.request, i.output, spec).label);
    };
    const result = await searchJudgeSpec(items, judge, specWithRubric(defaultJudgeSpec(), 'lenient'), options);
    const [first, last] = [result.history[0], result.history.at(-1)];
    expect(first?.heldOut.mean).toBeLessThan(0.5);
    expect(last?.heldOut.mean).toBeGreaterThanOrEqual(0.6);
    expect((last?.heldOut.mean ?? 0) - (first?.heldOut.mean ?? 0)).toBeGreaterThan(0.1);
    // Every accepted change raised development kappa by at least minGain.
    for (let i = 1; i < result.history.length; i++)
      expect((result.history[i]?.development.mean ?? 0) - (result.history[i - 1]?.development.mean ?? 0)).toBeGreaterThanOrEqual(options.minGain);
    expect(result.chosen.rubricName).toBe('balanced');
    expect(result.candidatesTried).toBeGreaterThan(result.history.length);
    // Candidates are scored on development items only; held-out items are judged only to record a choice.
    const development = new Set(items.filter((i) => i.split === 'development').map((i) => i.id));
    expect(judged.filter((ids) => ids.every((id) => development.has(id))).length).toBe(result.candidatesTried);
  });

  it('never chooses on held-out data: scrambling the held-out labels changes no choice', async () => {
    const items = await calibrationSet();
    const scrambled = items.map((item, i) =>
      item.split === 'held-out' ? { ...item, humans: [JUDGE_LABELS[i % 3], JUDGE_LABELS[(i + 1) % 3]] as [JudgeLabel, JudgeLabel] } : item,
    );
    const judge: JudgeFn = async (spec, part) => part.map((i) => offlineJudge(i.request, i.output, spec).label);
    const base = specWithRubric(defaultJudgeSpec(), 'strict');
    const [real, fake] = await Promise.all([searchJudgeSpec(items, judge, base, options), searchJudgeSpec(scrambled, judge, base, options)]);
    expect(specDigest(fake.chosen)).toBe(specDigest(real.chosen));
    expect(fake.history.map((h) => [h.change, h.development.mean])).toEqual(real.history.map((h) => [h.change, h.development.mean]));
    expect(fake.history.at(-1)?.heldOut.mean).not.toBe(real.history.at(-1)?.heldOut.mean);
  });

  it('tries few-shot examples drawn from development disagreements, and keeps one only when development kappa rises', async () => {
    const items = await calibrationSet();
    const judge: JudgeFn = async (spec, part) => part.map((i) => offlineJudge(i.request, i.output, spec).label);
    // Strict calls unasked actions bad where annotators say needs_improvement: with no other rubric to try,
    // an example of that cell is what fixes it.
    const result = await searchJudgeSpec(items, judge, specWithRubric(defaultJudgeSpec(), 'strict'), { ...options, rubrics: ['strict'] });
    expect(result.history.length).toBeGreaterThanOrEqual(2);
    const [example] = result.chosen.fewShot;
    expect(example).toBeDefined();
    expect(items.find((i) => i.id === example?.from)?.split).toBe('development');
    expect(example?.explanation).toBe('annotators labelled it needs_improvement; the judge had said bad');
    expect(result.history[1]?.change).toMatch(/^few-shot example c-\d{3} for the cell bad → needs_improvement/);
    expect((result.history.at(-1)?.heldOut.mean ?? 0) - (result.history[0]?.heldOut.mean ?? 0)).toBeGreaterThan(0.05);
  });
});
