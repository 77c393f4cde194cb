import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JUDGE_LABELS, type CalibrationItem, type JudgeLabel } from '../../steps/judge/calibration-generator.js';
import { judgeDrift, labelShiftP, type GoldenEntry } from '../../steps/judge/golden-drift.js';
import { goldenFixture } from '../../steps/judge/fixture-data.js';
import { FIXTURES, REPO, runCli, runJson } from '../support/cli.js';
import { scriptedServers } from '../support/openai-server.js';
import { isJudgePrompt, readJudgePrompt, scriptedJudgeVerdict } from '../support/scripted-judge.js';
import { tempDir } from '../support/temp-dir.js';

const serve = scriptedServers();

const baseline: GoldenEntry = {
  runId: 'r1',
  at: '',
  judge: 'j',
  specDigest: 's',
  kappa: 0.7,
  ci: [0.55, 0.85],
  labels: { bad: 15, needs_improvement: 15, good: 18 },
  status: 'baseline',
  reasons: [],
};

describe('golden-set drift', () => {
  it('a few flipped labels are noise; a shifted judge is drift, by kappa and by label distribution', () => {
    expect(labelShiftP(baseline.labels, baseline.labels)).toBeCloseTo(1, 10);
    const noise = judgeDrift({ kappa: 0.64, labels: { bad: 14, needs_improvement: 15, good: 19 } }, baseline, 0.01);
    expect(noise.drift).toBe(false);
    expect(noise.p).toBeGreaterThan(0.5);
    const shifted = judgeDrift({ kappa: 0.31, labels: { bad: 15, needs_improvement: 2, good: 31 } }, baseline, 0.01);
    expect(shifted.drift).toBe(true);
    expect(shifted.reasons[0]).toContain("outside the baseline's interval [0.550, 0.850]");
    expect(shifted.reasons[1]).toMatch(/label distribution shifted \(chi-square p = .* < 0\.01\)/);
    // Same labels in total but a kappa outside the interval still counts.
    expect(judgeDrift({ kappa: 0.5, labels: baseline.labels }, baseline, 0.01).reasons).toHaveLength(1);
  });

  it('every run re-asks the live judge; the alarm fires when its answers shift, not on noise, and warns or re-baselines by config', async () => {
    const golden = goldenFixture();
    let mode: 'normal' | 'noisy' | 'shifted' = 'normal';
    const noisy = new Set(
      golden
        .filter((g) => g.humans[0] === 'good')
        .slice(0, 2)
        .map((g) => g.request),
    );
    const server = await serve((request) => {
      if (!isJudgePrompt(request)) return { status: 400, content: 'not a judge prompt' };
      const prompt = readJudgePrompt(request);
      const verdict = JSON.parse(scriptedJudgeVerdict(prompt)) as { label: JudgeLabel; reason: string };
      if (mode === 'noisy' && noisy.has(prompt.request)) verdict.label = 'needs_improvement';
      if (mode === 'shifted' && verdict.label === 'needs_improvement') verdict.label = 'good'; // a provider update made it lenient
      return { content: JSON.stringify(verdict) };
    });
    const cwd = await tempDir('judge-drift');
    const all = (await readFile(join(REPO, 'data', 'judge', 'calibration.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as CalibrationItem);
    const calibration = join(cwd, 'calibration.jsonl');
    await writeFile(calibration, [...all.slice(0, 20), ...all.slice(120, 140)].map((i) => `${JSON.stringify(i)}\n`).join(''));
    const env = {
      FLYWHEEL_TEST_CALIBRATION: calibration,
      FLYWHEEL_TEST_GOLDEN: join(REPO, 'data', 'judge', 'golden.jsonl'),
      FLYWHEEL_JUDGE_HISTORY: join(cwd, 'history'),
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: server.baseURL,
      FLYWHEEL_LLM_MEMO_DIR: join(cwd, 'memo'),
    };
    const pipeline = join(FIXTURES, 'judge-drift.ts');
    const run = (extra: string[] = []) => runJson(pipeline, ['--set', 'calibrate-judge.model=judge-llm', ...extra], { cwd, env });
    const drift = async (): Promise<{ status: string; kappa: number; reasons: string[] }> =>
      JSON.parse((await runCli(['output', 'judge-drift.drift'], { cwd, env })).stdout);

    expect((await run()).code).toBe(0);
    expect(await drift()).toMatchObject({ status: 'baseline' });
    const asked = server.requests.length;

    mode = 'noisy';
    const second = await run();
    expect(second.code, second.stderr).toBe(0);
    expect(second.run.steps.find((s) => s.id === 'judge-drift')?.status).toBe('executed'); // re-asked, not cached
    expect(server.requests.length - asked).toBe(golden.length); // the golden set only, no memo
    expect(await drift()).toMatchObject({ status: 'stable' });

    mode = 'shifted';
    const third = await run();
    expect(third.code).toBe(1);
    const failed = third.run.steps.find((s) => s.id === 'judge-drift');
    expect(failed?.error?.code).toBe('JUDGE_DRIFT');
    expect(failed?.error?.message).toContain("outside the baseline's interval");

    const warned = await run(['--set', 'judge-drift.onDrift=warn']);
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
