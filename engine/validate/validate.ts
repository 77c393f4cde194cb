import { findNotCanonical } from '../../cache/canonical.js';
import { coerceToSchema, deepMerge, type ConfigOverrides } from './config-overrides.js';
import type { CodeFingerprint } from '../../cache/records.js';
import { codeFingerprintOf, type AnyStep, type OnCodeChange, type Resources } from '../define/define-step.js';
import { applyProfile } from './pipeline-profile.js';
import { isOutputRef, type PipelineDefinition } from '../define/define-pipeline.js';
import { parseIsoDuration } from '../durations.js';
import { PipelineInvalidError, type Problem } from '../errors.js';
import { isQueueName, QUEUES } from '../core/queues.js';
import { retryPolicy, type RetryPolicy } from '../core/retry-policy.js';
import { topologicalOrder } from './graph.js';
import type { Port, Ports } from '../define/ports.js';
import { configFix } from './config-hints.js';
import { nodeOutputPorts, type MapSpec } from '../define/map-ports.js';
import type { PipelineNode } from '../define/define-pipeline.js';

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
/**
 * A node id: any name without `.` and `=` (they separate `--set <node>.<key>=<value>` and `<node>.<output>`)
 * or control characters, not starting or ending with a space, so a Tangle task keeps its name ("Generate Data").
 */
const NODE_ID_PATTERN = /^(?![\s])[^.=\p{Cc}]+(?<![\s])$/u;

export interface ResolvedInput {
  node: string;
  output: string;
}

/** A pipeline node after validation: config parsed, wiring checked, durations in milliseconds. */
export interface ResolvedNode {
  id: string;
  step: AnyStep;
  config: unknown;
  inputs: Record<string, ResolvedInput | null>;
  upstream: string[];
  maxAgeMs: number | undefined;
  /** The step's resources with this node's overrides applied. */
  resources: Resources;
  timeoutMs: number | undefined;
  heartbeatTimeoutMs: number | undefined;
  /** The fingerprint of the step's code; undefined when it has none (not loaded from local modules). */
  code: CodeFingerprint | undefined;
  /** What a hit computed by other code does: the pipeline's setting, else the step's, else `rerun`. */
  onCodeChange: OnCodeChange;
  /** Set for a map node (`p.map`): the input fed element by element, the batch size, the success ratio. */
  map?: MapSpec;
  /** How often the step (each element of a map) is tried, from its resources. */
  retry: RetryPolicy;
}

export interface ResolvedPipeline {
  name: string;
  /** In topological order. */
  nodes: ResolvedNode[];
  byId: Map<string, ResolvedNode>;
  downstream: Map<string, string[]>;
}

function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [prefix];
  const entries = Object.entries(value);
  if (entries.length === 0) return [prefix];
  return entries.flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
}

function hasPath(value: unknown, path: readonly string[]): boolean {
  let current = value;
  for (const part of path) {
    if (typeof current !== 'object' || current === null || !(part in current)) return false;
    current = (current as Record<string, unknown>)[part];
  }
  return true;
}

