// Tangle / Kubeflow v1 pipeline files run as they are: tangle-ui's example pipelines (verbatim fixtures),
// a pipeline of components from a public library (Ark-kun/pipeline_components, verbatim), secrets, and
// the pipeline files Flywheel must refuse before running anything. Real Python programs on this host.
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { FIXTURES, runCli, runJson, statuses } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const TANGLE = join(FIXTURES, 'tangle');
const DATA_FLOW = join(TANGLE, 'Intro-Data Flow.pipeline.component.yaml');
const HELLO_WORLD = join(TANGLE, 'Intro-Hello World.pipeline.component.yaml');
const SUBGRAPHS = join(TANGLE, 'Intro-Subgraphs.pipeline.component.yaml');

const output = async (ref: string, cwd: string, run?: string): Promise<string> => {
  const result = await runCli(['output', ref, ...(run === undefined ? [] : ['--run', run])], { cwd });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
};

/** Run records in the project's store: none means nothing ran. */
const runsIn = async (cwd: string): Promise<string[]> => readdir(join(cwd, '.flywheel', 'runs')).catch(() => []);

/** A command that must stop with exit 2 before anything runs; its stderr, for the message. */
async function refused(args: string[], cwd: string): Promise<string> {
  const result = await runCli(args, { cwd });
  expect(result.code, result.stderr).toBe(2);
  expect(await runsIn(cwd)).toEqual([]);
  return result.stderr;
}

