import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { executions, runCli, runJson, statuses } from '../support/cli.js';
import { FIRST, project, type Project } from '../support/code-project.js';
import { tempDir } from '../support/temp-dir.js';

interface PlanJson {
  steps: Array<{ id: string; decision: string; reason: string; reasonCodes: string[]; warning?: string }>;
}

async function plan(p: Pick<Project, 'cwd' | 'env'>): Promise<PlanJson> {
  const result = await runCli(['plan', 'pipeline.ts', '--json'], p);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as PlanJson;
}

describe('code fingerprints', () => {
  it("re-runs a step whose run body changed without a version bump, saying so; downstream re-runs only if the step's output changed", async () => {
    const p = await project();
    expect(statuses((await runJson('pipeline.ts', [], p)).run)).toEqual({ first: 'executed', second: 'executed' });

    // Same output, other code: first re-runs, second stays cached (early cutoff).
    await p.edit('steps/first.ts', "'hello\\n'", "['hello', ''].join('\\n')");
    const planned = await plan(p);
    const first = planned.steps.find((s) => s.id === 'first');
    expect(first?.decision).toBe('run');
    expect(first?.reasonCodes).toEqual(['code-changed']);
    expect(first?.reason).toBe('code changed since this result (version 1 unchanged): steps/first.ts');
    const human = await runCli(['plan', 'pipeline.ts'], p);
    expect(human.stdout).toMatch(/run\s+first\s+code changed since this result \(version 1 unchanged\): steps\/first\.ts/);

    const rerun = await runJson('pipeline.ts', [], p);
    expect(statuses(rerun.run)).toEqual({ first: 'executed', second: 'cached' });
    expect(rerun.run.steps.find((s) => s.id === 'first')?.reasonCodes).toEqual(['code-changed']);
    // The new result carries the new fingerprint: the next run is a plain hit.
    expect(statuses((await runJson('pipeline.ts', [], p)).run)).toEqual({ first: 'cached', second: 'cached' });

    // Other output: second re-runs because its input changed, not because of its code.
    await p.edit('steps/first.ts', "['hello', ''].join('\\n')", "'bye\\n'");
    const changed = await runJson('pipeline.ts', [], p);
    expect(statuses(changed.run)).toEqual({ first: 'executed', second: 'executed' });
    expect(changed.run.steps.find((s) => s.id === 'second')?.reasonCodes).toEqual(['upstream-changed']);
    expect(await executions(p.log)).toEqual(['first', 'second', 'first', 'first', 'second']);
  });

  it('ignores comment-only and whitespace-only edits', async () => {
    const p = await project();
    await runJson('pipeline.ts', [], p);
    await p.edit('steps/first.ts', '  async run({ outputs }) {', '  // Writes the greeting.\n  /* and nothing else */\n  async   run( { outputs } )\n  {\n');
    await p.edit(
      'steps/second.ts',
      "import { defineStep, file } from 'flywheel';",
      "/** Upper-cases its input. */\nimport { defineStep,\n  file } from 'flywheel'",
    );
    expect((await plan(p)).steps.map((s) => [s.id, s.decision, s.warning])).toEqual([
      ['first', 'cached', undefined],
      ['second', 'cached', undefined],
    ]);
    expect(statuses((await runJson('pipeline.ts', [], p)).run)).toEqual({ first: 'cached', second: 'cached' });
  });

  it("with onCodeChange: 'warn' keeps the cached result and warns in plan and run", async () => {
    const p = await project({ first: FIRST.replace('  version: 1,\n', "  version: 1,\n  onCodeChange: 'warn',\n") });
    await runJson('pipeline.ts', [], p);
    await p.edit('steps/first.ts', "'hello\\n'", "'bye\\n'");

    const planned = await plan(p);
    expect(planned.steps.map((s) => [s.id, s.decision])).toEqual([
      ['first', 'cached'],
      ['second', 'cached'],
    ]);
    const warning = planned.steps.find((s) => s.id === 'first')?.warning;
    expect(warning).toContain('code changed since this result (version 1 unchanged): steps/first.ts');
    expect(warning).toContain('bump');
    const human = await runCli(['plan', 'pipeline.ts'], p);
    expect(human.stdout).toMatch(/warning\s+first\s+code changed since this result/);

    const run = await runJson('pipeline.ts', [], p);
    expect(statuses(run.run)).toEqual({ first: 'cached', second: 'cached' });
    expect(run.stderr).toContain('warning: step first: code changed since this result (version 1 unchanged): steps/first.ts');
    const humanRun = await runCli(['run', 'pipeline.ts'], p);
    // In the human display the warning sits right under the step's line.
    expect(humanRun.stdout).toMatch(/● first +cached.*\n {2}! first: warning: code changed since this result \(version 1 unchanged\): steps\/first\.ts/);
    expect(await executions(p.log)).toEqual(['first', 'second']);
  });

  it("definePipeline({ onCodeChange: 'warn' }) overrides the steps' default", async () => {
    const p = await project({ pipelineOptions: "\n  onCodeChange: 'warn'," });
    await runJson('pipeline.ts', [], p);
    await p.edit('steps/second.ts', '.toUpperCase()', '.toLowerCase()');
    const planned = await plan(p);
    expect(planned.steps.map((s) => [s.id, s.decision, s.warning !== undefined])).toEqual([
      ['first', 'cached', false],
      ['second', 'cached', true],
    ]);
  });

  it('gives the same fingerprints to two copies of a project at different paths', async () => {
    const p = await project();
    const store = join(await tempDir('flywheel-code-store'), 'store');
    const env = { ...p.env, FLYWHEEL_STORE: store };
    expect((await runJson('pipeline.ts', [], { cwd: p.cwd, env })).code).toBe(0);
    const copy = join(await tempDir('flywheel-code-copy'), 'elsewhere', 'project');
    await cp(p.cwd, copy, { recursive: true });
    const planned = await plan({ cwd: copy, env });
    expect(planned.steps.map((s) => [s.id, s.decision, s.warning])).toEqual([
      ['first', 'cached', undefined],
      ['second', 'cached', undefined],
    ]);
  });
});
