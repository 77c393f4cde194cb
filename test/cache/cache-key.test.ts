import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CACHE_KEY_FORMAT_VERSION, cacheKeyTemplate, computeCacheKey, readableComponents, type KeyComponents } from '../../cache/cache-key.js';
import { NotCanonicalError, canonicalEncode } from '../../cache/canonical.js';
import type { Digest } from '../../cache/digest.js';

const digest = (hexChar: string): Digest => hexChar.repeat(64) as Digest;

/** A realistic fine-tune step; every test derives its variants from a fresh copy. */
function base(): KeyComponents {
  return {
    step: 'fine-tune',
    version: '2.1.0',
    ports: { inputs: { data: 'file', baseModel: 'dir?' }, outputs: { model: 'dir', report: 'file:report.md' } },
    config: {
      train: { lr: 0.0001, epochs: 3, schedule: { kind: 'cosine', warmup: 100 } },
      tags: ['weekly', 'agent'],
      seed: 42n,
      dryRun: false,
      notes: null,
    },
    inputs: { data: { from: 'synthesize.dataset', digest: digest('a'), fileName: 'train.jsonl' }, baseModel: null },
    env: { CUDA_VISIBLE_DEVICES: '0', HF_HOME: null },
  };
}

const NO_PORTS = { inputs: {}, outputs: {} };

function withChange(change: (c: KeyComponents) => void): KeyComponents {
  const components = base();
  change(components);
  return components;
}

const baseKey = computeCacheKey(base());

// GOLDEN VECTORS. Any change to these keys means every cache entry in every store stops matching:
// that requires bumping CACHE_KEY_FORMAT_VERSION in cache/cache-key.ts, then updating these literals.
describe('computeCacheKey golden vectors', () => {
  it('pins the key-format version these vectors were computed with', () => {
    expect(CACHE_KEY_FORMAT_VERSION).toBe(1);
  });

  it('a minimal step', () => {
    expect(computeCacheKey({ step: 'train', version: '1', ports: NO_PORTS, config: {}, inputs: {}, env: {} })).toBe(
      '501a0ba06a810373458d39a05d50979f8cc4cbcf024bf21e60222f786dbf3b85',
    );
  });

  it('a step with nested config, a bigint, inputs (one absent) and env (one unset)', () => {
    expect(baseKey).toBe('f36723489200697c4b14ba9c7951fa4dd22b83c7c9d79dfc17e7d38175588c4d');
  });

  it('a step whose config holds a Date, a non-ASCII string and -0', () => {
    const key = computeCacheKey({
      step: 'evaluate',
      version: '1',
      ports: { inputs: { model: 'dir' }, outputs: { metrics: 'json' } },
      config: { when: new Date('2024-01-02T03:04:05.678Z'), name: 'é', offset: -0 },
      inputs: { model: { from: 'fine-tune.model', digest: digest('0') } },
      env: {},
    });
    expect(key).toBe('8457de6780bc4f3f35f7f1045cbaa94f920386b98a200e905b28b181803bd925');
  });

  it('is SHA-256 of the canonical encoding of the versioned components, with inputs reduced to their digests', () => {
    const c = base();
    const encoded = canonicalEncode(
      {
        format: 'flywheel.cache-key',
        formatVersion: CACHE_KEY_FORMAT_VERSION,
        step: c.step,
        version: c.version,
        ports: c.ports,
        config: c.config,
        inputs: { data: { digest: digest('a'), fileName: 'train.jsonl' }, baseModel: null },
        env: c.env,
      },
      'key',
    );
    expect(baseKey).toBe(createHash('sha256').update(encoded).digest('hex'));
    expect(baseKey).toMatch(/^[0-9a-f]{64}$/);
  });
});

function reverseKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeysDeep);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reverseKeysDeep(v)]),
    );
  }
  return value;
}

