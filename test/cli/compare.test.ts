import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runCli, runJson } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const chain = join(FIXTURES, 'chain.ts');
const diamond = join(FIXTURES, 'diamond.ts');

interface CompareStep {
  id: string;
  step: string;
  change: string;
  codes: string[];
  reason: string;
  statusA: string | null;
  statusB: string | null;
  earlyCutoff: boolean;
  outputs: Array<{ name: string; change: string }>;
  error: { code: string; message: string } | null;
}

interface CompareDocument {
  pipeline: string;
  a: { runId: string; pipeline: string; status: string; startedAt: string; overrides: string[] };
  b: { runId: string; pipeline: string; status: string; startedAt: string; overrides: string[] };
  warnings: string[];
  counts: Record<string, number>;
  steps: CompareStep[];
  sections: unknown[];
}

async function workspace(): Promise<{ cwd: string; env: Record<string, string> }> {
  const cwd = await tempDir('flywheel-compare');
  return { cwd, env: { FLYWHEEL_TEST_EXEC_LOG: join(cwd, 'executions.log') } };
}

async function compareJson(args: string[], ws: { cwd: string; env: Record<string, string> }): Promise<CompareDocument> {
  const result = await runCli(['compare', ...args, '--json'], ws);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as CompareDocument;
}

const byId = (doc: CompareDocument): Record<string, CompareStep> => Object.fromEntries(doc.steps.map((s) => [s.id, s]));