/** Checks what TypeScript checks for typed callers, for JavaScript callers; false if the step is unusable. */
function checkStepDefinition(id: string, step: AnyStep, resources: Resources, problems: Problem[]): boolean {
  const before = problems.length;
  const bad = (message: string, fix: string): void => void problems.push({ code: 'INVALID_STEP_DEFINITION', stepId: id, message, fix });
  if (!ID_PATTERN.test(step.id))
    bad(`step id ${JSON.stringify(step.id)} has characters other than letters, digits, - and _`, 'rename the step, e.g. "count-words"');
  if (typeof step.run !== 'function') bad('the step has no run(ctx) function', 'give defineStep a run function');
  if (typeof (step.config as { safeParse?: unknown } | undefined)?.safeParse !== 'function')
    bad('config is not a zod schema', 'write config: z.object({ ... })');
  if (step.maxAge !== undefined && parseIsoDuration(step.maxAge) === undefined)
    bad(`maxAge ${JSON.stringify(step.maxAge)} is not an ISO-8601 duration`, 'write e.g. "P7D" or "PT12H"');
  if (resources.timeout !== undefined && parseIsoDuration(resources.timeout) === undefined)
    bad(`resources.timeout ${JSON.stringify(resources.timeout)} is not an ISO-8601 duration`, 'write e.g. "PT30M" or "PT14H"');
  if (resources.heartbeatTimeout !== undefined && (parseIsoDuration(resources.heartbeatTimeout) ?? 0) < 1000)
    bad(`resources.heartbeatTimeout ${JSON.stringify(resources.heartbeatTimeout)} is not an ISO-8601 duration of at least a second`, 'write e.g. "PT5M"');
  if (resources.queue !== undefined && !isQueueName(resources.queue))
    bad(`resources.queue ${JSON.stringify(resources.queue)} is unknown`, `use ${QUEUES.map((q) => JSON.stringify(q)).join(' or ')}`);
  if (step.onCodeChange !== undefined && step.onCodeChange !== 'warn' && step.onCodeChange !== 'rerun')
    bad(`onCodeChange ${JSON.stringify(step.onCodeChange)} is neither "warn" nor "rerun"`, 'write onCodeChange: "rerun" (the default) or "warn"');
  if (resources.retries !== undefined && !(Number.isInteger(resources.retries) && resources.retries >= 0))
    bad(`resources.retries must be a whole number ≥ 0, got ${String(resources.retries)}`, 'write e.g. retries: 2');
  if (resources.retryDelay !== undefined && parseIsoDuration(resources.retryDelay) === undefined)
    bad(`resources.retryDelay ${JSON.stringify(resources.retryDelay)} is not an ISO-8601 duration`, 'write e.g. "PT1S" or "PT30S"');
  if (resources.retryOn !== undefined && !(Array.isArray(resources.retryOn) && resources.retryOn.every((c) => typeof c === 'string' && c !== '')))
    bad('resources.retryOn must be a list of error codes', "write e.g. retryOn: ['STEP_TIMEOUT', 'RATE_LIMITED']");
  for (const [name, port] of [...Object.entries((step.inputs ?? {}) as Ports), ...Object.entries((step.outputs ?? {}) as Ports)]) {
    const kind = (port as Partial<Port> | undefined)?.kind;
    if (kind === undefined || !['file', 'dir', 'json'].includes(kind))
      bad(`port ${name} is not a file(), dir() or json(schema) port`, 'declare ports with file(), dir() or json(schema)');
    else if (kind === 'json' && typeof (port as { schema?: { safeParse?: unknown } }).schema?.safeParse !== 'function')
      bad(`JSON port ${name} has no zod schema`, 'declare it as json(z.object({ ... }))');
  }
  return problems.length === before;
}

/** A map's `over`, batch size and success ratio (its wiring is checked with the other inputs). */
function checkMapSpec(node: PipelineNode, problems: Problem[]): void {
  const map = node.map as MapSpec;
  const bad = (message: string, fix: string): void => void problems.push({ code: 'MAP_INVALID', stepId: node.id, message, fix });
  const inputs = node.step.inputs as Ports;
  if (map.over === '' || inputs[map.over] === undefined) {
    const named = Object.keys(node.inputs).filter((n) => !(n in inputs) || map.over === '');
    bad(
      map.over === '' ? 'p.map needs exactly one input in `over`' : `over names ${JSON.stringify(map.over)}, which is not an input of step ${node.step.id}`,
      `write over: { <input>: <step>.out.<collection> } with one of its inputs: ${Object.keys(inputs).join(', ') || '(none)'}${named.length > 0 ? '' : ''}`,
    );
    return;
  }
  if (!(Number.isInteger(map.batchSize) && map.batchSize >= 1))
    bad(`batchSize must be a whole number ≥ 1, got ${String(map.batchSize)}`, 'write e.g. batchSize: 50');
  if (map.batchSize > 1 && inputs[map.over]?.kind !== 'json')
    bad(
      `batchSize ${map.batchSize} needs a JSON input, but ${map.over} is a ${inputs[map.over]?.kind ?? '?'}`,
      'a map over a directory takes one file per element (leave batchSize out)',
    );
  if (node.step.cache === false)
    bad(
      `step ${node.step.id} has cache: false, but a map is put together from its elements' cache entries`,
      'map a cached step (a step whose result depends on outside state declares it with external)',
    );
  if (node.step.convergent === true) bad(`step ${node.step.id} is convergent; a map cannot key its elements on the state it leaves`, 'use p.add for it');
  if (!(typeof map.minSuccessRatio === 'number' && map.minSuccessRatio > 0 && map.minSuccessRatio <= 1))
    bad(
      `minSuccessRatio must be a number above 0 and at most 1, got ${String(map.minSuccessRatio)}`,
      'write e.g. minSuccessRatio: 0.95 (1, the default, needs every element)',
    );
}

