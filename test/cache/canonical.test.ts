import { describe, expect, it } from 'vitest';
import { NotCanonicalError, canonicalEncode, canonicalJson, findNotCanonical, toReadable } from '../../cache/canonical.js';

const hexOf = (value: unknown): string => Buffer.from(canonicalEncode(value)).toString('hex');
/** Golden hex written in groups (tag, u32 length, payload) for readability; spaces are ignored. */
const golden = (grouped: string): string => grouped.replace(/\s+/g, '');

// GOLDEN VECTORS. These pin the byte encoding every cache key is hashed from. If one of them fails,
// the encoding changed and every existing cache key changed with it: that requires bumping
// CACHE_KEY_FORMAT_VERSION in cache/cache-key.ts and then updating these literals deliberately.
describe('canonicalEncode golden vectors', () => {
  it.each([
    ['null', null, '00'],
    ['false', false, '01'],
    ['true', true, '02'],
    ['1.5 (tag + IEEE-754 float64, big-endian)', 1.5, '03 3ff8000000000000'],
    ['0', 0, '03 0000000000000000'],
    ['empty string', '', '04 00000000'],
    ['"é" (u32 byte length + UTF-8)', 'é', '04 00000002 c3a9'],
    ['array [1, "a", null]', [1, 'a', null], '05 00000003 03 3ff0000000000000 04 00000001 61 00'],
    ['empty array', [], '05 00000000'],
    ['empty object', {}, '06 00000000'],
    ['bigint (decimal digits)', 12345678901234567890n, '07 00000014 3132333435363738393031323334353637383930'],
    ['Date (ISO-8601 UTC)', new Date('2024-01-02T03:04:05.678Z'), '08 00000018 323032342d30312d30325430333a30343a30352e3637385a'],
  ])('%s', (_name, value, expected) => {
    expect(hexOf(value)).toBe(golden(expected));
  });

  it('encodes an object as its entries sorted by key, whatever the insertion order', () => {
    const expected = golden(`
      06 00000002
        04 00000001 61   05 00000002 02 04 00000001 78
        04 00000001 62   03 3ff0000000000000`);
    expect(hexOf({ b: 1, a: [true, 'x'] })).toBe(expected);
    expect(hexOf({ a: [true, 'x'], b: 1 })).toBe(expected);
  });

  it('sorts keys by UTF-8 bytes, not UTF-16 code units', () => {
    // U+FF61 is EF BD A1 in UTF-8 and sorts before U+1F600 (F0 9F 98 80); in UTF-16 it is the other way round.
    const expected = golden(`
      06 00000002
        04 00000003 efbda1     03 4000000000000000
        04 00000004 f09f9880   03 3ff0000000000000`);
    expect(hexOf({ '😀': 1, '｡': 2 })).toBe(expected);
    expect(hexOf({ '｡': 2, '😀': 1 })).toBe(expected);
  });

  it('encodes -0 exactly like 0', () => {
    expect(hexOf(-0)).toBe(hexOf(0));
    expect(hexOf({ x: [-0] })).toBe(hexOf({ x: [0] }));
  });
});

describe('canonicalEncode equality and distinctness', () => {
  it('ignores key order at every depth', () => {
    const a = { z: { y: 1, x: [{ q: 1, p: 2 }] }, a: 'first' };
    const b = { a: 'first', z: { x: [{ p: 2, q: 1 }], y: 1 } };
    expect(hexOf(a)).toBe(hexOf(b));
  });

  it('treats undefined-valued properties as absent (as JSON and zod optional fields do)', () => {
    expect(hexOf({ a: 1, b: undefined })).toBe(hexOf({ a: 1 }));
  });

  it('accepts null-prototype objects as plain objects', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    expect(hexOf(bare)).toBe(hexOf({ a: 1 }));
  });

  it('accepts the same object referenced twice (shared, not circular)', () => {
    const shared = { lr: 0.1 };
    expect(hexOf({ a: shared, b: shared })).toBe(hexOf({ a: { lr: 0.1 }, b: { lr: 0.1 } }));
  });

  it('is length-safe and type-tagged: values that a joined string would confuse all differ', () => {
    const values: unknown[] = [
      null,
      'null',
      false,
      'false',
      true,
      0,
      1,
      '1',
      1n,
      '',
      [],
      {},
      [null],
      [[]],
      [[], []],
      [[[]]],
      { a: 'bc' },
      { ab: 'c' },
      ['ab', 'c'],
      ['a', 'bc'],
      ['abc'],
      { a: null },
      { a: {} },
      { a: { b: 'c' } },
      { 'a.b': 'c' },
      new Date(0),
      '1970-01-01T00:00:00.000Z',
      10n,
      1.0000000000000002,
    ];
    const encodings = values.map(hexOf);
    expect(new Set(encodings).size).toBe(values.length);
  });
});

