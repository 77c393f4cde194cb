/**
 * Canonical, length-safe binary encoding of JSON-like values: the only input a cache key is hashed from.
 *
 * Every value is a tag byte followed by a fixed-width or length-prefixed payload, so no two different
 * values share an encoding (no separators to collide on) and object key order never matters.
 * Changing this encoding changes every cache key: bump CACHE_KEY_FORMAT_VERSION and the golden vectors.
 */

const TAG_NULL = 0x00;
const TAG_FALSE = 0x01;
const TAG_TRUE = 0x02;
const TAG_NUMBER = 0x03;
const TAG_STRING = 0x04;
const TAG_ARRAY = 0x05;
const TAG_OBJECT = 0x06;
const TAG_BIGINT = 0x07;
const TAG_DATE = 0x08;

/** A value that cannot be hashed canonically, with the path where it was found (e.g. `config.train.lr`). */
export class NotCanonicalError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = 'NotCanonicalError';
  }
}

const encoder = new TextEncoder();

class ByteSink {
  private chunks: Uint8Array[] = [];
  private length = 0;

  push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  tag(tag: number): void {
    this.push(Uint8Array.of(tag));
  }

  u32(value: number): void {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value);
    this.push(bytes);
  }

  sized(bytes: Uint8Array): void {
    this.u32(bytes.length);
    this.push(bytes);
  }

  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (value === undefined) return 'undefined';
  if (typeof value === 'object' && value !== null) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    return name ? `an instance of ${name}` : 'an exotic object';
  }
  return typeof value;
}

function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$-]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function encodeString(sink: ByteSink, value: string, path: string): void {
  // Lone surrogates would be replaced by U+FFFD, making two different strings hash alike.
  if (!value.isWellFormed()) throw new NotCanonicalError(path, 'string contains a lone UTF-16 surrogate');
  sink.tag(TAG_STRING);
  sink.sized(encoder.encode(value));
}

function encodeValue(sink: ByteSink, value: unknown, path: string, seen: Set<object>): void {
  if (value === null) return sink.tag(TAG_NULL);
  switch (typeof value) {
    case 'boolean':
      return sink.tag(value ? TAG_TRUE : TAG_FALSE);
    case 'number': {
      if (!Number.isFinite(value)) throw new NotCanonicalError(path, `${value} has no canonical form; use null or a finite number`);
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setFloat64(0, value === 0 ? 0 : value); // -0 and 0 are one value
      sink.tag(TAG_NUMBER);
      return sink.push(bytes);
    }
    case 'string':
      return encodeString(sink, value, path);
    case 'bigint':
      sink.tag(TAG_BIGINT);
      return sink.sized(encoder.encode(value.toString(10)));
    case 'object':
      break;
    default:
      throw new NotCanonicalError(path, `${describe(value)} cannot be hashed; use plain data (strings, numbers, booleans, arrays, objects)`);
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new NotCanonicalError(path, 'invalid Date');
    sink.tag(TAG_DATE);
    return sink.sized(encoder.encode(value.toISOString()));
  }
  if (seen.has(value)) throw new NotCanonicalError(path, 'circular reference');
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      sink.tag(TAG_ARRAY);
      sink.u32(value.length);
      for (let i = 0; i < value.length; i++) {
        if (!(i in value) || value[i] === undefined) throw new NotCanonicalError(childPath(path, i), 'array holes and undefined items cannot be hashed; use null');
        encodeValue(sink, value[i], childPath(path, i), seen);
      }
      return;
    }
    if (!isPlainObject(value)) {
      throw new NotCanonicalError(path, `${describe(value)} cannot be hashed; convert it to plain data`);
    }
    if (Object.getOwnPropertySymbols(value).length > 0) throw new NotCanonicalError(path, 'symbol-keyed properties cannot be hashed');
    // undefined-valued properties are absent, as in JSON and as zod produces for optional fields.
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ({ key: k, keyBytes: encoder.encode(k), value: v }))
      .sort((a, b) => compareBytes(a.keyBytes, b.keyBytes));
    sink.tag(TAG_OBJECT);
    sink.u32(entries.length);
    for (const entry of entries) {
      encodeString(sink, entry.key, childPath(path, entry.key));
      encodeValue(sink, entry.value, childPath(path, entry.key), seen);
    }
  } finally {
    seen.delete(value);
  }
}

/** Encodes a value canonically; throws NotCanonicalError naming the offending path. */
export function canonicalEncode(value: unknown, path = 'value'): Uint8Array {
  const sink = new ByteSink();
  encodeValue(sink, value, path, new Set());
  return sink.concat();
}

/** Checks that a value can be hashed; returns the first offending path instead of throwing. */
export function findNotCanonical(value: unknown, path: string): NotCanonicalError | undefined {
  try {
    canonicalEncode(value, path);
    return undefined;
  } catch (error) {
    if (error instanceof NotCanonicalError) return error;
    throw error;
  }
}

/** A JSON-safe copy for readable key components (bigint → "123n", Date → ISO string). */
export function toReadable(value: unknown): unknown {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toReadable);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toReadable(v);
    return out;
  }
  return value;
}

/** Deterministic JSON (sorted keys, no spaces) for manifests and stored JSON outputs. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}
