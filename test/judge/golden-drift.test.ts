import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JUDGE_LABELS, type JudgeLabel } from '../../steps/judge/calibration-generator.js';
import { judgeDrift } from '../../steps/judge/golden-drift.js';
import { driftAlarmRate } from '../../steps/judge/operating-characteristics.js';
import { goldenFixture } from '../../steps/judge/fixture-data.js';
import { runCli } from '../support/cli.js';
import { judgeDriftProject } from '../support/judge-drift-project.js';
import { scriptedServers } from '../support/openai-server.js';
import { isJudgePrompt, readJudgePrompt, scriptedJudgeVerdict } from '../support/scripted-judge.js';
import { tempDir } from '../support/temp-dir.js';

const serve = scriptedServers();

const L = (labels: string): JudgeLabel[] => labels.split('').map((c) => ({ b: 'bad', n: 'needs_improvement', g: 'good' })[c] as JudgeLabel);
const byId = (labels: readonly JudgeLabel[]): Record<string, JudgeLabel> => Object.fromEntries(labels.map((l, i) => [`g-${i}`, l]));

describe('golden-set drift', () => {
  it('pairs the same items: a shift in labels is drift even when the distributions overlap, a few flips are not', () => {
    const reference = L('bbbbbbbbbbnnnnnnnnnnnnnnnnnnnnggggggggggbbbbbnnnnnnnnnnggggg'.repeat(2));
    const baseline = byId(reference);
    const options = { alpha: 0.02, baselineRun: 'r1' };
    const same = judgeDrift(byId(reference), baseline, byId(reference), options);
    expect(same).toMatchObject({ drift: false, labelShift: { p: 1, discordant: 0 }, kappaChange: { delta: 0 } });
    expect(same.reasons[0]).toMatch(/^within the baseline of run r1: 0 of 120 items labelled differently/);
    // Two items flipped each way: noise.
    const noisy = [...reference];
    [noisy[10], noisy[11], noisy[30], noisy[31]] = ['good', 'good', 'needs_improvement', 'needs_improvement'];
    expect(judgeDrift(byId(noisy), baseline, byId(reference), options).drift).toBe(false);
    // A lenient judge: 12 of 40 needs_improvement → good.
    const lenient = reference.map((l, i) => (l === 'needs_improvement' && i % 10 < 3 ? 'good' : l));
    const shifted = judgeDrift(byId(lenient), baseline, byId(reference), options);
    expect(shifted.drift).toBe(true);
    expect(shifted.labelShift?.discordant).toBe(lenient.filter((l, i) => l !== reference[i]).length);
    expect(shifted.reasons[0]).toMatch(/labels the same 120 items differently \(\d+ changed; Stuart–Maxwell p = .* < 0\.01\)/);
  });

  it('catches a judge whose label counts stay the same while its verdicts move to other items (the independent-samples test could not)', () => {
    const reference = L('bbbbbbbbbbnnnnnnnnnnnnnnnnnnnnggggggggggbbbbbnnnnnnnnnnggggg'.repeat(2));
    // Swap labels between pairs of items: the counts are identical, agreement with the references falls.
    const swapped = [...reference];
    for (let i = 0; i < 30; i++) {
      const [x, y] = [i, 119 - i];
      [swapped[x], swapped[y]] = [swapped[y] as JudgeLabel, swapped[x] as JudgeLabel];
    }
    const count = (ls: readonly JudgeLabel[]): string => JUDGE_LABELS.map((l) => ls.filter((x) => x === l).length).join('/');
    expect(count(swapped)).toBe(count(reference));
    const verdict = judgeDrift(byId(swapped), byId(reference), byId(reference), { alpha: 0.02, baselineRun: 'r1' });
    expect(verdict.labelShift?.p).toBeGreaterThan(0.5);
    expect(verdict.drift).toBe(true);
    expect(verdict.reasons.join(' ')).toMatch(/golden-set kappa moved 1\.000 → .* interval \[-\d/);
  });

  it('meets its error rates on the committed golden set: false alarms ≤ 5% under noise, ≥ 80% of lenient shifts caught (bounded simulation)', () => {
    const reference = goldenFixture().map((g) => g.humans[0]);
    expect(reference.length).toBeGreaterThanOrEqual(170);
    const rate = (lenient: boolean, seed: number): number =>
      driftAlarmRate(reference, { lenient, noise: 0.05, alpha: 0.02, simulations: 150, seed, samples: 300 });
    expect(rate(false, 1)).toBeLessThanOrEqual(0.05);
    expect(rate(true, 2)).toBeGreaterThanOrEqual(0.8);
  }, 60_000);

  it('every run re-asks the live judge; drift (not noise) makes judge-trust refuse, and warns or re-baselines by config', async () => {
    const golden = goldenFixture();
    let mode: 'normal' | 'noisy' | 'shifted' = 'normal';
    // Noise: one answer moves each way between runs.
    const identity = (request: string, output: unknown): string => JSON.stringify([request, output]);
    const flips = new Map<string, JudgeLabel>([
      [identity(golden.find((g) => g.humans[0] === 'good')!.request, golden.find((g) => g.humans[0] === 'good')!.output), 'needs_improvement'],
      [identity(golden.find((g) => g.humans[0] === 'bad')!.request, golden.find((g) => g.humans[0] === 'bad')!.output), 'needs_improvement'],
    ]);
    const server = await serve((request) => {
      if (!isJudgePrompt(request)) return { status: 400, content: 'not a judge prompt' };
      const prompt = readJudgePrompt(request);
      const verdict = JSON.parse(scriptedJudgeVerdict(prompt)) as { label: JudgeLabel; reason: string };
      if (mode === 'noisy') verdict.label = flips.get(identity(prompt.request, prompt.output)) ?? verdict.label;
      if (mode === 'shifted' && verdict.label === 'needs_improvement') verdict.label = 'good'; // a provider update made it lenient
      return { content: JSON.stringify(verdict) };
    });
    const cwd = await tempDir('judge-drift');
    const { env, run, drift } = await judgeDriftProject(cwd, server.baseURL);

    expect((await run()).code).toBe(0);
    expect(await drift()).toMatchObject({ status: 'baseline' });
    const asked = server.requests.length;

    mode = 'noisy';
    const second = await run();
    expect(second.code, second.stderr).toBe(0);
    expect(second.run.steps.find((s) => s.id === 'judge-drift')?.status).toBe('executed'); // re-asked, not cached
    expect(server.requests.length - asked).toBe(golden.length); // the golden set only, no memo
    expect(await drift()).toMatchObject({ status: 'stable', labelShift: { discordant: 2 } });

    mode = 'shifted';
    const third = await run();
    expect(third.code).toBe(1);
    expect(third.run.steps.find((s) => s.id === 'judge-drift')?.status).toBe('executed'); // measures and records
    const failed = third.run.steps.find((s) => s.id === 'judge-trust');
    expect(failed?.error?.code).toBe('JUDGE_DRIFT');
    expect(failed?.error?.message).toMatch(/golden-set drift: the judge labels the same 175 items differently/);
    // A failed run's outputs are read by naming it: `output` answers from successful runs by default.
    expect(await drift(third.run.runId)).toMatchObject({ status: 'drift' });

    const warned = await run(['--set', 'judge-trust.onDrift=warn']);
    expect(warned.code).toBe(0);
    expect(await drift()).toMatchObject({ status: 'drift' });
    const accepted = await run(['--set', 'judge-drift.acceptBaseline=true']);
    expect(accepted.code).toBe(0);
    expect(await drift()).toMatchObject({ status: 'baseline' });

    const history = JSON.parse(await readFile(join(cwd, 'history', 'golden-history.json'), 'utf8')) as {
      entries: Array<{ status: string; labels: Record<string, number> }>;
    };
    expect(history.entries.map((e) => e.status)).toEqual(['baseline', 'stable', 'drift', 'drift', 'baseline']);
    expect(Object.keys(history.entries[0]?.labels ?? {})).toEqual([...JUDGE_LABELS]);
    await runCli(['output', 'judge-drift.report', '--out', join(cwd, 'report')], { cwd, env });
    expect(await readFile(join(cwd, 'report', 'report.html'), 'utf8')).toContain('<svg');
  }, 120_000);
});
