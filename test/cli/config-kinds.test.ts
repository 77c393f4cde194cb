import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runCli, runJson } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const pipeline = join(FIXTURES, 'config-kinds.ts');

describe('config of every kind the engine hashes comes from --set and --config', () => {
  it('takes a Date as ISO text and a BigInt as an integer literal, and keys on them', async () => {
    const cwd = await tempDir('flywheel-config-kinds');
    const first = await runJson(pipeline, ['--set', 'describe.since=2026-03-01T12:00:00Z', '--set', 'describe.seed=12345678901234567890n'], { cwd });
    expect(first.code, first.stderr).toBe(0);
    expect((await runCli(['output', 'describe.out'], { cwd })).stdout).toBe('x 1 2026-03-01T12:00:00.000Z 12345678901234567890 fast\n');
    expect((await runCli(['plan', pipeline, '--json'], { cwd })).stdout).toContain('"decision": "run"'); // the code's own 2025-06-01 is another key
    await writeFile(join(cwd, 'config.json'), JSON.stringify({ describe: { since: '2026-03-01T12:00:00Z', seed: '12345678901234567890' } }));
    const same = await runJson(pipeline, ['--config', join(cwd, 'config.json')], { cwd });
    expect(same.run.steps[0]?.status).toBe('cached'); // the same values, however given
    const other = await runJson(pipeline, ['--set', 'describe.seed=7'], { cwd });
    expect(other.run.steps[0]?.status).toBe('executed');
    expect(other.run.steps[0]?.reason).toContain('config seed');
  });

  it('gives a fix that matches the field: a number for a number, one of the values for an enum, quotes only for text', async () => {
    const cwd = await tempDir('flywheel-config-hints');
    const number = await runCli(['plan', pipeline, '--set', 'describe.count=many'], { cwd });
    expect(number.code).toBe(2);
    expect(number.stderr).toContain('with a number, e.g. --set describe.count=3');
    expect(number.stderr).not.toContain('quote number-like strings');
    const choice = await runCli(['plan', pipeline, '--set', 'describe.mode=slow'], { cwd });
    expect(choice.stderr).toContain('with one of: "fast", "careful"');
    const text = await runCli(['plan', pipeline, '--set', 'describe.label=1'], { cwd });
    expect(text.stderr).toContain(`quote number-like strings, --set 'describe.label="1"'`);
    const date = await runCli(['plan', pipeline, '--set', 'describe.since=yesterday'], { cwd });
    expect(date.stderr).toContain('with an ISO date, e.g. --set describe.since=2026-01-31T00:00:00Z');
    // Local time would be another instant on a machine in another zone, and so another key: refused.
    const local = await runCli(['plan', pipeline, '--set', 'describe.since=2026-03-01 10:00'], { cwd });
    expect(local.code).toBe(2);
    expect(local.stderr).toContain('CONFIG_INVALID');
    expect((await runCli(['plan', pipeline, '--set', 'describe.since=2026-03-01'], { cwd })).code).toBe(0); // a date alone: midnight UTC
    const json = await runCli(['plan', pipeline, '--set', 'describe.count=many', '--json'], { cwd });
    expect(JSON.parse(json.stdout)).toMatchObject({
      status: 'invalid',
      problems: [
        { code: 'CONFIG_INVALID', stepId: 'describe', message: expect.stringContaining('describe.count'), fix: expect.stringContaining('with a number') },
      ],
    });
  });
});
