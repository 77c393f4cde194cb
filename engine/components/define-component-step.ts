// A Tangle / Kubeflow Pipelines v1 component as a Flywheel step: cached, explained and run like any other.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineStep, type AnyStep, type TaskQueue } from '../define/define-step.js';
import { dir, file, type Ports } from '../define/ports.js';
import { FlywheelError } from '../errors.js';
import { checkCommandLine } from './command-line.js';
import { readComponentFile, type ComponentSpec, type LoadedComponent, type OutputSpec } from './component-spec.js';
import { isSecretReference, readSecret } from './component-secrets.js';
import { valueKind, valuesSchema, valueText } from './component-values.js';
import { fileSafeName, launchInContainer } from './container-launcher.js';
import { chosenLauncher, type LaunchRequest } from './launcher.js';
import { launchOnHost } from './local-launcher.js';

export interface ComponentStepOptions {
  /** The step's id; default: the component's name made an id (`Chicago Taxi Trips dataset` → `chicago-taxi-trips-dataset`). */
  id?: string;
  /** The Temporal task queue; default: `gpu-h200` when the component asks for an accelerator, else `cpu`. */
  queue?: TaskQueue;
  /**
   * Value inputs (`inputValue`) fed by another step's output instead of config: file inputs whose text
   * (at most 10,000 bytes, taken verbatim) is the value, as Tangle passes a task's output to a value input.
   */
  valuesFromFiles?: readonly string[];
  /** File inputs (`inputPath`) given as text in config instead, written to a file before the program runs, as Tangle stages a constant. */
  filesFromValues?: readonly string[];
  /** Results older than this ISO-8601 duration are recomputed (a Tangle task's `maxCacheStaleness`). */
  maxAge?: string;
}

/** The annotation with which Tangle's components (and tasks) ask for accelerators, e.g. `{"nvidia-tesla-t4": 1}`. */
export const ACCELERATORS_ANNOTATION = 'cloud-pipelines.net/launchers/generic/resources.accelerators';

/** The names of the inputs a component's command line reads as files (`inputPath`), wherever they appear in it. */
export function pathInputs(spec: ComponentSpec): Set<string> {
  const found = new Set<string>();
  const visit = (argument: unknown): void => {
    if (Array.isArray(argument)) for (const part of argument) visit(part);
    else if (argument !== null && typeof argument === 'object')
      for (const [key, value] of Object.entries(argument)) {
        if (key === 'inputPath' && typeof value === 'string') found.add(value);
        else visit(value);
      }
  };
  if ('container' in spec.implementation) visit([spec.implementation.container.command, spec.implementation.container.args]);
  return found;
}

