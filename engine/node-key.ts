import { createHash } from 'node:crypto';
import { computeCacheKey, readableComponents, type InputComponent, type KeyComponents, type PortSignature } from '../cache/cache-key.js';
import type { CacheKey, Digest } from '../cache/digest.js';
import type { OutputRecord } from '../cache/records.js';
import type { AnyStep } from './define-step.js';
import type { Ports } from './ports.js';
import type { ResolvedNode } from './validate.js';

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

/** One element (or batch) of a map, as its key sees it: the digest of what its `over` input receives. */
export interface ElementInput {
  digest: Digest;
  fileName?: string | undefined;
}

/**
 * The components of a node's cache key once its upstream outputs are known. Inputs are the upstream
 * output *digests*, never upstream keys: identical upstream bytes keep this key unchanged.
 * A map node's key also names its `over` input and batch size; with `element`, the key is that of one
 * invocation instead, whose `over` input is the element: the very key a plain use of the step with
 * that input would have, so the two share results.
 */
export function nodeKey(
  node: ResolvedNode,
  upstreamOutputs: (nodeId: string) => Record<string, OutputRecord> | undefined,
  env: NodeJS.ProcessEnv = process.env,
  external?: unknown,
  element?: ElementInput,
): { key: CacheKey; components: KeyComponents } {
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
  // The key hashes the typed config (a bigint is not its string); records keep the readable copy.
  return { key: computeCacheKey(components), components: readableComponents(components) };
}