describe("tangle-ui's example pipelines, run from their files", () => {
  it('Intro-Data Flow: every task runs and its metrics are a real regression’s; the second run is cached; --set re-runs a task and its downstream, and plan says why', async () => {
    const cwd = await tempDir('tangle-data-flow');
    const first = await runJson(DATA_FLOW, [], { cwd });
    expect(first.code, first.stderr).toBe(0);
    expect(first.run.pipeline).toBe('Intro: Data Flow');
    expect(statuses(first.run)).toEqual({ 'Generate Data': 'executed', Split: 'executed', Train: 'executed', Predict: 'executed', Evaluate: 'executed' });
    const metrics = JSON.parse(await output('Evaluate.metrics', cwd)) as Record<string, number>;
    expect(metrics.num_samples).toBe(100); // 500 rows, 80/20 split
    expect(metrics.r_squared).toBeGreaterThan(0.9);
    expect(metrics.r_squared).toBeLessThanOrEqual(1);
    expect(metrics.rmse).toBeGreaterThan(0);
    const rows = (await output('Generate Data.output_data', cwd)).trim().split('\n');
    expect(rows).toHaveLength(501);
    // The program's lines are the step's log, under the task's name, with the image it stood in for.
    const log = await runCli(['logs', first.run.runId, 'Generate Data'], { cwd });
    expect(log.stdout).toContain('running Generate dataset on this host in place of the image python:3.12');

    const again = await runJson(DATA_FLOW, [], { cwd });
    expect(new Set(Object.values(statuses(again.run)))).toEqual(new Set(['cached']));

    const plan = await runCli(['plan', DATA_FLOW, '--set', 'Split.train_fraction=0.7'], { cwd });
    expect(plan.stdout).toMatch(/cached\s+Generate Data\s+cache hit/);
    expect(plan.stdout).toMatch(/run\s+Split\s+config train_fraction: 0\.8 → 0\.7/);
    const changed = await runJson(DATA_FLOW, ['--set', 'Split.train_fraction=0.7'], { cwd });
    expect(statuses(changed.run)).toEqual({ 'Generate Data': 'cached', Split: 'executed', Train: 'executed', Predict: 'executed', Evaluate: 'executed' });
    expect(JSON.parse(await output('Evaluate.metrics', cwd, changed.run.runId))).toMatchObject({ num_samples: 150 });
  }, 60_000);

  it('Intro-Hello World: its required graph input needs a value (exit 2, nothing run); given one, it greets; an optional input re-runs it', async () => {
    const cwd = await tempDir('tangle-hello');
    expect(await refused(['run', HELLO_WORLD], cwd)).toContain('CONFIG_INVALID [Greet]: config Greet.name: needs a value');

    const first = await runJson(HELLO_WORLD, ['--set', 'Greet.name=World'], { cwd });
    expect(first.code, first.stderr).toBe(0);
    expect(await output('Greet.greeting_output', cwd)).toBe('Hello, World! Welcome to Tangle.');
    expect(statuses((await runJson(HELLO_WORLD, ['--set', 'Greet.name=World'], { cwd })).run)).toEqual({ Greet: 'cached' });
    const prefixed = await runJson(HELLO_WORLD, ['--set', 'Greet.name=World', '--set', 'Greet.greeting_prefix=Hi'], { cwd });
    expect(statuses(prefixed.run)).toEqual({ Greet: 'executed' });
    expect(await output('Greet.greeting_output', cwd, prefixed.run.runId)).toBe('Hi, World! Welcome to Tangle.');
  }, 60_000);

  it('Intro-Subgraphs: nested graphs are flattened into tasks named "Subgraph / Task", wired through their inputs and outputs, reusing what Data Flow computed', async () => {
    const cwd = await tempDir('tangle-subgraphs');
    expect((await runJson(DATA_FLOW, [], { cwd })).code).toBe(0);
    const result = await runJson(SUBGRAPHS, [], { cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(Object.keys(statuses(result.run)).sort()).toEqual([
      'Data Preparation / Generate',
      'Data Preparation / Split',
      'Evaluation / Compute Metrics',
      'Evaluation / Predict',
      'Training / Fit Model',
    ]);
    expect(JSON.parse(await output('Evaluation / Compute Metrics.metrics', cwd))).toMatchObject({ num_samples: expect.any(Number) as number });
    // Keys hold no pipeline or task names: the same components on the same bytes reuse Data Flow's results.
    expect(statuses(result.run)).toMatchObject({ 'Evaluation / Predict': 'cached', 'Evaluation / Compute Metrics': 'cached' });
  }, 60_000);
});

/** A pipeline of the library's components as Tangle's editor saves one: each task's componentRef with the component's text and digest. */
async function libraryPipeline(dir: string): Promise<string> {
  const component = async (file: string): Promise<{ componentRef: { name: string; digest: string; text: string } }> => {
    const text = await readFile(join(TANGLE, 'library', `${file}.component.yaml`), 'utf8');
    return { componentRef: { name: file, digest: createHash('sha256').update(text).digest('hex'), text } };
  };
  const from = (taskId: string, outputName: string): unknown => ({ taskOutput: { taskId, outputName } });
  const tasks = {
    'Build dict': { ...(await component('Build_dict')), arguments: { key_1: 'name', value_1: '"tangle"', key_2: 'n', value_2: '3' } },
    'Get name': { ...(await component('Dict_Get_String')), arguments: { dict: from('Build dict', 'Output'), key: 'name' } },
    'Hash dict': { ...(await component('Calculate_hash')), arguments: { Data: from('Build dict', 'Output') } },
    'List A': { ...(await component('Build_list')), arguments: { item_1: '1', item_2: '"two"' } },
    'List B': { ...(await component('Build_list')), arguments: { item_1: '{"k": 3}', item_2: '[4]' } },
    Combine: { ...(await component('Combine_lists')), arguments: { list_1: from('List A', 'Output'), list_2: from('List B', 'Output') } },
    Count: { ...(await component('List_Get_size')), arguments: { list: from('Combine', 'Output') } },
    'Split rows': { ...(await component('Split_rows_into_subsets')), arguments: { table: { graphInput: { inputName: 'fruits' } }, fraction_1: '0.5' } },
    'Drop header': { ...(await component('Remove_header')), arguments: { table: from('Split rows', 'split_1') } },
    'Grep a': { ...(await component('Shell_script')), arguments: { Text: from('Drop header', 'table'), Pattern: 'a' } },
    'Hash rows': { ...(await component('Calculate_hash')), arguments: { Data: from('Grep a', 'Filtered text'), 'Hash algorithm': 'MD5' } },
  };
  const fruits = 'id,fruit\n1,apple\n2,banana\n3,cherry\n4,date\n5,elderberry\n6,fig\n7,grape\n8,honeydew\n';
  const pipeline = { name: 'Library components', inputs: [{ name: 'fruits', type: 'CSV', default: fruits }], implementation: { graph: { tasks } } };
  const path = join(dir, 'library.pipeline.component.yaml');
  await writeFile(path, stringify(pipeline));
  return path;
}

describe('components from a public library (Ark-kun/pipeline_components), wired as a Tangle pipeline', () => {
  it('run on this host, pass outputs to value and file inputs, are cached, and --set re-runs exactly the changed task and its downstream', async () => {
    const cwd = await tempDir('tangle-library');
    const pipeline = await libraryPipeline(cwd);
    const first = await runJson(pipeline, [], { cwd });
    expect(first.code, first.stderr).toBe(0);
    expect(new Set(Object.values(statuses(first.run)))).toEqual(new Set(['executed']));
    expect(first.run.steps).toHaveLength(11);

    const dict = await output('Build dict.Output', cwd);
    expect(JSON.parse(dict)).toEqual({ name: 'tangle', n: 3 });
    // An output passed to a value input (Dict_Get_String's dict, Combine_lists' lists) is its file's text.
    expect(await output('Get name.Output', cwd)).toBe('tangle');
    expect(JSON.parse(await output('Combine.Output', cwd))).toEqual([1, 'two', { k: 3 }, [4]]);
    expect((await output('Count.Output', cwd)).trim()).toBe('4');
    // An output passed to a file input (Calculate_hash's Data) is the file itself.
    expect((await output('Hash dict.Hash', cwd)).trim()).toBe(createHash('sha256').update(dict).digest('hex'));
    // A graph input's default staged as a file (Split_rows_into_subsets' table), split, stripped, filtered, hashed.
    const filtered = await output('Grep a.Filtered text', cwd);
    expect(
      filtered
        .split('\n')
        .filter(Boolean)
        .every((line) => /^\d+,.*a/.test(line)),
    ).toBe(true);
    expect((await output('Hash rows.Hash', cwd)).trim()).toBe(createHash('md5').update(filtered).digest('hex'));

    const again = await runJson(pipeline, [], { cwd });
    expect(new Set(Object.values(statuses(again.run)))).toEqual(new Set(['cached']));

    const plan = await runCli(['plan', pipeline, '--set', 'Grep a.Pattern=e'], { cwd });
    expect(plan.stdout).toMatch(/run\s+Grep a\s+config Pattern: "a" → "e"/);
    const changed = await runJson(pipeline, ['--set', 'Grep a.Pattern=e'], { cwd });
    const executed = Object.entries(statuses(changed.run)).filter(([, status]) => status !== 'cached');
    expect(executed).toEqual([
      ['Grep a', 'executed'],
      ['Hash rows', 'executed'],
    ]);
  }, 90_000);
});

describe('outputs', () => {
  it('a Directory output the program did not create is missing; one it made is the step’s, files and all', async () => {
    const cwd = await tempDir('tangle-dir-output');
    const pipeline = (script: string): Promise<string> => {
      const path = join(cwd, 'dir.pipeline.component.yaml');
      const spec = {
        name: 'Make folder',
        outputs: [{ name: 'folder', type: 'Directory' }],
        implementation: { container: { image: 'alpine', command: ['sh', '-c', script], args: [{ outputPath: 'folder' }] } },
      };
      return writeFile(path, stringify({ name: 'Dir output', implementation: { graph: { tasks: { Make: { componentRef: { spec } } } } } })).then(() => path);
    };
    const forgot = await runJson(await pipeline('echo "nothing written to $0"'), [], { cwd });
    expect(forgot.code).toBe(1);
    expect(forgot.run.steps[0]?.error).toMatchObject({
      code: 'COMPONENT_OUTPUT_MISSING',
      message: 'component Make folder exited 0 without writing its output "folder"',
    });
    const made = await runJson(await pipeline('mkdir -p "$0/sub" && echo one > "$0/a.txt" && echo two > "$0/sub/b.txt"'), [], { cwd });
    expect(made.code, made.stderr).toBe(0);
    const copy = join(cwd, 'copy');
    expect((await runCli(['output', 'Make.folder', '--out', copy], { cwd })).code).toBe(0);
    expect(await readFile(join(copy, 'sub', 'b.txt'), 'utf8')).toBe('two\n');
  }, 60_000);
});

describe('secrets', () => {
  const SECRET = join(TANGLE, 'secret.pipeline.component.yaml');

  it('come from FLYWHEEL_SECRET_<NAME>: missing, nothing runs (exit 2); given, the task gets them as a value and as a file, and no log or record holds them', async () => {
    const cwd = await tempDir('tangle-secret');
    expect(await refused(['run', SECRET], cwd)).toContain('takes the secret "demo token": export FLYWHEEL_SECRET_DEMO_TOKEN=<value>');

    // A secret over two lines: each line is masked where the program prints it.
    const value = 's3cr3t-value-42\nsecond-line-77';
    const run = await runJson(SECRET, [], { cwd, env: { FLYWHEEL_SECRET_DEMO_TOKEN: value, AWS_SECRET_ACCESS_KEY: 'not-for-components' } });
    expect(run.code, run.stderr).toBe(0);
    // The component gets the secret as its arguments say, and nothing of this process's environment's secrets.
    expect(JSON.parse(await output('Use token.report', cwd))).toEqual({ length: value.length, same: true, environment_holds_secrets: false });
    const log = (await runCli(['logs', run.run.runId, 'Use token'], { cwd })).stdout;
    expect(log).toContain('the token is ***');
    for (const part of value.split('\n')) expect(log).not.toContain(part);
    const store = join(cwd, '.flywheel');
    const files = (await readdir(store, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
    for (const entry of files)
      for (const part of value.split('\n')) expect(await readFile(join(entry.parentPath, entry.name), 'utf8'), entry.name).not.toContain(part);
  }, 60_000);
});

describe('pipeline files Flywheel refuses before running anything (exit 2)', () => {
  const cases: Array<[string, RegExp]> = [
    ['unknown-placeholder', /COMPONENT_INVALID: \S+unknown-placeholder\.pipeline\.component\.yaml: task "Echo": args\[0\] uses the placeholder "inputUri"/],
    ['digest-mismatch', /COMPONENT_DIGEST_MISMATCH: .*task "Shout": componentRef\.digest is f9c39068\w+, but its component's text has the digest 4fc3aef3\w+/],
    [
      'missing-output',
      /PIPELINE_SPEC_INVALID: .*task "Read": argument "source" takes the output "greeting" of task "Write", which has no such output\n {2}fix: its outputs are: "text"/,
    ],
    ['cycle', /PIPELINE_SPEC_INVALID: .*tasks "First" → "Second" → "First" take each other's outputs in a cycle/],
  ];
  it.each(cases)('%s', async (name, message) => {
    const cwd = await tempDir(`tangle-invalid-${name}`);
    const path = join(TANGLE, 'invalid', `${name}.pipeline.component.yaml`);
    for (const command of ['plan', 'run']) expect(await refused([command, path], cwd)).toMatch(message);
  });
});
