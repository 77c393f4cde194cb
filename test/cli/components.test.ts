import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runCli, runJson, statuses } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const PIPELINE = join(FIXTURES, 'components.ts');

/** A project with the fixture components in its working directory. */
async function project(label: string): Promise<string> {
  const cwd = await tempDir(label);
  for (const name of await readdir(join(FIXTURES, 'components'))) await copyFile(join(FIXTURES, 'components', name), join(cwd, name));
  return cwd;
}

describe('a component.yaml as a step of a TypeScript pipeline (local launcher)', () => {
  it('runs on this host with its inputs and outputs where the placeholders say, is cached, and re-runs when its text changes', async () => {
    const cwd = await project('components');
    const options = { cwd, env: { FLYWHEEL_TEST_COMPONENT: 'word-count.component.yaml' } };
    const first = await runJson(PIPELINE, ['--set', 'count.MinLength=4', '--set', 'count.Label=long words'], options);
    expect(first.code, first.stderr).toBe(0);
    expect(statuses(first.run)).toEqual({ text: 'executed', count: 'executed' });
    const counts = JSON.parse((await runCli(['output', 'count.Counts'], { cwd })).stdout) as unknown;
    expect(counts).toEqual({ words: 5, label: 'long words' }); // quick brown jumps over lazy
    // The program's output is the step's log; the image is named there with the launcher that stood in for it.
    const log = (await runCli(['logs', first.run.runId, 'count'], { cwd })).stdout;
    expect(log).toContain('running Word count on this host in place of the image python:3.11');
    expect(log).toContain('counted 5 words of at least 4 letters');

    const again = await runJson(PIPELINE, ['--set', 'count.MinLength=4', '--set', 'count.Label=long words'], options);
    expect(statuses(again.run)).toEqual({ text: 'cached', count: 'cached' });
    // An optional input left out: its `if` leaves the command line.
    const unlabelled = await runJson(PIPELINE, ['--set', 'count.MinLength=4'], options);
    expect(JSON.parse((await runCli(['output', 'count.Counts', '--run', unlabelled.run.runId], { cwd })).stdout)).toEqual({ words: 5, label: null });

    // The component's text is its code: any edit is a new digest, and the step runs again, saying why.
    const path = join(cwd, 'word-count.component.yaml');
    await writeFile(path, (await readFile(path, 'utf8')).replace('Counts the words', 'Counts the words (edited)'));
    const edited = await runJson(PIPELINE, ['--set', 'count.MinLength=4'], options);
    expect(statuses(edited.run)).toEqual({ text: 'cached', count: 'executed' });
    expect(edited.run.steps.find((s) => s.id === 'count')?.reasonCodes).toContain('version-changed');

    // Named by a URL beside the pipeline file (the way to write it), it is found from any working directory.
    const elsewhere = await runJson(PIPELINE, [], { cwd: await tempDir('components-elsewhere') });
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
  }, 60_000);

  it('fails with the tail of the program’s output, names an output it did not write, and refuses an image this host cannot stand in for', async () => {
    const cwd = await project('components-bad');
    const failing = await runJson(PIPELINE, [], { cwd, env: { FLYWHEEL_TEST_COMPONENT: 'failing.component.yaml' } });
    expect(failing.code).toBe(1);
    const error = failing.run.steps.find((s) => s.id === 'count')?.error;
    expect(error?.code).toBe('COMPONENT_FAILED');
    expect(error?.message).toMatch(/component Word count exited with code 3; its last lines:\nreading \S+text\.txt\nthe text is not UTF-8/);

    const forgetful = await runJson(PIPELINE, [], { cwd, env: { FLYWHEEL_TEST_COMPONENT: 'forgetful.component.yaml' } });
    expect(forgetful.run.steps.find((s) => s.id === 'count')?.error).toMatchObject({
      code: 'COMPONENT_OUTPUT_MISSING',
      message: 'component Word count exited 0 without writing its output "Counts"',
    });

    const curl = await runJson(PIPELINE, [], { cwd, env: { FLYWHEEL_TEST_COMPONENT: 'curl.component.yaml' } });
    expect(curl.run.steps.find((s) => s.id === 'count')?.error).toMatchObject({
      code: 'COMPONENT_IMAGE_UNSUPPORTED',
      message: 'component Word count runs in the image alpine/curl:8.14.1, which the local launcher cannot stand in for',
    });

    const missing = await runCli(['run', PIPELINE], { cwd, env: { FLYWHEEL_TEST_COMPONENT: 'nowhere.yaml' } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/PIPELINE_LOAD_FAILED: could not load \S+components\.ts: no component file at \S+nowhere\.yaml/);
    expect(missing.stderr).toContain("fix: name the component.yaml by its path, best as new URL('./component.yaml', import.meta.url)");
  }, 60_000);
});
