import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runJson } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

interface Row {
  slice: string;
  metric: string;
  scale: string;
  a: number | null;
  b: number | null;
  delta: number | null;
  ciA: [number, number] | null;
  ciB: [number, number] | null;
  deltaCi: [number, number] | null;
}

interface Section {
  kind: string;
  node: string;
  step: string;
  rows?: Row[];
  refused?: { a: string | null; b: string | null };
  specChanged?: boolean | null;
  mirror?: { a: { skipped: string | null } | null; b: { skipped: string | null } | null };
  decision?: { a: { version: number | null } | null; b: { version: number | null } | null };
  trust?: { b: { trusted: boolean | null } | null };
}

describe('flywheel compare on the flagship pipeline', () => {
  it('shows what re-ran after a data change and the benchmark, judge, mirroring and deploy of both runs', async () => {
    const cwd = await tempDir('flow-agent-compare');
    const env = {
      OPENAI_API_KEY: '',
      FLYWHEEL_REGISTRY: join(cwd, 'registry'),
      FLYWHEEL_FEEDBACK: join(cwd, 'feedback'),
      FLYWHEEL_JUDGE_HISTORY: join(cwd, 'judge-history'),
      FLYWHEEL_LLM_MEMO_DIR: join(cwd, 'llm-memo'),
    };
    const first = await runJson('flow-agent', [], { cwd, env });
    expect(first.code, first.stderr).toBe(0);
    const second = await runJson('flow-agent', ['--set', 'collect.days=30'], { cwd, env });
    expect(second.code, second.stderr).toBe(0);

    const result = await runCli(['compare', '--json'], { cwd, env });
    expect(result.code, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout) as {
      a: { runId: string };
      b: { runId: string };
      steps: Array<{ id: string; change: string; reason: string }>;
      sections: Section[];
    };
    expect([doc.a.runId, doc.b.runId]).toEqual([first.run.runId, second.run.runId]);
    const step = (id: string) => doc.steps.find((s) => s.id === id);
    expect(step('collect')).toMatchObject({ change: 'reran', reason: expect.stringContaining('days: 7 → 30') });
    expect(step('production')?.change).toBe('same');
    expect(step('evaluate')?.change).toBe('reran');

    const section = (kind: string): Section => {
      const found = doc.sections.find((s) => s.kind === kind);
      expect(found, `section ${kind}`).toBeDefined();
      return found as Section;
    };
    const metrics = section('metrics');
    expect(metrics).toMatchObject({ node: 'evaluate', step: 'flow-evaluate' });
    const overall = (metrics.rows ?? []).filter((r) => r.slice === 'overall');
    expect(overall.map((r) => r.metric)).toEqual(expect.arrayContaining(['valid', 'trigger', 'actionF1', 'exact']));
    for (const r of overall) {
      expect(r.a, r.metric).toEqual(expect.any(Number));
      expect(r.b, r.metric).toEqual(expect.any(Number));
      expect(r.delta).toBeCloseTo((r.b as number) - (r.a as number), 12);
    }
    // A month of data instead of a week trains a different model: the benchmark moves, and the change is
    // measured on the same examples (a paired interval, narrower than either run's own).
    expect(overall.some((r) => r.delta !== 0)).toBe(true);
    const actionF1 = overall.find((r) => r.metric === 'actionF1') as Row;
    expect(actionF1.deltaCi?.[0]).toBeLessThanOrEqual(actionF1.delta as number);
    expect(actionF1.deltaCi?.[1]).toBeGreaterThanOrEqual(actionF1.delta as number);
    expect((actionF1.deltaCi as [number, number])[1] - (actionF1.deltaCi as [number, number])[0]).toBeLessThan(
      (actionF1.ciA as [number, number])[1] -
        (actionF1.ciA as [number, number])[0] +
        ((actionF1.ciB as [number, number])[1] - (actionF1.ciB as [number, number])[0]),
    );
    expect((metrics.rows ?? []).some((r) => r.slice === 'email')).toBe(true);

    const judged = section('judged');
    if (judged.refused?.b === null) {
      const good = judged.rows?.find((r) => r.slice === 'overall' && r.metric === 'good');
      expect(good?.ciA?.[0]).toBeLessThanOrEqual(good?.a ?? -1);
      expect(good?.ciB?.[1]).toBeGreaterThanOrEqual(good?.b ?? 2);
    }
    expect(section('calibration').specChanged).toBe(false);
    expect(section('drift').node).toBe('judge-drift');
    expect(section('mirror').mirror?.a?.skipped).toContain('nothing to compare');
    expect(section('deploy').decision).toMatchObject({ a: { version: 1 }, b: { version: 2 } });
    const trust = doc.sections.find((s) => s.kind === 'trust');
    if (trust !== undefined) expect(typeof trust.trust?.b?.trusted).toBe('boolean');

    const text = await runCli(['compare'], { cwd, env });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/\n {2}re-ran +collect +config days: 7 → 30\n/);
    expect(text.stdout).toContain('\nevaluate (flow-evaluate.metrics)\n');
    expect(text.stdout).toMatch(/\n +overall \(300\) +valid +100\.0% +100\.0% +±0\.0 pt +\[0\.0, 0\.0\] +\[99\.0, 100\.0\]/);
    expect(text.stdout).toMatch(/\n +trigger +\d+\.\d% +\d+\.\d% +[+-]\d+\.\d pt +\[-?\d+\.\d, -?\d+\.\d\] +\[/);
    expect(text.stdout).toContain('\njudge (judge-predictions.judged)\n');
    expect(text.stdout).toMatch(/\ndeploy \(flow-deploy\.decision\)\n {2}A: v1 \(new\) promoted; production v1\n/);
  }, 180_000);
});
