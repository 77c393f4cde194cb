import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resolveCommandLine } from '../../engine/components/command-line.js';
import { componentDigest, readComponent, type ComponentSpec } from '../../engine/components/component-spec.js';
import { valuesSchema, valueText } from '../../engine/components/component-values.js';
import { defineComponentStep } from '../../engine/components/define-component-step.js';
import { runsOnHost } from '../../engine/components/local-launcher.js';
import { FIXTURES } from '../support/cli.js';

const TAXI = `${FIXTURES}tangle/chicago-taxi-trips-dataset.component.yaml`;

describe('a component.yaml read as Tangle reads it', () => {
  it('has the digest the Tangle pipeline file gives it: the SHA-256 of its text, CRLF line ends as LF', () => {
    const text = readFileSync(TAXI, 'utf8');
    expect(componentDigest(text)).toBe('42030acab16b71bbc3ad018563b5aedb94d373e72f7cb2b322bc27dbbee75e1b');
    expect(componentDigest(text.replace(/\n/g, '\r\n'))).toBe(componentDigest(text));
    expect(componentDigest(`${text} `)).not.toBe(componentDigest(text));
  });

  it('becomes a step: its name an id, its digest the version, value inputs typed config with their defaults, outputs files named data', () => {
    const step = defineComponentStep(TAXI);
    expect(step.id).toBe('chicago-taxi-trips-dataset');
    expect(step.version).toBe('42030acab16b71bbc3ad018563b5aedb94d373e72f7cb2b322bc27dbbee75e1b');
    expect(Object.keys(step.inputs)).toEqual([]);
    expect(step.outputs).toMatchObject({ Table: { kind: 'file', fileName: 'data' } });
    expect(step.config.parse({})).toEqual({
      Where: 'trip_start_timestamp>="1900-01-01" AND trip_start_timestamp<"2100-01-01"',
      Limit: 1000,
      Select: 'tips,trip_seconds,trip_miles,pickup_community_area,dropoff_community_area,fare,tolls,extras,trip_total',
      Format: 'csv',
    });
    expect(step.resources).toEqual({ queue: 'cpu' });
    expect(step.config.safeParse({ Limit: 'ten' }).success).toBe(false);
    expect(step.config.safeParse({ Limits: 10 }).success).toBe(false);
  });

  it('runs on the GPU queue when its annotations ask for an accelerator', () => {
    const text = `name: Train\nmetadata:\n  annotations:\n    cloud-pipelines.net/launchers/generic/resources.accelerators: '{"nvidia-h200": 8}'\nimplementation: {container: {image: python:3.11, command: [python3]}}\n`;
    expect(defineComponentStep(readComponent(text, 'train.yaml')).resources).toEqual({ queue: 'gpu-h200' });
    expect(defineComponentStep(readComponent(text, 'train.yaml'), { queue: 'cpu' }).resources).toEqual({ queue: 'cpu' });
  });

  it('builds its command line from the placeholders, values as text', () => {
    const { spec } = readComponent(readFileSync(TAXI, 'utf8'), TAXI);
    const line = resolveCommandLine(
      spec,
      { values: { Where: 'w', Limit: '5', Select: 's', Format: 'csv' }, inputPaths: {}, outputPaths: { Table: '/out/Table/data' } },
      TAXI,
    );
    expect(line.slice(0, 2)).toEqual(['sh', '-c']);
    expect(line.slice(3)).toEqual(['/out/Table/data', 's', 'w', '5', 'csv']);
  });

  it('refuses a file that is not a component, naming it and what is wrong', () => {
    expect(() => readComponent('name: [', 'bad.yaml')).toThrow(/bad\.yaml is not YAML/);
    expect(() => readComponent('name: x\nimplementation: {container: {}}', 'x.yaml')).toThrow(/x\.yaml is not a component spec: implementation/);
    // Tangle's constants are text: an unquoted number is refused, as Tangle refuses it.
    expect(() =>
      readComponent('name: x\ninputs: [{name: n, default: 5}]\nimplementation: {container: {image: python:3.11, command: [python3]}}', 'n.yaml'),
    ).toThrow(/inputs\.0\.default/);
    expect(() => readComponent('name: x\ninputs: [{name: a}, {name: a}]\nimplementation: {container: {image: i, command: [x]}}', 'twice.yaml')).toThrow(
      /declares "a" twice among its inputs/,
    );
    // An input and an output may share a name (Remove_header reads `table` and writes `table`).
    expect(
      readComponent('name: x\ninputs: [{name: a}]\noutputs: [{name: a}]\nimplementation: {container: {image: i, command: [x]}}', 'apart.yaml').spec.outputs,
    ).toEqual([{ name: 'a' }]);
  });
});