function stepId(spec: ComponentSpec, source: string): string {
  const id = (spec.name ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (id === '')
    throw new FlywheelError('COMPONENT_INVALID', `${source} has no name to make a step id of`, {
      fix: 'give the component a name, or pass { id } to defineComponentStep',
    });
  return id;
}

function load(component: string | URL | LoadedComponent): LoadedComponent {
  if (typeof component === 'object' && !(component instanceof URL)) return component;
  return readComponentFile(
    component instanceof URL ? fileURLToPath(component) : resolve(component),
    '',
    "name the component.yaml by its path, best as new URL('./component.yaml', import.meta.url) so it does not depend on the working directory",
  );
}

/**
 * Turns a `component.yaml` (Tangle's and Kubeflow Pipelines v1's ComponentSpec) into a step:
 * - inputs its command line reads as files (`inputPath`) become file inputs; the others (`inputValue`)
 *   typed config (`Integer` a whole number, `Boolean` a boolean, `JsonObject` an object, … any other type text),
 *   with a required input's default applied and an optional one left out when not set;
 * - each output a file output named `data` as Tangle's launchers name them, with its type's extension (`data.csv`;
 *   a `Directory` output a directory);
 * - its identity in the cache key is the component's digest, the SHA-256 of its text (`componentRef.digest`
 *   in a Tangle pipeline), so editing the component re-runs it;
 * - it runs with the local launcher: the command on this host, in the step's scratch directory, with its
 *   inputs and outputs at the paths the placeholders name; its output lines are the step's log.
 *
 * @example
 * const wordCount = defineComponentStep(new URL('./components/word-count/component.yaml', import.meta.url));
 * p.add(wordCount, { inputs: { Text: corpus.out.text }, config: { 'Min length': 3 } });
 */
export function defineComponentStep(component: string | URL | LoadedComponent, options: ComponentStepOptions = {}): AnyStep {
  const loaded = load(component);
  const { spec, source } = loaded;
  if (!('container' in spec.implementation))
    throw new FlywheelError('COMPONENT_INVALID', `${source} is a graph component (a pipeline), not a container component`, {
      fix: 'use its tasks’ components as steps',
    });
  checkCommandLine(spec, source);
  const files = pathInputs(spec);
  const valuesFromFiles = new Set(options.valuesFromFiles ?? []);
  const filesFromValues = new Set(options.filesFromValues ?? []);
  const declared = spec.inputs ?? [];
  const isFileInput = (name: string): boolean => (files.has(name) && !filesFromValues.has(name)) || valuesFromFiles.has(name);
  const inputs: Ports = Object.fromEntries(declared.filter((i) => isFileInput(i.name)).map((i) => [i.name, file({ optional: i.optional === true })]));
  const outputs: Ports = Object.fromEntries(
    (spec.outputs ?? []).map((o) => [
      o.name,
      typeof o.type === 'string' && o.type.toLowerCase() === 'directory' ? dir() : file({ fileName: outputFileName(o) }),
    ]),
  );
  const config = valuesSchema(
    declared.filter((i) => !isFileInput(i.name)),
    source,
    filesFromValues,
  );
  const name = spec.name ?? source;
  const kinds = new Map(declared.map((i) => [i.name, valueKind(i)]));
  return defineStep<typeof config, Ports, Ports>({
    id: options.id ?? stepId(spec, source),
    // The component's digest: its text is its code.
    version: loaded.digest,
    description: spec.description?.split('\n')[0] ?? `component ${name}`,
    config,
    inputs,
    outputs,
    ...(options.maxAge === undefined ? {} : { maxAge: options.maxAge }),
    // Who runs the image is part of the result: the local launcher stands in for it with this host's
    // Python, which need not give the image's bytes; so results from it and from a container never mix.
    external: async () => ({ launcher: await chosenLauncher() }),
    resources: { queue: options.queue ?? (spec.metadata?.annotations?.[ACCELERATORS_ANNOTATION] === undefined ? 'cpu' : 'gpu-h200') },
    async run({ config: given, inputs: paths, outputs: targets, workDir, log, signal }) {
      const secrets: string[] = [];
      const text = (input: string, value: unknown): string => {
        if (!isSecretReference(value)) return valueText(value, filesFromValues.has(input) ? 'string' : kinds.get(input));
        const secret = readSecret(value.dynamicData.secret.name, `input ${input} of ${name}`);
        secrets.push(secret);
        return secret;
      };
      const values: Record<string, string> = {};
      const inputFiles: Record<string, string> = {};
      for (const [input, value] of Object.entries(given as Record<string, unknown>)) {
        if (value === undefined) continue;
        if (!filesFromValues.has(input)) values[input] = text(input, value);
        else {
          // A constant given to a file input is staged as a file, as Tangle stages it.
          const staged = join(workDir, 'staged-inputs', fileSafeName(input), 'data');
          await mkdir(dirname(staged), { recursive: true });
          await writeFile(staged, text(input, value), { mode: 0o600 });
          inputFiles[input] = staged;
        }
      }
      for (const [input, path] of Object.entries(paths as Record<string, string | undefined>)) {
        if (path === undefined) continue;
        if (valuesFromFiles.has(input)) values[input] = await valueFromFile(input, path, name);
        else inputFiles[input] = path;
      }
      // Outputs are written where Tangle's launchers put them, to paths that do not exist yet: one the program
      // did not create is missing (a directory too), and only what it wrote becomes the step's output.
      const staged: Record<string, string> = {};
      for (const output of Object.keys(targets as Record<string, string>)) staged[output] = join(workDir, 'outputs', fileSafeName(output), 'data');
      const request: LaunchRequest = { spec, source, name, values, inputFiles, outputFiles: staged, secrets, workDir, log, signal };
      const launcher = await chosenLauncher();
      await (launcher === 'local' ? launchOnHost(request) : launchInContainer(launcher, request));
      for (const [output, path] of Object.entries(staged)) {
        if (!existsSync(path))
          throw new FlywheelError('COMPONENT_OUTPUT_MISSING', `component ${name} exited 0 without writing its output ${JSON.stringify(output)}`, {
            fix: `its command line names the path with {outputPath: ${output}}: the program must write there`,
            retryable: false,
          });
        const target = (targets as Record<string, string>)[output] as string;
        await rm(target, { recursive: true, force: true }); // the empty folder a directory output starts as
        await rename(path, target);
      }
    },
  }) as unknown as AnyStep;
}

/** Extensions for the output types whose files the run view shows (CSV as a table, JSON, text). */
const EXTENSIONS: Record<string, string> = {
  csv: 'csv',
  tsv: 'tsv',
  json: 'json',
  jsonobject: 'json',
  jsonarray: 'json',
  text: 'txt',
  string: 'txt',
  markdown: 'md',
  html: 'html',
};

/**
 * An output's file name: `data`, as Tangle's launchers name it, with the extension of its type when the
 * type has one (`data.csv` for CSV), so the run view and `flywheel output` know what it holds.
 */
function outputFileName(output: OutputSpec): string {
  const type =
    typeof output.type === 'string' ? output.type : output.type !== undefined && !Array.isArray(output.type) ? Object.keys(output.type)[0] : undefined;
  const extension = type === undefined ? undefined : EXTENSIONS[type.toLowerCase()];
  return extension === undefined ? 'data' : `data.${extension}`;
}

/** The most a value read from a file may hold: Tangle's limit for an output passed to a value input. */
const MAX_VALUE_FILE_BYTES = 10_000;

/** An upstream output's text as a value input's value, verbatim (a trailing newline kept, as Tangle keeps it). */
async function valueFromFile(input: string, path: string, component: string): Promise<string> {
  const found = await stat(path);
  const refuse = (why: string): never => {
    throw new FlywheelError('COMPONENT_INPUT_INVALID', `input ${input} of ${component} takes a value, and the output wired to it ${why}`, {
      fix: `wire an output of at most ${MAX_VALUE_FILE_BYTES.toLocaleString('en-US')} bytes of text to it, or make the component read it as a file ({inputPath: ${input}})`,
      retryable: false,
    });
  };
  if (found.isDirectory()) refuse('is a directory');
  if (found.size > MAX_VALUE_FILE_BYTES) refuse(`holds ${found.size.toLocaleString('en-US')} bytes`);
  return readFile(path, 'utf8');
}
