// A Tangle / Kubeflow Pipelines v1 pipeline file (`*.pipeline.component.yaml`, a graph component) as a
// Flywheel pipeline: each container task a node named as the task is (a subgraph's tasks as
// `Subgraph / Task`), wired as its arguments say. An argument that is another task's output becomes a
// file input (a value input reads the file's text); every other argument (a constant, a graph input's
// value, a secret) is the node's config, so `--set "<task>.<input>=…"` changes it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { AnyStep } from '../define/define-step.js';
import { definePipeline, type OutputRef, type PipelineDefinition } from '../define/define-pipeline.js';
import { FlywheelError } from '../errors.js';
import { componentFromSpec, type ComponentSpec, type LoadedComponent, parseComponentYaml } from './component-spec.js';
import { isSecretReference, type SecretReference } from './component-secrets.js';
import { valueOfText } from './component-values.js';
import { ACCELERATORS_ANNOTATION, defineComponentStep, pathInputs } from './define-component-step.js';
import { readGraph, referencedComponent, type Argument, type TaskSpec } from './graph-spec.js';

/** Where a task input's value comes from once graph inputs and subgraphs are resolved. */
type Source = { kind: 'constant'; text: string } | { kind: 'output'; task: string; output: string } | { kind: 'secret'; reference: SecretReference };

/** A container task of the flattened graph: a node of the pipeline. */
interface FlatTask {
  id: string;
  component: LoadedComponent;
  arguments: Map<string, Source>;
  task: TaskSpec;
  /** The inputs its command line reads as files (`inputPath`). */
  fileInputs: Set<string>;
}

/** A node id made of a task name: as written, with the characters node ids cannot hold (`.`, `=`, control characters) made `_`. */
function nodeName(task: string): string {
  return task.replace(/[.=\p{Cc}]/gu, '_').trim() || '_';
}

function wiringError(message: string, fix: string): FlywheelError {
  return new FlywheelError('PIPELINE_SPEC_INVALID', message, { fix });
}

/** The graph's tasks in an order where every task comes after the tasks whose outputs it takes; a cycle is an error naming it. */
function taskOrder(tasks: Record<string, TaskSpec>, where: string): string[] {
  const upstream = (task: TaskSpec): string[] =>
    [...Object.values(task.arguments ?? {}), ...(task.isEnabled === undefined ? [] : [task.isEnabled])].flatMap((argument) =>
      typeof argument === 'object' && 'taskOutput' in argument ? [argument.taskOutput.taskId] : [],
    );
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name];
      throw wiringError(
        `${where}: tasks ${cycle.map((t) => JSON.stringify(t)).join(' → ')} take each other's outputs in a cycle`,
        'a pipeline is a DAG: break the cycle by wiring one of these arguments to something else',
      );
    }
    state.set(name, 'visiting');
    for (const before of upstream(tasks[name] as TaskSpec)) if (before in tasks) visit(before, [...path, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of Object.keys(tasks)) visit(name, []);
  return order;
}

/**
 * Flattens a graph component into container tasks (appended to `flat`), resolving graph inputs to what
 * `given` passes them and subgraphs recursively; returns where each of its outputs comes from.
 */