describe('command-line placeholders', () => {
  const component = (args: unknown[]): ComponentSpec =>
    readComponent(
      JSON.stringify({
        name: 'c',
        inputs: [{ name: 'a' }, { name: 'opt', optional: true }, { name: 'file' }, { name: 'flag', type: 'Boolean', optional: true }],
        outputs: [{ name: 'out' }],
        implementation: { container: { image: 'python:3.11', command: ['prog'], args } },
      }),
      'c.yaml',
    ).spec;
  const line = (args: unknown[], values: Record<string, string> = { a: 'A' }) =>
    resolveCommandLine(component(args), { values, inputPaths: { file: '/in/file/data' }, outputPaths: { out: '/out/out/data' } }, 'c.yaml');

  it('inputValue, inputPath and outputPath give the value and the paths', () => {
    expect(line([{ inputValue: 'a' }, { inputPath: 'file' }, { outputPath: 'out' }])).toEqual(['prog', 'A', '/in/file/data', '/out/out/data']);
  });

  it('an optional input not given leaves the line, and a concat, without a trace; given empty it stays', () => {
    expect(line(['--opt', { inputValue: 'opt' }, { concat: ['--x=', { inputValue: 'opt' }, '!'] }])).toEqual(['prog', '--opt', '--x=!']);
    expect(line([{ inputValue: 'opt' }], { a: 'A', opt: '' })).toEqual(['prog', '']);
  });

  it('if takes then when its cond reads "true" in any case, else else; isPresent says whether an input was given', () => {
    const branch = { if: { cond: { isPresent: 'opt' }, then: ['--opt', { inputValue: 'opt' }], else: ['--no-opt'] } };
    expect(line([branch])).toEqual(['prog', '--no-opt']);
    expect(line([branch], { a: 'A', opt: 'o' })).toEqual(['prog', '--opt', 'o']);
    const byValue = { if: { cond: { inputValue: 'flag' }, then: ['--flag'] } };
    expect(line([byValue], { a: 'A', flag: 'TRUE' })).toEqual(['prog', '--flag']);
    expect(line([byValue], { a: 'A', flag: 'yes' })).toEqual(['prog']); // Tangle: only "true" is true
    expect(line([byValue])).toEqual(['prog']);
    expect(valueText(true)).toBe('True');
    expect(valueText({ k: [1] })).toBe('{"k":[1]}');
  });

  it('refuses what Tangle refuses, naming it: an unknown placeholder, isPresent outside an if, an undeclared name, a required input not given', () => {
    expect(() => line([{ inputUri: 'a' }])).toThrow(/args\[0\] uses the placeholder "inputUri", which Tangle's components do not have/);
    expect(() => line([{ isPresent: 'opt' }])).toThrow(/isPresent is only an if's cond/);
    expect(() => line([{ inputValue: 'nope' }])).toThrow(/\{inputValue: "nope"\} names no declared input/);
    expect(() => line([{ outputPath: 'a' }])).toThrow(/\{outputPath: "a"\} names no declared output/);
    expect(() => line([{ inputValue: 'a' }], {})).toThrow(/required input a was given no value/);
  });
});

describe('value inputs as config', () => {
  it('maps Tangle types to typed values and reads defaults by their type', () => {
    const schema = valuesSchema(
      [
        { name: 'n', type: 'Integer', default: '3' },
        { name: 'x', type: 'Float', default: '0.5' },
        { name: 'b', type: 'Boolean', default: 'True' },
        { name: 'o', type: 'JsonObject', default: '{"k": 1}' },
        { name: 'l', type: 'JsonArray', default: '[1, 2]' },
        { name: 's', type: 'CSV', default: 'a,b' },
        { name: 'maybe', type: 'Integer', default: '7', optional: true },
      ],
      'v.yaml',
    );
    expect(schema.parse({})).toEqual({ n: 3, x: 0.5, b: true, o: { k: 1 }, l: [1, 2], s: 'a,b' });
    expect(() => valuesSchema([{ name: 'n', type: 'Integer', default: '3.5' }], 'v.yaml')).toThrow(
      /input n \(Integer\) has the default "3.5", which is not one/,
    );
  });

  it('runs on this host only the images it can stand in for', () => {
    for (const image of ['python:3.11', 'library/python:3.12-slim', 'gcr.io/team/python@sha256:' + 'a'.repeat(64), 'alpine:3.20', 'busybox'])
      expect(runsOnHost(image), image).toBe(true);
    for (const image of ['alpine/curl:8.14.1', 'nvcr.io/nvidia/pytorch:24.01-py3', 'gcr.io/ml-pipeline/tensorflow'])
      expect(runsOnHost(image), image).toBe(false);
  });
});
