import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JUDGE_LABELS, type JudgeLabel } from '../../steps/judge/calibration-generator.js';
import { goldenFixture } from '../../steps/judge/fixture-data.js';
import type { GoldenEntry } from '../../steps/judge/golden-drift.js';
import { offlineJudge } from '../../steps/judge/offline-judge.js';
import { sequentialAlarmRates } from '../../steps/judge/operating-characteristics.js';
import { CUSUM, sequentialDrift, type WeekLabels } from '../../steps/judge/sequential-drift.js';
import { SeededRandom } from '../../steps/stats/seeded-random.js';
import { runCli } from '../support/cli.js';
import { judgeDriftProject } from '../support/judge-drift-project.js';
import { scriptedServers } from '../support/openai-server.js';
import { isJudgePrompt, readJudgePrompt, scriptedJudgeVerdict } from '../support/scripted-judge.js';
import { tempDir } from '../support/temp-dir.js';

const serve = scriptedServers();
const golden = goldenFixture();
const judge = golden.map((g) => offlineJudge(g.request, g.output).label);

/** One week's answers: each label moves to a neighbour with probability `noise`; from a shift on, a share of bad verdicts come out good. */
function ask(rng: SeededRandom, labels: readonly JudgeLabel[], noise: number, badToGood = 0): Record<string, JudgeLabel> {
  return Object.fromEntries(
    labels.map((label, i) => {
      const at = JUDGE_LABELS.indexOf(label);
      const neighbours = [JUDGE_LABELS[at - 1], JUDGE_LABELS[at + 1]].filter((l): l is JudgeLabel => l !== undefined);
      let answer = rng.chance(noise) ? rng.pick(neighbours) : label;
      if (answer === 'bad' && rng.chance(badToGood)) answer = 'good';
      return [`g-${i}`, answer];
    }),
  );
}

/** A seeded weekly history (the baseline first) and the test's state after each week, as the drift step computes it. */
function history(weeks: number, options: { seed: number; noise: number; shiftAt?: number; badToGood?: number }) {
  const rng = new SeededRandom(options.seed);
  const labels: WeekLabels[] = [];
  const states = [];
  for (let w = 0; w <= weeks; w++) {
    const shifted = options.shiftAt !== undefined && w >= options.shiftAt;
    labels.push({ runId: `w${w}`, items: ask(rng, judge, options.noise, shifted ? (options.badToGood ?? 0.1) : 0), inControl: true });
    const state = sequentialDrift(labels);
    if (state?.alarm != null) (labels.at(-1) as WeekLabels).inControl = false;
    states.push(state);
  }
  return states;
}