describe('computeCacheKey is independent of key order', () => {
  it('in config, ports, inputs and env records', () => {
    const c = base();
    const permuted: KeyComponents = {
      env: reverseKeysDeep(c.env) as KeyComponents['env'],
      inputs: reverseKeysDeep(c.inputs) as KeyComponents['inputs'],
      config: reverseKeysDeep(c.config),
      ports: reverseKeysDeep(c.ports) as KeyComponents['ports'],
      version: c.version,
      step: c.step,
    };
    expect(JSON.stringify(Object.keys(permuted.config as object))).not.toBe(JSON.stringify(Object.keys(c.config as object)));
    expect(computeCacheKey(permuted)).toBe(baseKey);
  });

  it('is deterministic across calls', () => {
    expect(computeCacheKey(base())).toBe(computeCacheKey(base()));
  });
});

/** Every leaf of a config as a path of keys/indices. */
function leafPaths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (Array.isArray(value)) return value.flatMap((v, i) => leafPaths(v, [...prefix, i]));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
  return [prefix];
}

function changedLeaf(value: unknown): unknown {
  switch (typeof value) {
    case 'number':
      return value + 1;
    case 'string':
      return `${value}!`;
    case 'boolean':
      return !value;
    case 'bigint':
      return value + 1n;
    default:
      return 0; // null
  }
}

function setPath(root: unknown, path: Array<string | number>, change: (old: unknown) => unknown): void {
  let node = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  node[last] = change(node[last]);
}

describe('computeCacheKey changes with every component', () => {
  it('changes with each config leaf, each change giving its own key', () => {
    const paths = leafPaths(base().config);
    expect(paths.map((p) => p.join('.'))).toEqual([
      'train.lr',
      'train.epochs',
      'train.schedule.kind',
      'train.schedule.warmup',
      'tags.0',
      'tags.1',
      'seed',
      'dryRun',
      'notes',
    ]);
    const keys = paths.map((path) => computeCacheKey(withChange((c) => setPath(c.config, path, changedLeaf))));
    expect(new Set([baseKey, ...keys]).size).toBe(paths.length + 1);
  });

  it.each<[string, (c: KeyComponents) => void]>([
    ['step id', (c) => void (c.step = 'fine-tune-v2')],
    ['step version', (c) => void (c.version = '2.1.1')],
    ['config key added', (c) => void ((c.config as Record<string, unknown>).extra = 1)],
    ['config key removed', (c) => void delete (c.config as Record<string, unknown>).notes],
    ['config array order', (c) => void ((c.config as Record<string, unknown>).tags = ['agent', 'weekly'])],
    ['config leaf type: bigint 42n → number 42', (c) => void ((c.config as Record<string, unknown>).seed = 42)],
    ['config leaf type: bigint 42n → string "42"', (c) => void ((c.config as Record<string, unknown>).seed = '42')],
    ['input digest', (c) => void (c.inputs.data = { from: 'synthesize.dataset', digest: digest('b'), fileName: 'train.jsonl' })],
    ['input file name, same digest', (c) => void (c.inputs.data = { from: 'synthesize.dataset', digest: digest('a'), fileName: 'train.json' })],
    ['input port made optional', (c) => void (c.ports.inputs.data = 'file?')],
    ['output port added', (c) => void (c.ports.outputs.metrics = 'json')],
    ['output file name', (c) => void (c.ports.outputs.report = 'file:summary.md')],
    ['input becoming null', (c) => void (c.inputs.data = null)],
    ['input null becoming present', (c) => void (c.inputs.baseModel = { from: 'download.model', digest: digest('c') })],
    ['input removed', (c) => void delete c.inputs.baseModel],
    [
      'input renamed, same digest',
      (c) => void (c.inputs = { dataset: { from: 'synthesize.dataset', digest: digest('a'), fileName: 'train.jsonl' }, baseModel: null }),
    ],
    ['env value', (c) => void (c.env.CUDA_VISIBLE_DEVICES = '1')],
    ['env value set where it was unset', (c) => void (c.env.HF_HOME = '/cache/hf')],
    ['env value empty where it was unset', (c) => void (c.env.HF_HOME = '')],
    ['env var added', (c) => void (c.env.TOKENIZERS_PARALLELISM = 'false')],
    ['env var added, unset', (c) => void (c.env.TOKENIZERS_PARALLELISM = null)],
    ['env var removed', (c) => void delete c.env.HF_HOME],
  ])('changes with %s', (_name, change) => {
    expect(computeCacheKey(withChange(change))).not.toBe(baseKey);
  });

  it('does not change with `from`, the readable provenance of an input (early cutoff relies on this)', () => {
    const moved = withChange((c) => void (c.inputs.data = { from: 'otherSynth.samples', digest: digest('a'), fileName: 'train.jsonl' }));
    expect(computeCacheKey(moved)).toBe(baseKey);
  });
});

