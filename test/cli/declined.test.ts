import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../cache/open-store.js';
import type { CacheKey } from '../../cache/digest.js';
import { FIXTURES, runCli, runJson } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

// A step that runs and decides not to act (ctx.decline) is recorded as declined, with the first line of
// its reason, and stays declined when a later run reuses its result: the run's lines and summary, `plan`,
// `show`, `runs`, `compare` and every --json say so. Real runs of the CLI over a store in a temporary folder.

const declining = join(FIXTURES, 'declining.ts');
const REASON = 'slice x regresses: 0.61 < 0.7';

describe('a step that declines to act', () => {
  it('is recorded as declined, executed then cached, and every view says so', async () => {
    const cwd = await tempDir('flywheel-declined');

    // First run: the gate executes and declines; the map's elements declined too, which no record keeps.
    const first = await runCli(['run', declining], { cwd });
    expect(first.code, first.stderr).toBe(0);
    const gateLine = first.stdout.split('\n').find((l) => /^ {2}\S gate /.test(l) && !l.includes('running'));
    expect(gateLine).toMatch(new RegExp(`^  ⊘ gate +executed in .* · declined: ${escape(REASON)}$`));
    expect(first.stdout).toMatch(/^ {2}✓ candidate +executed/m);
    expect(first.stdout).toMatch(/^ {2}✓ check +executed/m);
    expect(first.stdout).toMatch(/\nsucceeded: 3 steps — 3 executed, 0 cached, 0 failed, 0 skipped · 1 declined \(gate\) · wall /);

    // The record and the action entry keep the first line of the last reason.
    const store = openStore(join(cwd, '.flywheel'));
    const [firstId] = await store.listRunIds();
    const record = await store.getRun(firstId as string);
    const gate = record?.steps.find((s) => s.id === 'gate');
    expect(gate).toMatchObject({ status: 'executed', declined: REASON });
    expect(record?.steps.find((s) => s.id === 'check')?.declined).toBeUndefined();
    expect(record?.steps.find((s) => s.id === 'candidate')?.declined).toBeUndefined();
    const entry = await store.getAction(gate?.cacheKey as CacheKey);
    expect(entry).toMatchObject({ declined: REASON });

    // Second run: the gate comes from the cache, still declined.
    const again = await runJson(declining, [], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(again.run.steps.find((s) => s.id === 'gate')).toMatchObject({ status: 'cached', declined: REASON });
    expect(again.run.steps.find((s) => s.id === 'check')).not.toHaveProperty('declined');
    const cachedLine = (await runCli(['run', declining], { cwd })).stdout.split('\n').find((l) => /^ {2}\S gate /.test(l));
    expect(cachedLine).toMatch(new RegExp(`^  ⊘ gate +cached \\(saves .*\\) · declined: ${escape(REASON)}$`));

    // plan: the cached result it would use is a declined one.
    const plan = await runCli(['plan', declining], { cwd });
    expect(plan.stdout).toContain(`\n  declined gate      ${REASON}\n`);

    // Third run: the candidate is good enough, the gate acts.
    const promoted = await runJson(declining, ['--set', 'candidate.score=0.8'], { cwd });
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.run.steps.find((s) => s.id === 'gate')).toMatchObject({ status: 'executed' });
    expect(promoted.run.steps.find((s) => s.id === 'gate')).not.toHaveProperty('declined');

    // show: the decision per step, in words and in --json.
    const shown = await runCli(['show', firstId as string], { cwd });
    expect(shown.stdout).toMatch(new RegExp(`\\n  executed gate .*\\n {11}declined: ${escape(REASON)}\\n`));
    const shownJson = JSON.parse((await runCli(['show', firstId as string, '--json'], { cwd })).stdout) as { steps: Array<{ id: string; declined?: string }> };
    expect(shownJson.steps.find((s) => s.id === 'gate')?.declined).toBe(REASON);

    // runs: which steps each run declined.
    const runs = await runCli(['runs'], { cwd });
    const lines = runs.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).not.toContain('declined');
    for (const line of lines.slice(1)) expect(line).toContain('· 1 declined (gate)');
    const rows = JSON.parse((await runCli(['runs', '--json'], { cwd })).stdout) as Array<{ runId: string; declined: string[] }>;
    expect(rows.map((r) => r.declined)).toEqual([[], ['gate'], ['gate'], ['gate']]);

    // compare: declined in A and in B, counted as each run counts them.
    const compared = await runCli(['compare', firstId as string, promoted.run.runId], { cwd });
    expect(compared.code, compared.stderr).toBe(0);
    expect(compared.stdout).toMatch(/\nsteps: [^\n]* · 1 declined in A \(gate\)\n/);
    expect(compared.stdout).toMatch(new RegExp(`\\n  re-ran +gate .*\\n +outputs changed: decision\\n +declined in A: ${escape(REASON)}\\n`));
    const bothDeclined = await runCli(['compare', firstId as string, again.run.runId], { cwd });
    expect(bothDeclined.stdout).toMatch(/\nsteps: 3 same · 1 declined in A \(gate\) · 1 declined in B \(gate\)\n/);
    expect(bothDeclined.stdout).toContain(`declined in A and B: ${REASON}`);
    const asJson = JSON.parse((await runCli(['compare', firstId as string, promoted.run.runId, '--json'], { cwd })).stdout) as {
      declined: { a: string[]; b: string[] };
      steps: Array<{ id: string; declinedA: string | null; declinedB: string | null }>;
    };
    expect(asJson.declined).toEqual({ a: ['gate'], b: [] });
    expect(asJson.steps.find((s) => s.id === 'gate')).toMatchObject({ declinedA: REASON, declinedB: null });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
