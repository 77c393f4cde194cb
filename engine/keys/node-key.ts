import { createHash, randomBytes } from 'node:crypto';
import { toReadable } from '../../cache/canonical.js';
import { cacheKeyTemplate, computeCacheKey, readableComponents, type InputComponent, type KeyComponents, type PortSignature } from '../../cache/cache-key.js';
import type { CacheKey, Digest } from '../../cache/digest.js';
import type { OutputRecord } from '../../cache/records.js';
import type { AnyStep } from '../define/define-step.js';
import type { Ports } from '../define/ports.js';
import { FlywheelError } from '../errors.js';
import { externalState } from '../helpers/external-state.js';
import type { ResolvedNode, ResolvedPipeline } from '../validate/validate.js';

const SECRET_NAME = /key|token|secret|password|passwd|credential|auth/i;

/** Declared env values enter the key; secret-looking ones only as a digest, so records never hold them. */
function envComponent(names: readonly string[], env: NodeJS.ProcessEnv): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const name of names) {
    const value = env[name];
    if (value === undefined) out[name] = null;
    else out[name] = SECRET_NAME.test(name) ? `redacted:sha256:${createHash('sha256').update(value).digest('hex')}` : value;
  }
  return out;
}

/** The step's inputs and outputs as short strings: `file`, `dir?` (optional), `file:report.md` (output file name). */
export function portSignature(step: AnyStep): PortSignature {
  const inputs: Record<string, string> = {};
  for (const [name, port] of Object.entries(step.inputs as Ports)) inputs[name] = `${port.kind}${port.optional ? '?' : ''}`;
  const outputs: Record<string, string> = {};
  for (const [name, port] of Object.entries(step.outputs as Ports))
    outputs[name] = port.kind === 'file' && port.fileName !== undefined ? `file:${port.fileName}` : port.kind;
  return { inputs, outputs };
}

/** The components a node's key takes from the node alone (not its inputs), readable: what a plan compares for a pending step. */
export function ownComponents(node: ResolvedNode): Pick<KeyComponents, 'step' | 'version' | 'ports' | 'config'> {
  return { step: node.step.id, version: node.step.version, ports: portSignature(node.step), config: toReadable(node.config) };
}

/** One element of a map, as its key sees it: the digest of what its `over` input receives (an item, a batch of items or a file). */
export interface ElementInput {
  digest: Digest;
  fileName?: string | undefined;
}

/**
 * The components of a node's cache key once its upstream outputs are known. Inputs are the upstream
 * output *digests*, never upstream keys: identical upstream bytes keep this key unchanged.
 * A map node's key also names its `over` input and batch size; with `element`, the key is that of one
 * element instead, whose `over` input is the element's item, batch or file: the very key a plain use of the step with
 * that input would have, so the two share results.
 */
function nodeKey(
  node: ResolvedNode,
  upstreamOutputs: (nodeId: string) => Record<string, OutputRecord> | undefined,
  env: NodeJS.ProcessEnv,
  external: unknown,
  element: ElementInput | undefined,
): { key: CacheKey; components: KeyComponents } {
  const components = nodeComponents(node, upstreamOutputs, env, external, element);
  // The key hashes the typed config (a bigint is not its string); records keep the readable copy.
  return { key: computeCacheKey(components), components: readableComponents(components) };
}

/** The components of nodeKey, typed as the key hashes them. */
function nodeComponents(
  node: ResolvedNode,
  upstreamOutputs: (nodeId: string) => Record<string, OutputRecord> | undefined,
  env: NodeJS.ProcessEnv,
  external: unknown,
  element: ElementInput | undefined,
): KeyComponents {
  const inputs: Record<string, InputComponent | null> = {};
  for (const [name, source] of Object.entries(node.inputs)) {
    if (source === null) {
      inputs[name] = null;
      continue;
    }
    if (element !== undefined && name === node.map?.over) {
      inputs[name] = {
        from: `${source.node}.${source.output}[]`,
        digest: element.digest,
        ...(element.fileName === undefined ? {} : { fileName: element.fileName }),
      };
      continue;
    }
    const output = upstreamOutputs(source.node)?.[source.output];
    if (output === undefined) throw new Error(`internal: ${node.id}.${name} needs ${source.node}.${source.output}, which is not available yet`);
    inputs[name] = { from: `${source.node}.${source.output}`, digest: output.digest, ...(output.fileName === undefined ? {} : { fileName: output.fileName }) };
  }
  const components: KeyComponents = {
    step: node.step.id,
    version: node.step.version,
    ports: portSignature(node.step),
    config: node.config,
    inputs,
    env: envComponent(node.step.env ?? [], env),
    ...(external === undefined ? {} : { external }),
    ...(node.map === undefined || element !== undefined ? {} : { map: { over: node.map.over, batchSize: node.map.batchSize } }),
  };
  return components;
}

