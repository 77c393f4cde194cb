import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const invalid = (name: string): string => join(FIXTURES, 'invalid', `${name}.ts`);

describe('invalid pipelines and bad usage exit 2 before anything runs', () => {
  it.each([
    ['cycle', 'PIPELINE_CYCLE', 'a', 'cycle: a → b → c → a'],
    ['unknown-step', 'UNKNOWN_STEP', 'transform', '"nowhere"'],
    ['unknown-output', 'UNKNOWN_OUTPUT', 'transform', '"missing"'],
    ['unknown-input', 'UNKNOWN_INPUT', 'transform', '"input"'],
    ['duplicate-id', 'DUPLICATE_STEP_ID', 'emit', 'two steps share the id'],
    ['unconnected', 'INPUT_NOT_CONNECTED', 'transform', 'required input "in"'],
    ['bad-config', 'CONFIG_INVALID', 'emit', 'config emit.value'],
    ['unhashable-config', 'CONFIG_NOT_HASHABLE', 'accepts-anything', 'config accepts-anything.options.retry.onError: a function cannot be hashed'],
    ['kind-mismatch', 'INPUT_KIND_MISMATCH', 'transform', 'expects a file but measure.stats is a json'],
    ['duplicate-definition', 'DUPLICATE_STEP_DEFINITION', 'second', 'two different step definitions share the id "generate"'],
    ['malformed-step', 'INVALID_STEP_DEFINITION', 'malformed', 'port data is not a file(), dir() or json(schema) port'],
  ])('%s → %s', async (fixture, code, stepId, detail) => {
    const cwd = await tempDir('flywheel-invalid');
    for (const command of ['run', 'plan']) {
      const result = await runCli([command, invalid(fixture)], { cwd });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${code} [${stepId}]`);
      expect(result.stderr).toContain(detail);
      expect(result.stderr).toContain('fix:');
      expect(result.stdout).toBe('');
    }
    // Nothing ran, so nothing was recorded.
    expect((await runCli(['runs', '--json'], { cwd })).stdout.trim()).toBe('[]');
  });

  it('an unknown --profile names the profiles there are; a pipeline without profiles refuses one', async () => {
    const cwd = await tempDir('flywheel-profile');
    const unknown = await runCli(['run', join(FIXTURES, 'profiled.ts'), '--profile', 'fast'], { cwd });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('PROFILE_UNKNOWN: pipeline profiled has no profile "fast"');
    expect(unknown.stderr).toContain('fix: use --profile quick | full');
    const none = await runCli(['plan', join(FIXTURES, 'chain.ts'), '--profile', 'full'], { cwd });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('pipeline chain declares no profiles');
  });

  it('reports every problem at once', async () => {
    const cwd = await tempDir('flywheel-invalid');
    const result = await runCli(['run', invalid('many-problems')], { cwd });
    expect(result.code).toBe(2);
    for (const expected of ['CONFIG_INVALID [emit]', 'DUPLICATE_STEP_ID [emit]', 'UNKNOWN_STEP [orphan]', 'INVALID_STEP_ID [bad.id=]']) {
      expect(result.stderr).toContain(expected);
    }
    expect(result.stderr).toMatch(/is invalid \(\d+ problems\)|nothing was run/);
  });

  it.each([
    [['run', join(FIXTURES, 'chain.ts'), '--set', 'nosuchstep.value=1'], 'UNKNOWN_STEP [nosuchstep]'],
    [['run', join(FIXTURES, 'chain.ts'), '--set', 'emit.vaule=x'], 'emit.vaule is not a field of step emit'],
    [['run', join(FIXTURES, 'chain.ts'), '--set', 'emit.sleepMs=soon'], 'config emit.sleepMs'],
    [['run', join(FIXTURES, 'chain.ts'), '--set', 'novalue'], 'CONFIG_OVERRIDE_INVALID'],
    [['run', join(FIXTURES, 'chain.ts'), '--force', 'nosuchstep'], '--force nosuchstep: no such step'],
    [['run', join(FIXTURES, 'chain.ts'), '--concurrency', 'zero'], '--concurrency zero is not a whole number'],
    [['run', 'no-such-pipeline'], 'PIPELINE_NOT_FOUND'],
    [['run', join(FIXTURES, 'chain.ts'), '--config', '/nonexistent/config.json'], 'CONFIG_FILE_UNREADABLE'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['run', join(FIXTURES, 'chain.ts'), '--no-such-flag'], "Unknown option '--no-such-flag'"],
    [['show', 'no-such-run'], 'no run no-such-run'],
    [['show', 'a/b'], 'INVALID_RUN_ID'],
    [['pin', 'x y'], 'INVALID_RUN_ID'],
    [['plan', join(FIXTURES, 'chain.ts'), '--force', 'nosuchstep'], '--force nosuchstep: no such step'],
  ])('%j → exit 2', async (args, message) => {
    const cwd = await tempDir('flywheel-usage');
    const result = await runCli(args, { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});