describe('sequential drift over the weekly golden-set history', () => {
  it('stays quiet over a year of pure re-asking noise', () => {
    const states = history(52, { seed: 3, noise: 0.1 });
    expect(states[0]).toBeNull(); // the baseline alone: nothing to weigh
    expect(states.slice(1).every((s) => s !== null && s.alarm === null && s.upper <= CUSUM.threshold && s.lower <= CUSUM.threshold)).toBe(true);
    expect(states.at(-1)?.weeks).toBe(52);
  });

  it('catches a 10% bad→good shift within 8 runs, says which way and since which run', () => {
    const states = history(30, { seed: 4, noise: 0.1, shiftAt: 12 });
    const first = states.findIndex((s) => s?.alarm != null);
    expect(first).toBeGreaterThanOrEqual(12);
    expect(first).toBeLessThan(12 + 8);
    const alarm = states[first];
    expect(alarm?.alarm).toBe('lenient');
    // The sum has been building since about the shift (the estimated start of the drift).
    expect(Number(alarm?.since?.slice(1))).toBeGreaterThanOrEqual(10);
    expect(Number(alarm?.since?.slice(1))).toBeLessThanOrEqual(first);
    // A persistent shift keeps it alarmed: the drifted runs stay out of the reference.
    expect(states.slice(first).every((s) => s?.alarm === 'lenient')).toBe(true);
  });

  it('catches a harsh shift the other way, and ignores a judge that never changes', () => {
    const rng = new SeededRandom(5);
    const weeks: WeekLabels[] = Array.from({ length: 10 }, (_, w) => ({ runId: `w${w}`, items: ask(rng, judge, 0.05), inControl: true }));
    const harsh = judge.map((l, i) => (l === 'good' && i % 4 === 0 ? 'needs_improvement' : l));
    for (let w = 10; w < 14; w++) weeks.push({ runId: `w${w}`, items: ask(rng, harsh, 0.05), inControl: true });
    const harshAlarm = sequentialDrift(weeks);
    expect(harshAlarm).toMatchObject({ alarm: 'harsh' });
    expect(Number(harshAlarm?.since?.slice(1))).toBeLessThanOrEqual(10);
    const same = Array.from({ length: 6 }, (_, w) => ({ runId: `w${w}`, items: ask(rng, judge, 0), inControl: true }));
    expect(sequentialDrift(same)).toMatchObject({ statistic: 0, upper: 0, lower: 0, alarm: null });
  });

  it('holds its error rates: under 5% false alarms a year, and 80% of 10% bad→good shifts caught within 8 runs', () => {
    const quiet = sequentialAlarmRates({ judge, noise: 0.1, weeks: 52, simulations: 300, seed: 11 });
    expect(quiet.alarmed).toBeLessThanOrEqual(0.05);
    const shifted = sequentialAlarmRates({ judge, noise: 0.1, weeks: 20, shift: { at: 12, badToGood: 0.1 }, simulations: 300, seed: 12 });
    expect(shifted.caughtWithin).toBeGreaterThanOrEqual(0.8);
  }, 60_000);

  it('the drift step fires on a small persistent shift no single week shows, names the test and the run, and acceptBaseline restarts it', async () => {
    let lenient = false;
    let week = 0;
    const identity = (request: string, output: unknown): string => JSON.stringify([request, output]);
    // The provider update: one in ten of the items the judge calls bad comes out good (about 5 of 175).
    const badItems = new Set<string>();
    const server = await serve((request) => {
      if (!isJudgePrompt(request)) return { status: 400, content: 'not a judge prompt' };
      const prompt = readJudgePrompt(request);
      const verdict = JSON.parse(scriptedJudgeVerdict(prompt)) as { label: JudgeLabel; reason: string };
      const id = identity(prompt.request, prompt.output);
      if (verdict.label === 'bad') badItems.add(id);
      if (lenient && verdict.label === 'bad' && [...badItems].sort().indexOf(id) % 10 === 0) verdict.label = 'good';
      // Re-asking noise, the same for a given item and week: one answer in twenty moves to a neighbouring label.
      const hash = createHash('sha256').update(`${week}:${id}`).digest();
      if ((hash[0] as number) % 20 === 0) {
        const at = JUDGE_LABELS.indexOf(verdict.label);
        verdict.label = JUDGE_LABELS[at === 0 ? 1 : at === 2 ? 1 : (hash[1] as number) % 2 === 0 ? 0 : 2] as JudgeLabel;
      }
      return { content: JSON.stringify(verdict) };
    });
    const cwd = await tempDir('judge-sequential');
    const { env, historyPath, run, drift } = await judgeDriftProject(cwd, server.baseURL);

    expect((await run()).code).toBe(0);
    expect(await drift()).toMatchObject({ status: 'baseline', sequential: null });
    // Ten weeks of the same judge re-asked with a little noise: the history the step keeps, seeded.
    const rng = new SeededRandom(21);
    const recorded = JSON.parse(await readFile(historyPath, 'utf8')) as { entries: GoldenEntry[] };
    const baseline = recorded.entries[0] as GoldenEntry;
    const ids = Object.keys(baseline.items ?? {});
    for (let w = 1; w <= 10; w++) {
      const items = ask(rng, Object.values(baseline.items ?? {}), 0.05);
      const relabelled = Object.fromEntries(ids.map((id, i) => [id, items[`g-${i}`] as JudgeLabel]));
      recorded.entries.push({ ...baseline, runId: `earlier-week-${w}`, items: relabelled, status: 'stable', reasons: ['seeded history'] });
    }
    await writeFile(historyPath, `${JSON.stringify(recorded, null, 2)}\n`);

    lenient = true;
    const shifted: string[] = [];
    let alarm: GoldenEntry | undefined;
    for (week = 1; week <= 8 && alarm === undefined; week++) {
      const result = await run(['--set', 'judge-trust.onDrift=warn']);
      expect(result.code, result.stderr).toBe(0);
      shifted.push(result.run.runId);
      const entry = await drift();
      // No single week is enough for the per-week test: only about 5 of 175 labels move, among the noise.
      expect(entry.labelShift?.p).toBeGreaterThan(0.01);
      if (entry.status === 'drift') alarm = entry;
      else expect(entry).toMatchObject({ status: 'stable', sequential: { alarm: null } });
    }
    expect(alarm, 'the sequential test never fired').toBeDefined();
    expect(alarm?.sequential).toMatchObject({ alarm: 'lenient', since: shifted[0] });
    expect(alarm?.reasons).toEqual([
      expect.stringMatching(
        new RegExp(
          `^sequential test \\(two-sided CUSUM over the \\d+ runs since the baseline of run ${baseline.runId}\\): the judge has labelled the golden set more lenient than the runs before it, building up since run ${shifted[0]} \\(cumulative sum \\d+\\.\\d+ > 6 standard deviations\\)$`,
        ),
      ),
    ]);
    // judge-trust refuses on it as on any drift.
    week++;
    const refused = await run();
    expect(refused.code).toBe(1);
    expect(refused.run.steps.find((s) => s.id === 'judge-trust')?.error?.message).toContain('sequential test (two-sided CUSUM');

    // A deliberate acceptBaseline restarts it; the next run weighs one week from zero.
    week++;
    expect((await run(['--set', 'judge-drift.acceptBaseline=true'])).code).toBe(0);
    week++;
    expect(await drift()).toMatchObject({ status: 'baseline', sequential: null });
    expect((await run()).code).toBe(0);
    expect(await drift()).toMatchObject({ status: 'stable', sequential: { weeks: 1, alarm: null } });
    await runCli(['output', 'judge-drift.report', '--out', join(cwd, 'report')], { cwd, env });
    expect(await readFile(join(cwd, 'report', 'report.html'), 'utf8')).toContain('lenient CUSUM');
  }, 180_000);
});