/**
 * The one way a key is made, for a node and for one element of a map: the outside state the step's
 * `external` hook reports (for an element, seeing the element's digest as its `over` input's), then
 * the key over step, version, ports, config, input digests, declared env and that state.
 */
export async function keyOf(
  node: ResolvedNode,
  upstream: (nodeId: string) => Record<string, OutputRecord> | undefined,
  env: NodeJS.ProcessEnv,
  element?: ElementInput,
): Promise<{ key: CacheKey; components: KeyComponents }> {
  const own = element === undefined || node.map === undefined ? {} : { [node.map.over]: element.digest };
  return nodeKey(node, upstream, env, await externalState(node, upstream, own), element);
}

/** How a map's elements are keyed, made once per map: see elementKeys. */
export type ElementKeyer = (element: ElementInput) => Promise<{ key: CacheKey; components: KeyComponents }>;

/**
 * Keys the elements of a map node: for each, exactly what `keyOf(node, upstream, env, element)` gives.
 * The components shared by every element are encoded once (see cacheKeyTemplate), so an element costs
 * one hash. A step with an `external` hook asks it per element, and a file element's name enters its
 * key too: those are keyed one by one.
 */
export function elementKeys(node: ResolvedNode, upstream: (nodeId: string) => Record<string, OutputRecord> | undefined, env: NodeJS.ProcessEnv): ElementKeyer {
  const oneByOne: ElementKeyer = (element) => keyOf(node, upstream, env, element);
  const over = node.map?.over;
  if (over === undefined || node.step.external !== undefined) return oneByOne;
  const placeholder = randomBytes(32).toString('hex') as Digest;
  const typed = nodeComponents(node, upstream, env, undefined, { digest: placeholder });
  const template = cacheKeyTemplate(typed, placeholder);
  if (template === undefined) return oneByOne;
  const shared = readableComponents(typed);
  const input = shared.inputs[over] as InputComponent;
  return (element) => {
    if (element.fileName !== undefined) return oneByOne(element);
    const components = { ...shared, inputs: { ...shared.inputs, [over]: { ...input, digest: element.digest } } };
    return Promise.resolve({ key: template(element.digest), components });
  };
}

/**
 * The key, checked against the one the run resolved: a process that computes another runs other code
 * (or sees other declared env values) than the process that planned the run, and must not execute it.
 * The outside state is the run's, as it was looked up: read again it could differ (a live judge asks
 * afresh every run), and it is what the result will be stored under.
 */
export function checkedKeyOf(
  node: ResolvedNode,
  upstream: (nodeId: string) => Record<string, OutputRecord> | undefined,
  env: NodeJS.ProcessEnv,
  planned: { key: CacheKey; components: KeyComponents },
): { key: CacheKey; components: KeyComponents } {
  const made = nodeKey(node, upstream, env, planned.components.external, undefined);
  if (made.key !== planned.key) {
    const what = node.map === undefined ? 'step' : 'map';
    const message = `this process computes key ${made.key.slice(0, 12)} for ${what} ${node.id}, the run planned ${planned.key.slice(0, 12)}: its code or declared env values differ from the run's`;
    throw new FlywheelError('KEY_MISMATCH', message, { fix: 'deploy the same pipeline code and declared env values to every worker' });
  }
  return made;
}

/** A node of this process's pipeline; one it lacks means the run was planned from other code. */
export function nodeOf(pipeline: ResolvedPipeline, id: string): ResolvedNode {
  const node = pipeline.byId.get(id);
  if (node === undefined) {
    throw new FlywheelError('KEY_MISMATCH', `this process's pipeline ${pipeline.name} has no step ${id}: it runs other code than the client`, {
      fix: 'deploy the same pipeline code to the workers as to the client',
    });
  }
  return node;
}
