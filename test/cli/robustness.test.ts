import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { chmod, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlobStamps } from '../../cache/blob-stamps.js';
import type { Digest } from '../../cache/digest.js';
import { FIXTURES, executions, runCli, runJson, startCli, statuses, waitFor, type JsonRun } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const chain = join(FIXTURES, 'chain.ts');

async function workspace(label: string): Promise<{ cwd: string; log: string; env: Record<string, string> }> {
  const cwd = await tempDir(label);
  const log = join(cwd, 'executions.log');
  return { cwd, log, env: { FLYWHEEL_TEST_EXEC_LOG: log } };
}

function blobPath(cwd: string, digest: string): string {
  return join(cwd, '.flywheel', 'cas', 'sha256', digest.slice(0, 2), digest);
}

function outputDigest(run: JsonRun, id: string): string {
  const digest = run.steps.find((s) => s.id === id)?.outputs.out;
  if (digest === undefined) throw new Error(`no output for ${id}`);
  return digest;
}

async function actionEntries(cwd: string): Promise<Array<{ step: string; key: string }>> {
  const result = await runCli(['cache', 'ls', '--json'], { cwd });
  return JSON.parse(result.stdout) as Array<{ step: string; key: string }>;
}

describe('failures, crashes and damage never leave a wrong result in the cache', () => {
  it('a failed step writes nothing to the cache and skips its downstream', async () => {
    const ws = await workspace('flywheel-fail');
    const failed = await runJson(chain, ['--set', 'upper.fail=true'], ws);
    expect(failed.code).toBe(1);
    expect(failed.run.status).toBe('failed');
    expect(statuses(failed.run)).toEqual({ emit: 'executed', upper: 'failed', suffix: 'skipped', measure: 'skipped' });
    expect(failed.run.steps.find((s) => s.id === 'upper')?.error?.message).toContain('failed on purpose');
    // The step wrote "ABC\n" before failing: neither an entry nor that blob may exist.
    expect((await actionEntries(ws.cwd)).map((e) => e.step)).toEqual(['emit']);
    const partial = createHash('sha256').update('ABC\n').digest('hex');
    await expect(stat(blobPath(ws.cwd, partial))).rejects.toThrow();
    // Nothing is left in scratch space either.
    expect(await readdir(join(ws.cwd, '.flywheel', 'tmp'))).toEqual([]);

    const retried = await runJson(chain, [], ws);
    expect(statuses(retried.run)).toEqual({ emit: 'cached', upper: 'executed', suffix: 'executed', measure: 'executed' });
  });

  it('two concurrent CLI processes on one store execute each key once', async () => {
    const ws = await workspace('flywheel-concurrent');
    // A slow first step makes both processes need the same key at the same time.
    const args = ['--set', 'emit.sleepMs=1500'];
    const [a, b] = await Promise.all([runJson(chain, args, ws), runJson(chain, args, ws)]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect((await executions(ws.log)).sort()).toEqual(['emit', 'measure', 'suffix', 'upper']);
    const all = [...a.run.steps, ...b.run.steps];
    expect(all.filter((s) => s.status === 'executed')).toHaveLength(4);
    expect(all.filter((s) => s.status === 'cached')).toHaveLength(4);
    expect(all.some((s) => s.reasonCodes.includes('shared-execution'))).toBe(true);
  });

  it('a run killed with SIGKILL mid-step resumes from what finished, with no half-written entry', async () => {
    const ws = await workspace('flywheel-kill');
    const args = ['--set', 'suffix.sleepMs=2000'];
    const victim = startCli(['run', chain, '--json', ...args], ws);
    await waitFor(async () => (await executions(ws.log)).includes('suffix'), 'the suffix step to start');
    victim.child.kill('SIGKILL');
    const killed = await victim.done;
    expect(killed.signal).toBe('SIGKILL');
    expect((await actionEntries(ws.cwd)).map((e) => e.step).sort()).toEqual(['emit', 'transform']); // emit, upper

    // Its record is true: what finished is there, saved as each step finished; every view calls it interrupted.
    const [listed] = JSON.parse((await runCli(['runs', '--json'], ws)).stdout) as Array<{ runId: string; status: string }>;
    expect(listed?.status).toBe('interrupted');
    const shown = JSON.parse((await runCli(['show', listed?.runId ?? '', '--json'], ws)).stdout) as {
      status: string;
      steps: Array<{ id: string; status: string; reason: string }>;
    };
    expect(shown.status).toBe('interrupted');
    // suffix was saved as running when it started: the record says what the run was doing when it died.
    expect(shown.steps.map((s) => [s.id, s.status])).toEqual([
      ['emit', 'executed'],
      ['upper', 'executed'],
      ['suffix', 'running'],
      ['measure', 'pending'],
    ]);
    expect((await runCli(['show', listed?.runId ?? ''], ws)).stdout).toContain(`run ${listed?.runId ?? ''} of chain: interrupted`);

    // Same config again: the dead process's lock is taken over and the finished steps are reused.
    const resumed = await runJson(chain, args, ws);
    expect(resumed.code).toBe(0);
    expect(statuses(resumed.run)).toEqual({ emit: 'cached', upper: 'cached', suffix: 'executed', measure: 'executed' });
    expect(await executions(ws.log)).toEqual(['emit', 'upper', 'suffix', 'suffix', 'measure']);
    const runs = JSON.parse((await runCli(['runs', '--json'], ws)).stdout) as Array<{ status: string }>;
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'interrupted']);
  });

  it('a deleted blob turns a hit into a reported miss that is recomputed', async () => {
    const ws = await workspace('flywheel-missing');
    const first = await runJson(chain, [], ws);
    await chmod(blobPath(ws.cwd, outputDigest(first.run, 'upper')), 0o644);
    await rm(blobPath(ws.cwd, outputDigest(first.run, 'upper')));
    const again = await runJson(chain, [], ws);
    expect(again.code).toBe(0);
    const upper = again.run.steps.find((s) => s.id === 'upper');
    expect(upper?.status).toBe('executed');
    expect(upper?.reasonCodes).toEqual(['blob-missing']);
    expect(upper?.reason).toContain('is missing');
    // It produced the same bytes again, so its downstream stays cached.
    expect(statuses(again.run)).toEqual({ emit: 'cached', upper: 'executed', suffix: 'cached', measure: 'cached' });
    expect(await readFile(blobPath(ws.cwd, outputDigest(first.run, 'upper')), 'utf8')).toBe('ABC\n');
  });

  it('a damaged blob its stamp cannot show (bit rot) is found while reading an input, fails that step once, and the next run repairs it', async () => {
    const ws = await workspace('flywheel-repair');
    // 70,000 bytes: above the size under which hits re-hash, so a hit trusts the blob's stamp.
    const value = ['--set', `emit.value=${'a'.repeat(70_000)}`];
    const first = await runJson(chain, value, ws);
    const target = blobPath(ws.cwd, outputDigest(first.run, 'upper'));
    await chmod(target, 0o644);
    await writeFile(target, `B${'A'.repeat(69_999)}\n`); // same size as the 70,000 As and their newline
    // The disk flipped bits under an unchanged stamp: re-record the stamp of the damaged file.
    const stats = statSync(target, { bigint: true });
    new BlobStamps(join(ws.cwd, '.flywheel', 'stamps')).recordWritten(outputDigest(first.run, 'upper') as Digest, stats);
    const broken = await runJson(chain, [...value, '--set', 'suffix.suffix=?'], ws);
    expect(broken.code).toBe(1);
    expect(statuses(broken.run)).toEqual({ emit: 'cached', upper: 'cached', suffix: 'failed', measure: 'skipped' });
    expect(broken.run.steps.find((s) => s.id === 'suffix')?.error?.code).toBe('INPUT_UNAVAILABLE');

    const repaired = await runJson(chain, [...value, '--set', 'suffix.suffix=?'], ws);
    expect(repaired.code).toBe(0);
    expect(statuses(repaired.run)).toEqual({ emit: 'cached', upper: 'executed', suffix: 'executed', measure: 'executed' });
    expect((await readFile(target, 'utf8')) === `${'A'.repeat(70_000)}\n`).toBe(true);
  });

  it('a byte flipped in a large blob, mtime put back, turns the hit into a reported miss that is recomputed', async () => {
    const ws = await workspace('flywheel-flip');
    const value = ['--set', `emit.value=${'a'.repeat(70_000)}`];
    const first = await runJson(chain, value, ws);
    const target = blobPath(ws.cwd, outputDigest(first.run, 'upper'));
    const { mtimeNs } = await stat(target, { bigint: true });
    const reference = join(ws.cwd, 'times');
    execFileSync('touch', ['-r', target, reference]);
    await chmod(target, 0o644);
    await writeFile(target, `B${'A'.repeat(69_999)}\n`);
    execFileSync('touch', ['-m', '-r', reference, target]);
    expect((await stat(target, { bigint: true })).mtimeNs).toBe(mtimeNs);

    const again = await runJson(chain, value, ws);
    expect(again.code).toBe(0);
    const upper = again.run.steps.find((s) => s.id === 'upper');
    expect(upper?.reasonCodes).toEqual(['blob-corrupt']);
    expect(statuses(again.run)).toEqual({ emit: 'cached', upper: 'executed', suffix: 'cached', measure: 'cached' });
    expect((await readFile(target, 'utf8')) === `${'A'.repeat(70_000)}\n`).toBe(true);
  });

  it('Ctrl-C reaches a run that waits for another process computing the same key', async () => {
    const ws = await workspace('flywheel-cancel-wait');
    const args = ['--set', 'emit.sleepMs=6000'];
    const holder = startCli(['run', chain, '--json', ...args], ws);
    await waitFor(async () => (await executions(ws.log)).includes('emit'), 'the first run to start emit');
    const waiter = startCli(['run', chain, ...args], ws);
    let waiterOut = '';
    waiter.child.stdout?.on('data', (chunk: Buffer) => (waiterOut += chunk.toString()));
    await waitFor(async () => waiterOut.includes('waiting for pid'), 'the second run to wait for the lock');
    waiter.child.kill('SIGINT');
    const cancelled = await waiter.done;
    // It ended while the holder was still inside emit: the wait did not outlive the cancellation.
    expect(await executions(ws.log)).toEqual(['emit']);
    // Ctrl-C is a cancellation, not a failure: exit 130, the run recorded as cancelled, no stack anywhere.
    expect(cancelled.code).toBe(130);
    expect(cancelled.stdout).toMatch(/✗ emit +cancelled after/);
    expect(cancelled.stdout).not.toMatch(/▸ emit/); // it only ever waited: no "running" line before the "waiting" one
    expect(cancelled.stdout).toMatch(/\nCANCELLED: 4 steps — 0 executed, 0 cached, 1 failed, 3 skipped/);
    expect(cancelled.stdout + cancelled.stderr).not.toMatch(/\n\s+at |"level"/);
    const runs = JSON.parse((await runCli(['runs', '--json'], ws)).stdout) as Array<{ status: string }>;
    expect(runs.map((r) => r.status)).toContain('cancelled');
    expect((await holder.done).code).toBe(0);
  });

  it('a corrupted blob is detected by verify and on the next run, and recomputed', async () => {
    const ws = await workspace('flywheel-corrupt');
    const first = await runJson(chain, [], ws);
    const target = blobPath(ws.cwd, outputDigest(first.run, 'suffix'));
    await chmod(target, 0o644);
    await writeFile(target, 'XYZ!\n'); // same size, different bytes
    const verify = await runCli(['cache', 'verify'], ws);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`corrupt blob ${outputDigest(first.run, 'suffix')}`);
    // Reading it back is a reported problem with a way out, not a stack trace.
    const read = await runCli(['output', 'suffix.out'], ws);
    expect(read.code).toBe(1);
    expect(read.stderr).toMatch(/error OUTPUT_UNAVAILABLE: suffix\.out of run \S+: blob [0-9a-f]{64} is corrupt/);
    expect(read.stderr).toContain('fix: run the pipeline again (flywheel run chain)');
    expect(read.stderr).not.toMatch(/\n\s+at /);

    const again = await runJson(chain, [], ws);
    const suffix = again.run.steps.find((s) => s.id === 'suffix');
    expect(suffix?.status).toBe('executed');
    expect(suffix?.reasonCodes).toEqual(['blob-corrupt']);
    expect(statuses(again.run)).toEqual({ emit: 'cached', upper: 'cached', suffix: 'executed', measure: 'cached' });
    expect(await readFile(target, 'utf8')).toBe('ABC!\n');
    expect((await runCli(['cache', 'verify'], ws)).code).toBe(0);
  });
});
