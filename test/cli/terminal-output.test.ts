import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runCli, runJson } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const noisy = join(FIXTURES, 'noisy.ts');

describe('the terminal output of a run reads as lines, piped or not', () => {
  it('shows a step warning as one readable line (no JSON, no stack), and JSON only when asked', async () => {
    const cwd = await tempDir('flywheel-noisy');
    const run = await runCli(['run', noisy], { cwd });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('  ! talk: warning: the source looks old (the export is stale, ageDays=40)\n');
    expect(run.stdout).not.toContain('"level"');
    expect(run.stdout).toMatch(/\nresults: count\.stats — read one with/);
    const asJson = await runCli(['run', noisy, '--force', 'talk', '--log-format', 'json'], { cwd });
    expect(JSON.parse(asJson.stderr.trim().split('\n')[0] ?? '')).toMatchObject({ level: 40, stepId: 'talk', msg: 'the source looks old', ageDays: 40 });
    expect((await runCli(['run', noisy, '--log-format', 'xml'], { cwd })).stderr).toContain('--log-format xml is not human or json');
  });

  it('condenses an output that breaks its schema to one line with the paths, and lists no results for a failed run', async () => {
    const cwd = await tempDir('flywheel-noisy-broken');
    const run = await runCli(['run', noisy, '--set', 'count.broken=true'], { cwd });
    expect(run.code).toBe(1);
    const failed = run.stdout.split('\n').filter((l) => l.includes('✗ count'));
    expect(failed).toEqual([
      expect.stringMatching(
        /FAILED after .*: STEP_OUTPUT_INVALID run\(\) returned an invalid value for JSON output stats: stats\.count: Invalid input: expected number, received string; stats\.words\.0: .*; stats\.words\.1: .*$/,
      ),
    ]);
    expect(run.stdout).not.toContain('results:');
    expect(run.stdout).toContain('FAILED: 2 steps');
  });

  it('treats an expired result as routine: recomputed with its reason, logged at info, not as a warning', async () => {
    const cwd = await tempDir('flywheel-expiring');
    const expiring = join(FIXTURES, 'expiring.ts');
    expect((await runCli(['run', expiring], { cwd })).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await runCli(['run', expiring], { cwd });
    expect(again.stdout).toMatch(/✓ snapshot +executed/);
    expect(again.stderr).toBe(''); // routine: no warning line
    await new Promise((resolve) => setTimeout(resolve, 100));
    const recorded = await runJson(expiring, [], { cwd });
    expect(recorded.run.steps[0]?.reasonCodes).toEqual(['expired']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const verbose = await runCli(['run', expiring, '--log-level', 'info'], { cwd });
    expect(verbose.stderr).toMatch(/! snapshot: info: cache entry rejected \(reason=/);
  });

  it('counts one step as one step', async () => {
    const cwd = await tempDir('flywheel-one-step');
    const run = await runCli(['run', join(FIXTURES, 'config-kinds.ts')], { cwd });
    expect(run.stdout).toMatch(/· 1 step\n/);
    expect(run.stdout).toMatch(/\nsucceeded: 1 step — 1 executed/);
  });
});