describe('flywheel compare', () => {
  it('says which steps re-ran between the newest two runs, why, and which outputs changed', async () => {
    const ws = await workspace();
    const first = await runJson(chain, [], ws);
    const second = await runJson(chain, ['--set', 'suffix.suffix=?'], ws);
    expect([first.code, second.code]).toEqual([0, 0]);

    const doc = await compareJson([], ws);
    expect(doc.pipeline).toBe('chain');
    expect([doc.a.runId, doc.b.runId]).toEqual([first.run.runId, second.run.runId]);
    expect(doc.b.overrides).toEqual(['suffix.suffix=?']);
    expect(doc.warnings).toEqual([]);
    const steps = byId(doc);
    expect(Object.fromEntries(doc.steps.map((s) => [s.id, s.change]))).toEqual({ emit: 'same', upper: 'same', suffix: 'reran', measure: 'reran' });
    expect(steps.suffix).toMatchObject({ step: 'transform', codes: ['config-changed'], statusA: 'executed', statusB: 'executed', earlyCutoff: false });
    expect(steps.suffix?.reason).toContain('suffix: "!" → "?"');
    expect(steps.suffix?.outputs).toEqual([expect.objectContaining({ name: 'out', change: 'changed' })]);
    expect(steps.measure?.codes).toEqual(['upstream-changed']);
    expect(steps.measure?.reason).toContain('upstream output suffix.out changed');
    expect(steps.measure).toMatchObject({ earlyCutoff: true, outputs: [expect.objectContaining({ name: 'stats', change: 'identical' })] });
    expect(steps.emit).toMatchObject({ reason: 'same result (cached)', outputs: [expect.objectContaining({ change: 'identical' })] });
    expect(doc.counts).toMatchObject({ same: 2, reran: 2, failed: 0 });
    expect(doc.sections).toEqual([]);

    const text = await runCli(['compare'], ws);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^compare chain: A ${first.run.runId} \\(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC\\) → B ${second.run.runId} \\(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC\\)$`,
      ),
    );
    expect(text.stdout).toContain('overrides: A (none) · B suffix.suffix=?');
    expect(text.stdout).toContain('steps: 2 re-ran, 2 same');
    expect(text.stdout).toMatch(/\n {2}same +emit +same result \(cached\)\n/);
    expect(text.stdout).toMatch(/\n {2}same +upper +same result \(cached\)\n/);
    expect(text.stdout).toMatch(/\n {2}re-ran +suffix +config suffix: "!" → "\?"\n +outputs changed: out\n/);
    // measure counts characters: "abc!" and "abc?" measure the same, so its output is identical bytes.
    expect(text.stdout).toMatch(
      /\n {2}re-ran +measure +upstream output suffix\.out changed \([0-9a-f]{12} → [0-9a-f]{12}\)\n +outputs identical \(early cutoff\): stats\n/,
    );
  });

  it('shows early cutoff, compares the runs named (A first), and skips failed runs by default', async () => {
    const ws = await workspace();
    const base = await runJson(chain, [], ws);
    const upper = await runJson(chain, ['--set', 'emit.value=ABC'], ws);
    const failed = await runJson(chain, ['--set', 'emit.value=ABC', '--set', 'suffix.fail=true', '--set', 'suffix.suffix=?'], ws);
    expect([base.code, upper.code, failed.code]).toEqual([0, 0, 1]);

    // The failed run is not one of "the newest two successful runs".
    const doc = await compareJson([], ws);
    expect([doc.a.runId, doc.b.runId]).toEqual([base.run.runId, upper.run.runId]);
    const steps = byId(doc);
    expect(steps.emit).toMatchObject({ change: 'reran', codes: ['config-changed'], earlyCutoff: false });
    expect(steps.emit?.reason).toContain('value: "abc" → "ABC"');
    // 'ABC' upper-cases to the same bytes as 'abc': upper re-ran, its output is identical, and below it nothing re-ran.
    expect(steps.upper).toMatchObject({ change: 'reran', codes: ['upstream-changed'], earlyCutoff: true, outputs: [{ name: 'out', change: 'identical' }] });
    expect([steps.suffix?.change, steps.measure?.change]).toEqual(['same', 'same']);
    const text = await runCli(['compare', base.run.runId, upper.run.runId], ws);
    expect(text.stdout).toMatch(/re-ran +upper +upstream output emit\.out changed .*\n +outputs identical \(early cutoff\): out\n/);

    // Named runs: any status, A is the first named.
    const withFailure = await compareJson([upper.run.runId, failed.run.runId], ws);
    expect(withFailure.b.status).toBe('failed');
    expect(Object.fromEntries(withFailure.steps.map((s) => [s.id, s.change]))).toEqual({ emit: 'same', upper: 'same', suffix: 'failed', measure: 'skipped' });
    expect(byId(withFailure).suffix?.reason).toContain('suffix: "!" → "?"');
    expect(byId(withFailure).suffix?.error?.message).toContain('failed on purpose');
    const failedText = await runCli(['compare', upper.run.runId, failed.run.runId], ws);
    expect(failedText.code).toBe(0);
    expect(failedText.stdout).toMatch(/→ B \S+ \([^)]*, failed\)/);
    expect(failedText.stdout).toMatch(/failed +suffix +config fail: false → true, suffix: "!" → "\?"\n +error \S+: .*failed on purpose/);
    expect(failedText.stdout).toMatch(/skipped +measure /);

    const reversed = await runCli(['compare', upper.run.runId, base.run.runId], ws);
    expect(reversed.code).toBe(0);
    expect(reversed.stderr).toContain('warning: run A');
    expect(reversed.stdout).toMatch(/re-ran +emit +config value: "ABC" → "abc"/);
  });

  it('picks the pipeline with --pipeline, and warns (but compares) when the runs are of different pipelines', async () => {
    const ws = await workspace();
    const c1 = await runJson(chain, [], ws);
    const c2 = await runJson(chain, ['--set', 'suffix.suffix=?'], ws);
    const d1 = await runJson(diamond, [], ws);
    // Default: the pipeline of the newest successful run, which has only one run.
    const onlyOne = await runCli(['compare'], ws);
    expect(onlyOne.code).toBe(2);
    expect(onlyOne.stderr).toContain('needs two successful runs');
    expect(onlyOne.stderr).toContain('only one successful run of diamond');
    expect(onlyOne.stderr).toContain('fix:');

    const picked = await compareJson(['--pipeline', 'chain'], ws);
    expect([picked.a.runId, picked.b.runId]).toEqual([c1.run.runId, c2.run.runId]);

    const mixed = await runCli(['compare', c2.run.runId, d1.run.runId, '--json'], ws);
    expect(mixed.code).toBe(0);
    expect(mixed.stderr).toContain('warning: run A is of pipeline chain and run B of diamond');
    const doc = JSON.parse(mixed.stdout) as CompareDocument;
    expect(doc.warnings).toHaveLength(1);
    expect(Object.fromEntries(doc.steps.map((s) => [s.id, s.change]))).toMatchObject({ emit: 'reran', left: 'new', join: 'new', upper: 'removed' });
  });

  it('refuses with a clear message: one run only, an unknown run id, one id, no runs at all', async () => {
    const ws = await workspace();
    const none = await runCli(['compare'], ws);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/needs two successful runs, and local store .* has no successful run/);

    const only = await runJson(chain, [], ws);
    const one = await runCli(['compare'], ws);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('only one successful run of chain');
    expect(one.stderr).toContain('flywheel run chain');

    const unknown = await runCli(['compare', only.run.runId, '20990101T000000.000Z-nope00'], ws);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no run 20990101T000000.000Z-nope00');
    expect(unknown.stderr).toContain('flywheel runs');

    const single = await runCli(['compare', only.run.runId], ws);
    expect(single.code).toBe(2);
    expect(single.stderr).toContain('takes no run id or two');

    const same = await runCli(['compare', only.run.runId, only.run.runId], ws);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain('named twice');
  });
});
