import { createHash } from 'node:crypto';
import { canonicalEncode, toReadable } from './canonical.js';
import type { CacheKey, Digest } from './digest.js';

/** Bumping this invalidates every cache entry ever written: do it only when the encoding changes. */
export const CACHE_KEY_FORMAT_VERSION = 1;

/** Where an input came from: kept for explanations only; the key sees just the digest. */
export interface InputComponent {
  /** `node.output` in the pipeline that produced it. */
  from: string;
  digest: Digest;
}

/** Everything a step's result depends on, in readable form; stored per run so plans can explain changes. */
export interface KeyComponents {
  step: string;
  version: string;
  config: unknown;
  inputs: Record<string, InputComponent | null>;
  env: Record<string, string | null>;
}

/**
 * Computes the cache key: SHA-256 over the canonical encoding of the key-format version and the
 * components. Inputs enter by their upstream *output digest*, so an upstream that re-runs and
 * produces the same bytes leaves this key unchanged (early cutoff).
 */
export function computeCacheKey(components: KeyComponents): CacheKey {
  const inputs: Record<string, string | null> = {};
  for (const [name, input] of Object.entries(components.inputs)) inputs[name] = input === null ? null : input.digest;
  const encoded = canonicalEncode(
    {
      format: 'flywheel.cache-key',
      formatVersion: CACHE_KEY_FORMAT_VERSION,
      step: components.step,
      version: components.version,
      config: components.config,
      inputs,
      env: components.env,
    },
    'key',
  );
  return createHash('sha256').update(encoded).digest('hex') as CacheKey;
}

/** A JSON-safe copy of the components, for run records and `plan` explanations. */
export function readableComponents(components: KeyComponents): KeyComponents {
  return { ...components, config: toReadable(components.config) };
}