function flatten(
  spec: ComponentSpec,
  where: string,
  prefix: string | undefined,
  given: ReadonlyMap<string, Source>,
  pipelinePath: string,
  flat: FlatTask[],
  /** The digests of the graphs being flattened, outermost first: a graph inside itself is a cycle. */
  within: readonly string[] = [],
): Map<string, Source> {
  if (!('graph' in spec.implementation)) throw new Error('internal: flatten takes a graph component');
  const graph = readGraph(spec.implementation.graph, where);
  const graphInputs = new Set((spec.inputs ?? []).map((i) => i.name));
  const outputsOf = new Map<string, { component: LoadedComponent; outputs: Map<string, Source> | undefined; id: string }>();
  for (const name of taskOrder(graph.tasks, where)) {
    const task = graph.tasks[name] as TaskSpec;
    const at = `${where}: task ${JSON.stringify(name)}`;
    const component = referencedComponent(task.componentRef, at, pipelinePath);
    const id = prefix === undefined ? nodeName(name) : `${prefix} / ${nodeName(name)}`;
    const declared = new Set((component.spec.inputs ?? []).map((i) => i.name));
    const source = (input: string, argument: Argument): Source | undefined => {
      if (typeof argument === 'string') return { kind: 'constant', text: argument };
      if ('graphInput' in argument) {
        const graphInput = argument.graphInput.inputName;
        if (!graphInputs.has(graphInput))
          throw wiringError(
            `${at}: argument ${JSON.stringify(input)} takes the graph input ${JSON.stringify(graphInput)}, which is not declared`,
            'declare it under inputs, or fix the name',
          );
        return given.get(graphInput);
      }
      if ('taskOutput' in argument) {
        const { taskId, outputName } = argument.taskOutput;
        const upstream = outputsOf.get(taskId);
        if (upstream === undefined)
          throw wiringError(
            `${at}: argument ${JSON.stringify(input)} takes an output of task ${JSON.stringify(taskId)}, which this graph does not have`,
            `wire it to one of its tasks: ${Object.keys(graph.tasks).join(', ')}`,
          );
        const names = (upstream.component.spec.outputs ?? []).map((o) => o.name);
        if (!names.includes(outputName))
          throw wiringError(
            `${at}: argument ${JSON.stringify(input)} takes the output ${JSON.stringify(outputName)} of task ${JSON.stringify(taskId)}, which has no such output`,
            `its outputs are: ${names.map((n) => JSON.stringify(n)).join(', ') || 'none'}`,
          );
        return upstream.outputs === undefined
          ? { kind: 'output', task: upstream.id, output: outputName }
          : subgraphOutput(upstream.outputs, taskId, outputName, at);
      }
      if (isSecretReference(argument)) return { kind: 'secret', reference: argument };
      throw wiringError(
        `${at}: argument ${JSON.stringify(input)} is the dynamic data ${JSON.stringify(argument.dynamicData)}, which Flywheel does not supply`,
        'only secrets are supported ({dynamicData: {secret: {name: S}}}, read from FLYWHEEL_SECRET_S); system/multi_node data needs Tangle’s Kubernetes launcher',
      );
    };
    const args = new Map<string, Source>();
    for (const [input, argument] of Object.entries(task.arguments ?? {})) {
      if (!declared.has(input))
        throw wiringError(
          `${at} passes the argument ${JSON.stringify(input)}, which its component ${component.spec.name ?? ''} does not declare`,
          `its inputs are: ${[...declared].map((n) => JSON.stringify(n)).join(', ') || 'none'}`,
        );
      const found = source(input, argument);
      if (found !== undefined) args.set(input, found);
    }
    if (task.isEnabled !== undefined && !(typeof task.isEnabled === 'string' && task.isEnabled.trim().toLowerCase() === 'true'))
      throw wiringError(
        `${at}: isEnabled is ${JSON.stringify(task.isEnabled)}; Flywheel runs every task of a pipeline`,
        "remove isEnabled (or set it to 'true'), or remove the task",
      );
    if ('graph' in component.spec.implementation) {
      if (within.includes(component.digest))
        throw wiringError(`${at}: its subgraph contains itself`, 'a subgraph cannot include the graph it belongs to: point componentRef at another graph');
      // A subgraph input its task leaves unset takes the subgraph's default, as a task's input does.
      for (const input of component.spec.inputs ?? [])
        if (!args.has(input.name) && input.default !== undefined) args.set(input.name, { kind: 'constant', text: input.default });
      outputsOf.set(name, { component, id, outputs: flatten(component.spec, at, id, args, pipelinePath, flat, [...within, component.digest]) });
    } else {
      flat.push({ id, component, arguments: args, task, fileInputs: pathInputs(component.spec) });
      outputsOf.set(name, { component, id, outputs: undefined });
    }
  }
  const outputs = new Map<string, Source>();
  for (const [output, argument] of Object.entries(graph.outputValues ?? {})) {
    if (typeof argument !== 'object' || !('taskOutput' in argument))
      throw wiringError(`${where}: output ${JSON.stringify(output)} is not a task's output`, 'write outputValues as {taskOutput: {taskId, outputName}}');
    const { taskId, outputName } = argument.taskOutput;
    const upstream = outputsOf.get(taskId);
    if (upstream === undefined || !(upstream.component.spec.outputs ?? []).some((o) => o.name === outputName))
      throw wiringError(
        `${where}: output ${JSON.stringify(output)} is the output ${JSON.stringify(outputName)} of task ${JSON.stringify(taskId)}, which does not exist`,
        'fix outputValues',
      );
    outputs.set(
      output,
      upstream.outputs === undefined ? { kind: 'output', task: upstream.id, output: outputName } : subgraphOutput(upstream.outputs, taskId, outputName, where),
    );
  }
  return outputs;
}

/** Where a subgraph's declared output comes from; one its outputValues does not wire is an error, not a silent default. */
function subgraphOutput(outputs: ReadonlyMap<string, Source>, taskId: string, outputName: string, where: string): Source {
  const found = outputs.get(outputName);
  if (found === undefined)
    throw wiringError(
      `${where}: the output ${JSON.stringify(outputName)} of subgraph task ${JSON.stringify(taskId)} is declared, but its graph's outputValues do not say which task makes it`,
      'add it to the subgraph’s outputValues, or wire another output',
    );
  return found;
}

/** A root graph input's value: what the editor last set (`value`), else its default, when not empty (as Tangle reads a root default). */
function rootInputs(spec: ComponentSpec, raw: unknown): Map<string, Source> {
  // `value` is the editor's field, not the spec's: read from the file as written.
  const written = (raw as { inputs?: Array<{ name?: unknown; value?: unknown }> }).inputs ?? [];
  const values = new Map<string, Source>();
  for (const input of spec.inputs ?? []) {
    const value = written.find((w) => w.name === input.name)?.value;
    const text = typeof value === 'string' && value !== '' ? value : input.default;
    if (text !== undefined && text !== '') values.set(input.name, { kind: 'constant', text });
  }
  return values;
}