describe('computeCacheKey is length-safe', () => {
  const minimal = (patch: Partial<KeyComponents>): string =>
    computeCacheKey({ step: 's', version: '1', ports: NO_PORTS, config: {}, inputs: {}, env: {}, ...patch });

  it.each<[string, Partial<KeyComponents>, Partial<KeyComponents>]>([
    ['step/version boundary', { step: 'ab', version: 'c' }, { step: 'a', version: 'bc' }],
    ['config key/value boundary', { config: { a: 'bc' } }, { config: { ab: 'c' } }],
    ['config array item boundary', { config: ['ab', 'c'] }, { config: ['a', 'bc'] }],
    ['config nesting vs dotted key', { config: { a: { b: 1 } } }, { config: { 'a.b': 1 } }],
    ['env name/value boundary', { env: { A: 'B=C' } }, { env: { 'A=B': 'C' } }],
    ['env null vs the string "null"', { env: { A: null } }, { env: { A: 'null' } }],
    ['input name/digest boundary', { inputs: { a: { from: 'x.y', digest: digest('1') } } }, { inputs: { a1: { from: 'x.y', digest: digest('1') } } }],
  ])('%s', (_name, left, right) => {
    expect(minimal(left)).not.toBe(minimal(right));
  });
});

describe('computeCacheKey refuses config that cannot be hashed', () => {
  it('with NotCanonicalError naming the path inside the key', () => {
    let thrown: unknown;
    try {
      computeCacheKey(withChange((c) => void ((c.config as { train: Record<string, unknown> }).train.lr = () => 0.1)));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(NotCanonicalError);
    expect((thrown as NotCanonicalError).path).toBe('key.config.train.lr');
  });
});

describe("cacheKeyTemplate (the keys of a map's elements)", () => {
  const placeholder = (): Digest => randomBytes(32).toString('hex') as Digest;
  const withInput = (d: Digest): KeyComponents => withChange((c) => (c.inputs['data'] = { from: 'items.out[]', digest: d }));

  it('gives, for every digest, the key computeCacheKey gives the components with that digest in place', () => {
    const marker = placeholder();
    const keyWith = cacheKeyTemplate(withInput(marker), marker);
    expect(keyWith).toBeDefined();
    for (const d of [digest('0'), digest('f'), createHash('sha256').update('element 7').digest('hex') as Digest, marker])
      expect(keyWith?.(d)).toBe(computeCacheKey(withInput(d)));
  });

  it('is undefined when the placeholder is not in the components, or not a digest', () => {
    expect(cacheKeyTemplate(base(), placeholder())).toBeUndefined();
    expect(
      cacheKeyTemplate(
        withChange((c) => (c.inputs['data'] = { from: 'x', digest: 'é'.repeat(64) as Digest })),
        'é'.repeat(64) as Digest,
      ),
    ).toBeUndefined();
  });

  it('refuses to key anything but a digest (its length prefix would be wrong)', () => {
    const marker = placeholder();
    expect(() => cacheKeyTemplate(withInput(marker), marker)?.('abc' as Digest)).toThrow(/not a digest/);
  });
});

describe('readableComponents', () => {
  it('makes config JSON-safe, keeps inputs with their provenance, and leaves the original alone', () => {
    const c = withChange((c) => void ((c.config as Record<string, unknown>).when = new Date('2024-01-02T03:04:05.678Z')));
    const readable = readableComponents(c);
    expect(readable.config).toMatchObject({ seed: '42n', when: '2024-01-02T03:04:05.678Z', train: { lr: 0.0001 } });
    expect(readable.inputs).toEqual(c.inputs);
    expect((c.config as Record<string, unknown>).seed).toBe(42n);
    expect(JSON.parse(JSON.stringify(readable))).toEqual(readable);
  });
});
