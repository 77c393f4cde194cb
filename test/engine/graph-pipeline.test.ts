// A Tangle pipeline file read as a Flywheel pipeline, without running it: nodes, wiring, config, scheduling;
// and the docker/podman launcher's command line.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { containerRunArguments } from '../../engine/components/container-launcher.js';
import { readComponent } from '../../engine/components/component-spec.js';
import { maskSecrets } from '../../engine/components/component-secrets.js';
import { loadGraphPipeline } from '../../engine/components/graph-pipeline.js';
import { chosenLauncher, onPath } from '../../engine/components/launcher.js';
import { validatePipeline } from '../../engine/validate/validate.js';
import { tempDir } from '../support/temp-dir.js';

const copy = {
  name: 'Copy',
  inputs: [
    { name: 'source', type: 'CSV' },
    { name: 'label', type: 'String', default: 'copied' },
    { name: 'rows', type: 'Integer', optional: true },
  ],
  outputs: [{ name: 'copied', type: 'CSV' }],
  implementation: {
    container: {
      image: 'python:3.12',
      command: ['sh', '-c', 'cp "$0" "$1"'],
      args: [
        { inputPath: 'source' },
        { outputPath: 'copied' },
        { inputValue: 'label' },
        { if: { cond: { isPresent: 'rows' }, then: [{ inputValue: 'rows' }] } },
      ],
    },
  },
};

async function pipelineFile(tasks: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
  const path = join(await tempDir('graph-pipeline'), 'p.pipeline.component.yaml');
  await writeFile(path, stringify({ name: 'Graph', ...extra, implementation: { graph: { tasks } } }));
  return path;
}

describe('a Tangle pipeline file as a pipeline', () => {
  it('makes each task a node named as the task, wires task outputs as files, and makes the other arguments typed config', async () => {
    const path = await pipelineFile(
      {
        'Make table': { componentRef: { spec: copy }, arguments: { source: { graphInput: { inputName: 'table' } }, rows: '3' } },
        'Copy it': {
          componentRef: { spec: copy },
          arguments: { source: { taskOutput: { taskId: 'Make table', outputName: 'copied' } }, label: { graphInput: { inputName: 'label' } } },
          annotations: { 'cloud-pipelines.net/launchers/generic/resources.accelerators': '{"nvidia-h200": 1}' },
          executionOptions: { cachingStrategy: { maxCacheStaleness: 'P7D' }, retryStrategy: { maxRetries: 2 } },
        },
      },
      {
        inputs: [
          { name: 'table', default: 'a,b\n1,2\n' },
          { name: 'label', value: 'from the editor', default: 'unused' },
        ],
      },
    );
    const pipeline = validatePipeline(loadGraphPipeline(path));
    const make = pipeline.byId.get('Make table');
    const copyIt = pipeline.byId.get('Copy it');
    // A file input given a constant (the graph input's default) is config text, staged as a file when it runs.
    expect(make?.config).toEqual({ source: 'a,b\n1,2\n', label: 'copied', rows: 3 });
    expect(make?.resources.queue).toBe('cpu');
    // A graph input's `value` (what Tangle's editor holds) wins over its default.
    expect(copyIt?.config).toEqual({ label: 'from the editor' });
    expect(copyIt?.inputs).toEqual({ source: { node: 'Make table', output: 'copied' } });
    // The accelerator annotation sends the task to the GPU queue; Tangle's execution options are its retries and maxAge.
    expect(copyIt?.resources).toMatchObject({ queue: 'gpu-h200', retries: 2 });
    expect(copyIt?.maxAgeMs).toBe(7 * 24 * 3600 * 1000);
    // The same component fed two ways is two steps; outputs carry their type's extension.
    expect(make?.step.id).not.toBe(copyIt?.step.id);
    expect(make?.step.outputs).toEqual({ copied: expect.objectContaining({ kind: 'file', fileName: 'data.csv' }) as unknown });
  });

  it('refuses what it cannot run faithfully, naming the task', async () => {
    const refuse = async (tasks: Record<string, unknown>, message: RegExp): Promise<void> => {
      const path = await pipelineFile(tasks);
      expect(() => loadGraphPipeline(path)).toThrow(message);
    };
    await refuse(
      { A: { componentRef: { spec: copy }, arguments: { nope: 'x' } } },
      /task "A" passes the argument "nope", which its component Copy does not declare/,
    );
    await refuse({ A: { componentRef: { spec: copy }, arguments: { source: 'x' }, isEnabled: 'false' } }, /task "A": isEnabled is "false"/);
    await refuse(
      { A: { componentRef: { spec: copy }, arguments: { source: { dynamicData: { 'system/multi_node/node_index': {} } } } } },
      /argument "source" is the dynamic data .* which Flywheel does not supply/,
    );
    await refuse(
      { A: { componentRef: { url: 'https://example.com/component.yaml' } } },
      /only named by https:\/\/example\.com\/component\.yaml, and Flywheel does not download components/,
    );
    await refuse({ A: { componentRef: { spec: copy }, arguments: { source: 5 } } }, /the graph is not a Tangle graph/);
  });

  it('finds a component named by a url relative to the pipeline file, checked against its digest', async () => {
    const dir = await tempDir('graph-pipeline-url');
    const text = stringify(copy);
    await writeFile(join(dir, 'copy.component.yaml'), text);
    const path = join(dir, 'p.pipeline.component.yaml');
    const digest = readComponent(text, 'copy').digest;
    await writeFile(
      path,
      stringify({
        name: 'Url',
        implementation: { graph: { tasks: { A: { componentRef: { url: 'copy.component.yaml', digest }, arguments: { source: 'x' } } } } },
      }),
    );
    expect(validatePipeline(loadGraphPipeline(path)).byId.get('A')?.step.version).toBe(digest);
    await writeFile(
      path,
      stringify({ name: 'Url', implementation: { graph: { tasks: { A: { componentRef: { url: 'copy.component.yaml', digest: '0'.repeat(64) } } } } } }),
    );
    expect(() => loadGraphPipeline(path)).toThrow(/COMPONENT_DIGEST_MISMATCH|componentRef\.digest is 0{64}/);
  });
});

