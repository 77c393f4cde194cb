import { createHash } from 'node:crypto';
import { computeCacheKey, readableComponents, type InputComponent, type KeyComponents } from '../cache/cache-key.js';
import type { CacheKey } from '../cache/digest.js';
import type { OutputRecord } from '../cache/records.js';
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

/**
 * The components of a node's cache key once its upstream outputs are known. Inputs are the upstream
 * output *digests*, never upstream keys: identical upstream bytes keep this key unchanged.
 */
export function nodeKey(node: ResolvedNode, upstreamOutputs: (nodeId: string) => Record<string, OutputRecord> | undefined, env: NodeJS.ProcessEnv = process.env): { key: CacheKey; components: KeyComponents } {
  const inputs: Record<string, InputComponent | null> = {};
  for (const [name, source] of Object.entries(node.inputs)) {
    if (source === null) {
      inputs[name] = null;
      continue;
    }
    const output = upstreamOutputs(source.node)?.[source.output];
    if (output === undefined) throw new Error(`internal: ${node.id}.${name} needs ${source.node}.${source.output}, which is not available yet`);
    inputs[name] = { from: `${source.node}.${source.output}`, digest: output.digest };
  }
  const components: KeyComponents = {
    step: node.step.id,
    version: node.step.version,
    config: node.config,
    inputs,
    env: envComponent(node.step.env ?? [], env),
  };
  // The key hashes the typed config (a bigint is not its string); records keep the readable copy.
  return { key: computeCacheKey(components), components: readableComponents(components) };
}
