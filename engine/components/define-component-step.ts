// A Tangle / Kubeflow Pipelines v1 component as a Flywheel step: cached, explained and run like any other.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineStep, type AnyStep, type TaskQueue } from '../define/define-step.js';
import { dir, file, type Ports } from '../define/ports.js';
import { FlywheelError } from '../errors.js';
import { resolveCommandLine } from './command-line.js';
import { readComponent, type CommandLineArgument, type ComponentSpec, type LoadedComponent } from './component-spec.js';
import { valuesSchema, valueText } from './component-values.js';
import { runOnHost } from './local-launcher.js';

export interface ComponentStepOptions {
  /** The step's id; default: the component's name made an id (`Chicago Taxi Trips dataset` → `chicago-taxi-trips-dataset`). */
  id?: string;
  /** The Temporal task queue; default: `gpu-h200` when the component asks for an accelerator, else `cpu`. */
  queue?: TaskQueue;
}

/** The annotation with which Tangle's components (and tasks) ask for accelerators, e.g. `{"nvidia-tesla-t4": 1}`. */
export const ACCELERATORS_ANNOTATION = 'cloud-pipelines.net/launchers/generic/resources.accelerators';

/** The names of the inputs a command line reads as files (`inputPath`), wherever they appear in it. */
function pathInputs(argument: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(argument)) for (const part of argument) pathInputs(part, found);
  else if (argument !== null && typeof argument === 'object') {
    for (const [key, value] of Object.entries(argument)) {
      if (key === 'inputPath' && typeof value === 'string') found.add(value);
      else pathInputs(value, found);
    }
  }
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
  const path = component instanceof URL ? fileURLToPath(component) : resolve(component);
  if (!existsSync(path) || !statSync(path).isFile())
    throw new FlywheelError('COMPONENT_NOT_FOUND', `no component file at ${path}`, {
      fix: "name the component.yaml by its path, best as new URL('./component.yaml', import.meta.url) so it does not depend on the working directory",
    });
  return readComponent(readFileSync(path, 'utf8'), path);
}

/**
 * Turns a `component.yaml` (Tangle's and Kubeflow Pipelines v1's ComponentSpec) into a step:
 * - inputs its command line reads as files (`inputPath`) become file inputs; the others (`inputValue`)
 *   typed config (`Integer` a whole number, `Boolean` a boolean, `JsonObject` an object, … any other type text),
 *   with a required input's default applied and an optional one left out when not set;
 * - each output a file output named `data`, as Tangle's launchers name them (a `Directory` output a directory);
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
  const container = spec.implementation.container;
  const files = pathInputs([...(container.command ?? []), ...(container.args ?? [])] satisfies CommandLineArgument[]);
  const declared = spec.inputs ?? [];
  const inputs: Ports = Object.fromEntries(declared.filter((i) => files.has(i.name)).map((i) => [i.name, file({ optional: i.optional === true })]));
  const outputs: Ports = Object.fromEntries(
    (spec.outputs ?? []).map((o) => [o.name, typeof o.type === 'string' && o.type.toLowerCase() === 'directory' ? dir() : file({ fileName: 'data' })]),
  );
  const config = valuesSchema(
    declared.filter((i) => !files.has(i.name)),
    source,
  );
  return defineStep<typeof config, Ports, Ports>({
    id: options.id ?? stepId(spec, source),
    // The component's digest: its text is its code.
    version: loaded.digest,
    description: spec.description?.split('\n')[0] ?? `component ${spec.name ?? source}`,
    config,
    inputs,
    outputs,
    resources: { queue: options.queue ?? (spec.metadata?.annotations?.[ACCELERATORS_ANNOTATION] === undefined ? 'cpu' : 'gpu-h200') },
    async run({ config: values, inputs: paths, outputs: targets, workDir, log, signal }) {
      const given = values as Record<string, unknown>;
      const line = resolveCommandLine(
        spec,
        {
          values: Object.fromEntries(Object.entries(given).flatMap(([name, value]) => (value === undefined ? [] : [[name, valueText(value)]]))),
          inputPaths: Object.fromEntries(Object.entries(paths as Record<string, string | undefined>).flatMap(([n, p]) => (p === undefined ? [] : [[n, p]]))),
          outputPaths: targets as Record<string, string>,
        },
        source,
      );
      await runOnHost({ name: spec.name ?? source, image: container.image, line, env: container.env ?? {}, workDir, log, signal });
      for (const [name, path] of Object.entries(targets as Record<string, string>))
        if (!existsSync(path))
          throw new FlywheelError('COMPONENT_OUTPUT_MISSING', `component ${spec.name ?? source} exited 0 without writing its output ${JSON.stringify(name)}`, {
            fix: `its command line names the path with {outputPath: ${name}}: the program must write there`,
            retryable: false,
          });
    },
  }) as unknown as AnyStep;
}