/** The one step a component is, for each way a pipeline feeds it (which value inputs read files, which file inputs take text). */
function stepFactory(): (flat: FlatTask) => AnyStep {
  const steps = new Map<string, AnyStep>();
  return ({ component, arguments: args, fileInputs: files }) => {
    const { spec } = component;
    const inputs = spec.inputs ?? [];
    const valuesFromFiles = inputs.filter((i) => !files.has(i.name) && args.get(i.name)?.kind === 'output').map((i) => i.name);
    const filesFromValues = inputs.filter((i) => files.has(i.name) && args.get(i.name)?.kind !== 'output').map((i) => i.name);
    const shape = JSON.stringify([component.digest, valuesFromFiles, filesFromValues]);
    let step = steps.get(shape);
    if (step === undefined) {
      const slug =
        (spec.name ?? 'component')
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-+|-+$/g, '') || 'component';
      step = defineComponentStep(component, {
        // The id names the code in cache keys: the component's digest and how it is fed.
        id: `${slug}-${createHash('sha256').update(shape).digest('hex').slice(0, 10)}`,
        valuesFromFiles,
        filesFromValues,
      });
      steps.set(shape, step);
    }
    return step;
  };
}

/** The node's config: every argument that is not another task's output, typed as its input is. */
function nodeConfig(flat: FlatTask, where: string): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  const { spec } = flat.component;
  for (const input of spec.inputs ?? []) {
    const source = flat.arguments.get(input.name);
    if (source?.kind === 'constant')
      config[input.name] = flat.fileInputs.has(input.name) ? source.text : valueOfText(input, source.text, where, `the argument`);
    else if (source?.kind === 'secret') config[input.name] = source.reference;
  }
  return config;
}

/** A task's scheduling from its annotations and execution options: the GPU queue for an accelerator, retries. */
function nodeResources(flat: FlatTask): { queue?: 'gpu-h200'; retries?: number } {
  const retries = flat.task.executionOptions?.retryStrategy?.maxRetries;
  return {
    ...(flat.task.annotations?.[ACCELERATORS_ANNOTATION] === undefined ? {} : { queue: 'gpu-h200' as const }),
    ...(retries === undefined ? {} : { retries }),
  };
}

/** Reads a Tangle / Kubeflow v1 pipeline file as a Flywheel pipeline; what is wrong with it is an error naming the task and the fix. */
export function loadGraphPipeline(path: string): PipelineDefinition {
  return readGraphPipeline(path).definition;
}

/**
 * The pipeline a file describes, and its identity: a digest of the file and of the components it names
 * (their digests are the steps' versions), which changes when either is edited (a worker reloads then).
 */
export function readGraphPipeline(path: string): { definition: PipelineDefinition; identity: string } {
  const text = readFileSync(path, 'utf8');
  const raw = parseComponentYaml(text, path);
  const root = componentFromSpec(raw, path);
  if (!('graph' in root.spec.implementation))
    throw new FlywheelError('PIPELINE_SPEC_INVALID', `${path} is a container component, not a pipeline (a graph component)`, {
      fix: 'use it as a step: defineComponentStep(path) in a TypeScript pipeline',
    });
  const flat: FlatTask[] = [];
  flatten(root.spec, path, undefined, rootInputs(root.spec, raw), path, flat);
  const byId = new Map<string, FlatTask>();
  for (const task of flat) {
    if (byId.has(task.id))
      throw wiringError(
        `${path}: two tasks are both the node ${JSON.stringify(task.id)}`,
        'rename one of them (a node id is the task name with . and = made _)',
      );
    byId.set(task.id, task);
  }
  const stepOf = stepFactory();
  const nodes = flat.map((task) => {
    const where = `${path}: task ${JSON.stringify(task.id)}`;
    // Tangle's maxCacheStaleness filters which results are reused; it is not part of what they are (the key).
    const staleness = task.task.executionOptions?.cachingStrategy?.maxCacheStaleness;
    return { task, step: stepOf(task), config: nodeConfig(task, where), resources: nodeResources(task), staleness };
  });
  const identity = createHash('sha256').update(text);
  for (const { step } of nodes) identity.update(`\0${String(step.version)}`);
  const definition = definePipeline({
    name: root.spec.name ?? basename(path).replace(/\.ya?ml$/, ''),
    ...(root.spec.description === undefined ? {} : { description: root.spec.description.trim() }),
    build(p) {
      for (const { task, step, config, resources, staleness } of nodes) {
        const inputs: Record<string, OutputRef> = {};
        for (const [input, source] of task.arguments) if (source.kind === 'output') inputs[input] = p.ref(source.task, source.output);
        p.add(step, { id: task.id, config, inputs, resources, ...(staleness === undefined ? {} : { maxAge: staleness }) } as never);
      }
    },
  });
  return { definition, identity: identity.digest('hex') };
}