describe('subgraphs, staleness and names', () => {
  const echoGraph = (outputValues: Record<string, unknown>, inputDefault?: string): Record<string, unknown> => ({
    name: 'Echo graph',
    inputs: [{ name: 'm', type: 'String', ...(inputDefault === undefined ? {} : { default: inputDefault }) }],
    outputs: [{ name: 'o1' }, { name: 'o2' }],
    implementation: {
      graph: {
        tasks: { Inner: { componentRef: { spec: copy }, arguments: { source: { graphInput: { inputName: 'm' } } } } },
        outputValues,
      },
    },
  });

  it('gives a subgraph input its default when the task leaves it unset', async () => {
    const path = await pipelineFile({
      Outer: { componentRef: { spec: echoGraph({ o1: { taskOutput: { taskId: 'Inner', outputName: 'copied' } } }, 'the default') } },
    });
    expect(validatePipeline(loadGraphPipeline(path)).byId.get('Outer / Inner')?.config).toMatchObject({ source: 'the default' });
  });

  it('refuses wiring to a subgraph output its outputValues leave out, and a subgraph that contains itself', async () => {
    const graph = echoGraph({ o1: { taskOutput: { taskId: 'Inner', outputName: 'copied' } } }, 'x');
    const path = await pipelineFile({
      S: { componentRef: { spec: graph } },
      T: { componentRef: { spec: copy }, arguments: { source: { taskOutput: { taskId: 'S', outputName: 'o2' } } } },
    });
    expect(() => loadGraphPipeline(path)).toThrow(
      /the output "o2" of subgraph task "S" is declared, but its graph's outputValues do not say which task makes it/,
    );

    const dir = await tempDir('graph-pipeline-self');
    const self = join(dir, 'self.pipeline.component.yaml');
    await writeFile(
      self,
      stringify({ name: 'Self', implementation: { graph: { tasks: { Again: { componentRef: { url: 'self.pipeline.component.yaml' } } } } } }),
    );
    expect(() => loadGraphPipeline(self)).toThrow(/its subgraph contains itself/);
  });

  it('keeps maxCacheStaleness out of the key: the same component is one step, its staleness the node’s', async () => {
    const task = (extra: Record<string, unknown>): Record<string, unknown> => ({ componentRef: { spec: copy }, arguments: { source: 'x' }, ...extra });
    const path = await pipelineFile({ Fresh: task({ executionOptions: { cachingStrategy: { maxCacheStaleness: 'P0D' } } }), Any: task({}) });
    const pipeline = validatePipeline(loadGraphPipeline(path));
    expect(pipeline.byId.get('Fresh')?.step).toBe(pipeline.byId.get('Any')?.step);
    expect(pipeline.byId.get('Fresh')?.maxAgeMs).toBe(0);
    expect(pipeline.byId.get('Any')?.maxAgeMs).toBeUndefined();
  });

  it('refuses an input or output name that would leave the step’s folder', () => {
    for (const name of ['../../escape', 'a/b', '..'])
      expect(() => readComponent(stringify({ ...copy, outputs: [{ name }] }), 'bad.yaml')).toThrow(/holds a path separator or is \. or \.\./);
  });

  it('masks every line of a secret that spans lines', () => {
    expect(maskSecrets('token line1-secret and line2-secret', ['line1-secret\nline2-secret'])).toBe('token *** and ***');
  });
});

describe('the docker and podman launchers', () => {
  it('mount inputs read-only and outputs where Tangle puts them, and give the command as the entrypoint', () => {
    const spec = readComponent(stringify(copy), 'copy.yaml').spec;
    const run = containerRunArguments(
      {
        spec,
        source: 'copy.yaml',
        name: 'Copy',
        values: { label: 'x y' },
        inputFiles: { source: '/scratch/in/source/a,b.csv' },
        outputFiles: { copied: '/scratch/work/outputs/copied/data' },
        secrets: [],
        workDir: '/scratch/work',
        log: pino({ enabled: false }),
        signal: new AbortController().signal,
        containerName: 'flywheel-test',
      },
      { uid: 1000, gid: 1000 },
    );
    expect(run.args).toEqual([
      'run',
      '--rm',
      '--user',
      '1000:1000',
      // Every field quoted: a comma in a path cannot add a field of its own.
      '--mount',
      '"type=bind","source=/scratch/in/source/a,b.csv","target=/tmp/inputs/source/data","readonly"',
      '--mount',
      '"type=bind","source=/scratch/work/outputs/copied","target=/tmp/outputs/copied"',
      '--name',
      'flywheel-test',
      '--env',
      'HOME=/tmp',
      '--entrypoint',
      'sh',
      'python:3.12',
      '-c',
      'cp "$0" "$1"',
      '/tmp/inputs/source/data',
      '/tmp/outputs/copied/data',
      'x y',
    ]);
    expect(run.outputFolders).toEqual({ copied: '/scratch/work/outputs/copied' });
  });

  const engine = ['docker', 'podman'].find((name) => {
    if (!onPath(name)) return false;
    try {
      execFileSync(name, ['info'], { stdio: 'ignore', timeout: 5000 });
      return true;
    } catch {
      return false;
    }
  });
  it.skipIf(engine !== undefined)(
    'are not chosen without a container engine that answers (this machine and CI have none: no real container run is tested here)',
    async () => {
      expect(await chosenLauncher()).toBe('local');
    },
  );
});