/** What a map's `over` input may read: JSON elements from a JSON array or JSON Lines, files from a directory. */
function checkMapSource(id: string, name: string, port: Port, source: Port, from: string, map: MapSpec, problems: Problem[]): boolean {
  const fits = port.kind === 'json' ? source.kind === 'json' || source.kind === 'file' : port.kind === 'file' && source.kind === 'dir';
  if (fits) return true;
  const wants =
    port.kind === 'json'
      ? 'a JSON array or a JSON Lines file'
      : port.kind === 'file'
        ? 'a directory of files'
        : 'nothing: a directory input cannot receive elements';
  problems.push({
    code: 'INPUT_KIND_MISMATCH',
    stepId: id,
    message: `map input ${name} (${port.kind}${map.batchSize > 1 ? `, batches of ${map.batchSize}` : ''}) takes ${wants}, but ${from} is a ${source.kind}`,
    fix: port.kind === 'dir' ? 'map over a json() or file() input' : `wire ${wants} to over.${name}`,
  });
  return false;
}

/**
 * Checks a whole pipeline before anything runs and returns every problem at once, each with the step,
 * a stable code and a fix. On success returns the resolved pipeline the planner and executors use.
 *
 * @example
 * ```ts
 * try {
 *   const resolved = validatePipeline(pipeline, { 'count-words': { minLength: 4 } });
 * } catch (error) {
 *   if (error instanceof PipelineInvalidError) for (const p of error.problems) console.error(p.code, p.stepId, p.message, p.fix);
 * }
 * ```
 */
