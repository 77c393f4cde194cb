import { createHash } from 'node:crypto';
import { canonicalEncode, toReadable } from './canonical.js';
import { isSha256Hex, type CacheKey, type Digest } from './digest.js';

/** Bumping this invalidates every cache entry ever written: do it only when the encoding changes. */
export const CACHE_KEY_FORMAT_VERSION = 1;

/** An input as the step sees it: its bytes (digest) and, for a file, the name it appears under. */
export interface InputComponent {
  /** `node.output` in the pipeline that produced it: for explanations only, never in the key. */
  from: string;
  digest: Digest;
  fileName?: string | undefined;
}

/**
 * The step's interface, e.g. `{ inputs: { data: 'file', base: 'dir?' }, outputs: { model: 'dir', report: 'file:report.md' } }`.
 * Part of the step's code: adding or changing a port invalidates its results like a version bump.
 */
export interface PortSignature {
  inputs: Record<string, string>;
  outputs: Record<string, string>;
}

/** Everything a step's result depends on, in readable form; stored per run so plans can explain changes. */
export interface KeyComponents {
  step: string;
  version: string;
  ports: PortSignature;
  config: unknown;
  inputs: Record<string, InputComponent | null>;
  env: Record<string, string | null>;
  /** State outside Flywheel the step reads (e.g. a source file's digest), from its `external` hook. Absent for most steps. */
  external?: unknown;
  /**
   * Present only in the key of a whole map (`p.map`): the input fed element by element and the batch size.
   * An element's own key has no such field: it is the key a plain use of the step with that input would have.
   */
  map?: { over: string; batchSize: number } | undefined;
}

/**
 * Computes the cache key: SHA-256 over the canonical encoding of the key-format version and the
 * components. Inputs enter by their upstream *output digest*, so an upstream that re-runs and
 * produces the same bytes leaves this key unchanged (early cutoff).
 */
export function computeCacheKey(components: KeyComponents): CacheKey {
  return createHash('sha256').update(keyEncoding(components)).digest('hex') as CacheKey;
}

/** The bytes a key hashes: the key-format version and the components, canonically encoded. */
function keyEncoding(components: KeyComponents): Uint8Array {
  const inputs: Record<string, { digest: string; fileName?: string } | null> = {};
  for (const [name, input] of Object.entries(components.inputs)) {
    inputs[name] = input === null ? null : input.fileName === undefined ? { digest: input.digest } : { digest: input.digest, fileName: input.fileName };
  }
  return canonicalEncode(
    {
      format: 'flywheel.cache-key',
      formatVersion: CACHE_KEY_FORMAT_VERSION,
      step: components.step,
      version: components.version,
      ports: components.ports,
      config: components.config,
      inputs,
      env: components.env,
      // Only present when the step declares outside state, so every other key is unchanged.
      ...(components.external === undefined ? {} : { external: components.external }),
      ...(components.map === undefined ? {} : { map: components.map }),
    },
    'key',
  );
}

/**
 * The keys of components that differ in one input's digest alone (a map's elements): `placeholder`
 * stands for that digest in `components`, and each key hashes the one encoding with a digest written in
 * its place, as computeCacheKey would encode it (a digest is 64 ASCII characters: its length prefix is
 * the same). Encoding the components once instead of once per element makes 10,000 keys cost 10,000
 * hashes. Undefined when the placeholder is not found exactly once (it is random: it never is twice).
 */
export function cacheKeyTemplate(components: KeyComponents, placeholder: Digest): ((digest: Digest) => CacheKey) | undefined {
  const bytes = Buffer.from(keyEncoding(components));
  const marker = Buffer.from(placeholder, 'latin1');
  const at = bytes.indexOf(marker);
  if (!isSha256Hex(placeholder) || at < 0 || bytes.indexOf(marker, at + 1) >= 0) return undefined;
  const before = bytes.subarray(0, at);
  const after = bytes.subarray(at + marker.length);
  return (digest) => {
    if (!isSha256Hex(digest)) throw new Error(`internal: ${digest} is not a digest`);
    return createHash('sha256').update(before).update(digest, 'latin1').update(after).digest('hex') as CacheKey;
  };
}

/** A JSON-safe copy of the components, for run records and `plan` explanations. */
export function readableComponents(components: KeyComponents): KeyComponents {
  return { ...components, config: toReadable(components.config), ...(components.external === undefined ? {} : { external: toReadable(components.external) }) };
}

/**
 * Where the result of one version of a step's code is kept beside the key's latest result: the key and
 * the code fingerprint's digest, hashed like a key. Two branches that change a step's code under one
 * version each find their own result here, so sharing a store they never evict each other's.
 */
export function codeVariantKey(key: CacheKey, codeDigest: Digest): CacheKey {
  const encoded = canonicalEncode({ format: 'flywheel.code-variant', formatVersion: CACHE_KEY_FORMAT_VERSION, key, code: codeDigest }, 'key');
  return createHash('sha256').update(encoded).digest('hex') as CacheKey;
}