describe('canonicalEncode refusals name the exact path', () => {
  class Adam {
    lr = 0.1;
  }
  const circular: Record<string, unknown> = { name: 'loop' };
  circular.self = circular;
  const circularThroughArray: Record<string, unknown> = {};
  circularThroughArray.list = [1, circularThroughArray];

  it.each<[string, unknown, string, RegExp]>([
    ['a function', { train: { lr: () => 0.1 } }, 'config.train.lr', /a function cannot be hashed/],
    ['a symbol value', { tag: Symbol('t') }, 'config.tag', /a symbol cannot be hashed/],
    ['a symbol-keyed property', { [Symbol('k')]: 1 }, 'config', /symbol-keyed/],
    ['a Map', { lookup: new Map([['a', 1]]) }, 'config.lookup', /an instance of Map/],
    ['a Set', { ids: new Set([1]) }, 'config.ids', /an instance of Set/],
    ['a custom class instance', { optimizer: new Adam() }, 'config.optimizer', /an instance of Adam/],
    ['a Buffer', { bytes: Buffer.from('x') }, 'config.bytes', /an instance of Buffer/],
    ['a boxed string', { s: new String('x') }, 'config.s', /an instance of String/],
    ['NaN', { list: [1, 2, Number.NaN] }, 'config.list[2]', /NaN has no canonical form/],
    ['Infinity', { train: { lr: Number.POSITIVE_INFINITY } }, 'config.train.lr', /Infinity has no canonical form/],
    ['-Infinity', { min: Number.NEGATIVE_INFINITY }, 'config.min', /-Infinity has no canonical form/],
    ['a lone surrogate in a value', { name: 'ok\uD800' }, 'config.name', /lone UTF-16 surrogate/],
    ['a lone surrogate in a key', { '\uDC00': 1 }, 'config["\\udc00"]', /lone UTF-16 surrogate/],
    ['a circular reference', circular, 'config.self', /circular reference/],
    ['a circular reference through an array', circularThroughArray, 'config.list[1]', /circular reference/],
    // eslint-disable-next-line no-sparse-arrays
    ['an array hole', { list: [1, , 3] }, 'config.list[1]', /array holes/],
    ['an undefined array item', { list: [1, undefined] }, 'config.list[1]', /array holes and undefined items/],
    ['undefined at the top', undefined, 'config', /undefined cannot be hashed/],
    ['an invalid Date', { when: new Date('not a date') }, 'config.when', /invalid Date/],
    ['a key that is not an identifier', { 'a.b': () => 1 }, 'config["a.b"]', /a function/],
    ['a deep mix of arrays and objects', { stages: [{ opts: { fn: () => 1 } }] }, 'config.stages[0].opts.fn', /a function/],
  ])('refuses %s', (_name, value, path, problem) => {
    let thrown: unknown;
    try {
      canonicalEncode(value, 'config');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(NotCanonicalError);
    const error = thrown as NotCanonicalError;
    expect(error.path).toBe(path);
    expect(error.problem).toMatch(problem);
    expect(error.message).toBe(`${path}: ${error.problem}`);
  });

  it('findNotCanonical returns the error instead of throwing, and undefined for plain data', () => {
    expect(findNotCanonical({ ok: [1, 'two', { three: null }] }, 'train')).toBeUndefined();
    const found = findNotCanonical({ train: { lr: () => 1 } }, 'fineTune');
    expect(found).toBeInstanceOf(NotCanonicalError);
    expect(found?.path).toBe('fineTune.train.lr');
  });
});

describe('readable forms', () => {
  it('toReadable makes bigint and Date JSON-safe and drops undefined properties', () => {
    const when = new Date('2024-01-02T03:04:05.678Z');
    expect(toReadable({ seed: 42n, when, list: [1n, { x: undefined, y: 'y' }] })).toEqual({
      seed: '42n',
      when: '2024-01-02T03:04:05.678Z',
      list: ['1n', { y: 'y' }],
    });
  });

  it('canonicalJson sorts keys at every depth and has no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ f: 1, e: 2 }], c: undefined } })).toBe('{"a":{"d":[{"e":2,"f":1}]},"b":1}');
  });
});