export function validatePipeline(chosen: PipelineDefinition, allOverrides: ConfigOverrides = {}, earlierProblems: Problem[] = []): ResolvedPipeline {
  const problems: Problem[] = [...earlierProblems];
  const { definition, overrides } = applyProfile(chosen, allOverrides, problems);
  if (definition.onCodeChange !== undefined && definition.onCodeChange !== 'warn' && definition.onCodeChange !== 'rerun')
    problems.push({
      code: 'INVALID_STEP_DEFINITION',
      message: `definePipeline({ onCodeChange: ${JSON.stringify(definition.onCodeChange)} }) is neither "warn" nor "rerun"`,
      fix: 'write onCodeChange: "rerun" (the default) or "warn"',
    });
  const seen = new Map<string, AnyStep>();
  const declaredNodes = new Map<string, PipelineNode>();
  // The step id names the code in every cache key: two different definitions under one id would share results.
  const definitions = new Map<string, AnyStep>();
  for (const node of definition.nodes) {
    const other = definitions.get(node.step.id);
    if (other !== undefined && other !== node.step) {
      problems.push({
        code: 'DUPLICATE_STEP_DEFINITION',
        stepId: node.id,
        message: `two different step definitions share the id ${JSON.stringify(node.step.id)}; they would share cache entries`,
        fix: 'give each defineStep its own id (ids name the code in cache keys, across every pipeline using a store)',
      });
    } else definitions.set(node.step.id, node.step);
    if (!NODE_ID_PATTERN.test(node.id)) {
      problems.push({
        code: 'INVALID_STEP_ID',
        stepId: node.id,
        message: `step id ${JSON.stringify(node.id)} may not contain . = or control characters, nor start or end with a space`,
        fix: 'pass a different id to p.add(step, { id })',
      });
    }
    if (seen.has(node.id)) {
      problems.push({
        code: 'DUPLICATE_STEP_ID',
        stepId: node.id,
        message: `two steps share the id ${JSON.stringify(node.id)}`,
        fix: 'give one of them its own id: p.add(step, { id: "other-name", ... })',
      });
    } else {
      seen.set(node.id, node.step);
      declaredNodes.set(node.id, node);
    }
  }
  for (const stepId of Object.keys(overrides)) {
    if (!seen.has(stepId)) {
      problems.push({
        code: 'UNKNOWN_STEP',
        stepId,
        message: `config overrides name step ${JSON.stringify(stepId)}, which is not in pipeline ${definition.name}`,
        fix: `use one of: ${[...seen.keys()].join(', ')}`,
      });
    }
  }

  const resolved: ResolvedNode[] = [];
  for (const node of definition.nodes) {
    const step = node.step;
    const resources: Resources = { ...step.resources, ...node.resources };
    if (!checkStepDefinition(node.id, step, resources, problems)) continue;
    const declared = step.inputs as Ports;
    const inputs: Record<string, ResolvedInput | null> = {};
    for (const [name, ref] of Object.entries(node.inputs)) {
      const port = declared[name];
      if (port === undefined) {
        problems.push({
          code: 'UNKNOWN_INPUT',
          stepId: node.id,
          message: `step ${step.id} has no input ${JSON.stringify(name)}`,
          fix: `wire only its inputs: ${Object.keys(declared).join(', ') || '(none)'}`,
        });
        continue;
      }
      if (!isOutputRef(ref)) {
        problems.push({
          code: 'UNKNOWN_OUTPUT',
          stepId: node.id,
          message: `input ${name} is wired to ${ref === undefined ? 'undefined (a misspelt output name?)' : 'something that is not a step output'}`,
          fix: "wire it to another step's output, e.g. inputs: { text: fetch.out.text }",
        });
        continue;
      }
      const source = seen.get(ref.node);
      if (source === undefined) {
        problems.push({
          code: 'UNKNOWN_STEP',
          stepId: node.id,
          message: `input ${name} comes from step ${JSON.stringify(ref.node)}, which is not in the pipeline`,
          fix: `add that step with p.add or wire from one of: ${[...seen.keys()].join(', ')}`,
        });
        continue;
      }
      const sourcePorts = nodeOutputPorts(declaredNodes.get(ref.node) ?? { step: source });
      const sourcePort = sourcePorts[ref.output];
      if (sourcePort === undefined) {
        problems.push({
          code: 'UNKNOWN_OUTPUT',
          stepId: node.id,
          message: `input ${name} reads output ${JSON.stringify(ref.output)} of ${ref.node}, which has no such output`,
          fix: `use one of its outputs: ${Object.keys(sourcePorts).join(', ') || '(none)'}`,
        });
        continue;
      }
      if (node.map?.over === name) {
        if (checkMapSource(node.id, name, port, sourcePort, `${ref.node}.${ref.output}`, node.map, problems))
          inputs[name] = { node: ref.node, output: ref.output };
        continue;
      }
      if (sourcePort.kind !== port.kind) {
        problems.push({
          code: 'INPUT_KIND_MISMATCH',
          stepId: node.id,
          message: `input ${name} expects a ${port.kind} but ${ref.node}.${ref.output} is a ${sourcePort.kind}`,
          fix: `wire a ${port.kind} output to it, or change the port kinds to agree`,
        });
        continue;
      }
      inputs[name] = { node: ref.node, output: ref.output };
    }
    for (const [name, port] of Object.entries(declared)) {
      if (name in inputs || name in node.inputs) continue;
      if (port.optional) inputs[name] = null;
      else
        problems.push({
          code: 'INPUT_NOT_CONNECTED',
          stepId: node.id,
          message: `required input ${JSON.stringify(name)} (${port.kind}) is not connected`,
          fix: `wire it in p.add(${step.id}, { inputs: { ${name}: <step>.out.<output> } }) or declare it optional`,
        });
    }

    if (node.map !== undefined) checkMapSpec(node, problems);
    const maxAge = node.maxAge ?? step.maxAge;
    if (node.maxAge !== undefined && parseIsoDuration(node.maxAge) === undefined)
      problems.push({
        code: 'INVALID_STEP_DEFINITION',
        stepId: node.id,
        message: `maxAge ${JSON.stringify(node.maxAge)} is not an ISO-8601 duration`,
        fix: 'write e.g. "P7D" or "PT12H"',
      });

    const override = overrides[node.id];
    const parsed = step.config.safeParse(deepMerge(node.config, coerceToSchema(step.config, override ?? {})));
    let config: unknown;
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const path = [node.id, ...issue.path.map(String)].join('.');
        problems.push({
          code: 'CONFIG_INVALID',
          stepId: node.id,
          message: `config ${path}: ${issue.message}`,
          fix: configFix(path, issue),
        });
      }
    } else {
      config = parsed.data;
      for (const path of override === undefined ? [] : leafPaths(override)) {
        if (!hasPath(config, path)) {
          const dotted = [node.id, ...path].join('.');
          problems.push({
            code: 'CONFIG_INVALID',
            stepId: node.id,
            message: `config ${dotted} is not a field of step ${step.id} (it would be ignored)`,
            fix: "check the spelling against the step's config schema",
          });
        }
      }
      const notCanonical = findNotCanonical(config, `${node.id}`);
      if (notCanonical) {
        problems.push({
          code: 'CONFIG_NOT_HASHABLE',
          stepId: node.id,
          message: `config ${notCanonical.path}: ${notCanonical.problem}`,
          fix: 'keep config to plain JSON-like data so it can enter the cache key',
        });
      }
    }
    resolved.push({
      id: node.id,
      step,
      config,
      inputs,
      upstream: [...new Set(Object.values(inputs).flatMap((i) => (i === null ? [] : [i.node])))],
      maxAgeMs: maxAge === undefined ? undefined : parseIsoDuration(maxAge),
      resources,
      timeoutMs: resources.timeout === undefined ? undefined : parseIsoDuration(resources.timeout),
      heartbeatTimeoutMs: resources.heartbeatTimeout === undefined ? undefined : parseIsoDuration(resources.heartbeatTimeout),
      code: codeFingerprintOf(step),
      onCodeChange: definition.onCodeChange ?? step.onCodeChange ?? 'rerun',
      ...(node.map === undefined ? {} : { map: node.map }),
      retry: retryPolicy({
        retries: resources.retries,
        retryDelayMs: resources.retryDelay === undefined ? undefined : parseIsoDuration(resources.retryDelay),
        retryOn: resources.retryOn,
      }),
    });
  }

  const byId = new Map(resolved.map((n) => [n.id, n]));
  const { order, cycles } = topologicalOrder(
    resolved.map((n) => n.id),
    (id) => byId.get(id)?.upstream ?? [],
  );
  for (const cycle of cycles) {
    problems.push({
      code: 'PIPELINE_CYCLE',
      stepId: cycle[0] as string,
      message: `cycle: ${cycle.join(' → ')}`,
      fix: 'a step cannot depend on its own output; remove one of these connections',
    });
  }
  if (problems.length > 0) throw new PipelineInvalidError(definition.name, problems);

  const downstream = new Map<string, string[]>(order.map((id) => [id, []]));
  for (const node of resolved) for (const up of node.upstream) downstream.get(up)?.push(node.id);
  return { name: definition.name, nodes: order.map((id) => byId.get(id) as ResolvedNode), byId, downstream };
}
