import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, executions, runCli, runJson, statuses } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const chain = join(FIXTURES, 'chain.ts');
const diamond = join(FIXTURES, 'diamond.ts');

async function workspace(): Promise<{ cwd: string; log: string; env: Record<string, string> }> {
  const cwd = await tempDir('flywheel-rerun');
  const log = join(cwd, 'executions.log');
  return { cwd, log, env: { FLYWHEEL_TEST_EXEC_LOG: log } };
}

describe('partial re-runs', () => {
  it('re-runs exactly the changed step and its downstream on a chain, and says why', async () => {
    const ws = await workspace();
    const first = await runJson(chain, [], ws);
    expect(first.code).toBe(0);
    expect(statuses(first.run)).toEqual({ emit: 'executed', upper: 'executed', suffix: 'executed', measure: 'executed' });
    expect(first.run.steps.every((s) => s.reasonCodes.includes('first-run'))).toBe(true);

    const again = await runJson(chain, [], ws);
    expect(statuses(again.run)).toEqual({ emit: 'cached', upper: 'cached', suffix: 'cached', measure: 'cached' });
    expect(await executions(ws.log)).toEqual(['emit', 'upper', 'suffix', 'measure']);

    const changed = await runJson(chain, ['--set', 'suffix.suffix=?'], ws);
    expect(statuses(changed.run)).toEqual({ emit: 'cached', upper: 'cached', suffix: 'executed', measure: 'executed' });
    const suffix = changed.run.steps.find((s) => s.id === 'suffix');
    expect(suffix?.reasonCodes).toEqual(['config-changed']);
    expect(suffix?.reason).toContain('suffix: "!" → "?"');
    const measure = changed.run.steps.find((s) => s.id === 'measure');
    expect(measure?.reasonCodes).toEqual(['upstream-changed']);
    expect(measure?.reason).toContain('upstream output suffix.out changed');
  });

  it('stops the re-run at a step whose output comes out identical (early cutoff)', async () => {
    const ws = await workspace();
    const first = await runJson(chain, [], ws);
    // 'ABC' upper-cases to the same bytes as 'abc': upper re-runs, everything below stays cached.
    const changed = await runJson(chain, ['--set', 'emit.value=ABC'], ws);
    expect(statuses(changed.run)).toEqual({ emit: 'executed', upper: 'executed', suffix: 'cached', measure: 'cached' });
    const outputOf = (run: typeof first.run, id: string): string | undefined => run.steps.find((s) => s.id === id)?.outputs.out;
    expect(outputOf(changed.run, 'upper')).toBe(outputOf(first.run, 'upper'));
    expect(outputOf(changed.run, 'emit')).not.toBe(outputOf(first.run, 'emit'));
  });

  it('re-runs one branch of a diamond and the join, not the other branch', async () => {
    const ws = await workspace();
    await runJson(diamond, [], ws);
    const changed = await runJson(diamond, ['--set', 'left.suffix=-X'], ws);
    expect(statuses(changed.run)).toEqual({ emit: 'cached', left: 'executed', right: 'cached', join: 'executed' });
    expect(await executions(ws.log)).toEqual(expect.arrayContaining(['left', 'join']));
    expect((await executions(ws.log)).filter((id) => id === 'right')).toHaveLength(1);
  });

  it('plans without running: cached, run with the changed config path, pending downstream', async () => {
    const ws = await workspace();
    await runJson(diamond, [], ws);
    const result = await runCli(['plan', diamond, '--set', 'left.suffix=-X', '--json'], ws);
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as { steps: Array<{ id: string; decision: string; reason: string }> };
    expect(Object.fromEntries(plan.steps.map((s) => [s.id, s.decision]))).toEqual({ emit: 'cached', left: 'run', right: 'cached', join: 'pending' });
    expect(plan.steps.find((s) => s.id === 'left')?.reason).toContain('suffix: "-L" → "-X"');
    expect(plan.steps.find((s) => s.id === 'join')?.reason).toContain('after upstream left');
    const human = await runCli(['plan', diamond, '--set', 'left.suffix=-X'], ws);
    expect(human.stdout).toMatch(/run\s+left\s+config suffix: "-L" → "-X"/);
    expect((await executions(ws.log)).filter((id) => id === 'left')).toHaveLength(1); // plan ran nothing
  });

  it('--force re-runs a step, and its downstream only if its output changed; --force-all re-runs everything', async () => {
    const ws = await workspace();
    await runJson(diamond, [], ws);
    const forced = await runJson(diamond, ['--force', 'left'], ws);
    expect(statuses(forced.run)).toEqual({ emit: 'cached', left: 'executed', right: 'cached', join: 'cached' });
    expect(forced.run.steps.find((s) => s.id === 'left')?.reasonCodes).toEqual(['forced']);
    const all = await runJson(diamond, ['--force-all'], ws);
    expect(statuses(all.run)).toEqual({ emit: 'executed', left: 'executed', right: 'executed', join: 'executed' });
  });

  it('takes config from a file, with --set on top', async () => {
    const ws = await workspace();
    const configFile = join(ws.cwd, 'diamond.json');
    await writeFile(configFile, JSON.stringify({ left: { suffix: '-F' }, right: { suffix: '-F' } }));
    const { run } = await runJson(diamond, ['--config', configFile, '--set', 'right.suffix=-S'], ws);
    expect(run.status).toBe('succeeded');
    const show = await runCli(['show', run.runId, '--json'], ws);
    const record = (JSON.parse(show.stdout) as { record: { steps: Array<{ id: string; components?: { config: { suffix?: string } } }> } }).record;
    expect(record.steps.find((s) => s.id === 'left')?.components?.config.suffix).toBe('-F');
    expect(record.steps.find((s) => s.id === 'right')?.components?.config.suffix).toBe('-S');
  });
});
