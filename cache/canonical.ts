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

/** One growing buffer: encoding a key touches hundreds of tiny values, so no per-value allocations. */
class ByteSink {
  private bytes = new Uint8Array(256);
  private view = new DataView(this.bytes.buffer);
  private length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + extra));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  tag(tag: number): void {
    this.reserve(1);
    this.bytes[this.length++] = tag;
  }

  u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value);
    this.length += 4;
  }

  float64(value: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, value);
    this.length += 8;
  }

  /** Length-prefixed UTF-8 text. */
  text(value: string): void {
    this.reserve(4 + value.length * 3); // UTF-8 needs at most 3 bytes per UTF-16 code unit
    const written = encoder.encodeInto(value, this.bytes.subarray(this.length + 4)).written;
    this.view.setUint32(this.length, written);
    this.length += 4 + written;
  }

  concat(): Uint8Array {
    return this.bytes.slice(0, this.length);
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

/** Where a value sits, built as a cheap linked list and rendered (`config.list[2]`) only for an error. */
interface Path {
  parent?: Path;
  key: string | number;
}

function child(parent: Path, key: string | number): Path {
  return { parent, key };
}

function render(path: Path): string {
  const { parent, key } = path;
  if (parent === undefined) return String(key);
  if (typeof key === 'number') return `${render(parent)}[${key}]`;
  return /^[A-Za-z_$][\w$-]*$/.test(key) ? `${render(parent)}.${key}` : `${render(parent)}[${JSON.stringify(key)}]`;
}

function fail(path: Path, problem: string): never {
  throw new NotCanonicalError(render(path), problem);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

// Below U+D800, UTF-16 code-unit order is UTF-8 byte order, so the common case needs no encoding.
const NEEDS_BYTE_ORDER = /[\uD800-\uFFFF]/;

/** Orders object keys by their UTF-8 bytes, so the order is the same in every language. */
function compareKeys(a: string, b: string): number {
  if (!NEEDS_BYTE_ORDER.test(a) && !NEEDS_BYTE_ORDER.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return compareBytes(encoder.encode(a), encoder.encode(b));
}

function encodeString(sink: ByteSink, value: string, path: Path): void {
  // Lone surrogates would be replaced by U+FFFD, making two different strings hash alike.
  if (!value.isWellFormed()) fail(path, 'string contains a lone UTF-16 surrogate');
  sink.tag(TAG_STRING);
  sink.text(value);
}

function encodeValue(sink: ByteSink, value: unknown, path: Path, seen: Set<object>): void {
  if (value === null) return sink.tag(TAG_NULL);
  switch (typeof value) {
    case 'boolean':
      return sink.tag(value ? TAG_TRUE : TAG_FALSE);
    case 'number': {
      if (!Number.isFinite(value)) fail(path, `${value} has no canonical form; use null or a finite number`);
      sink.tag(TAG_NUMBER);
      return sink.float64(value === 0 ? 0 : value); // -0 and 0 are one value
    }
    case 'string':
      return encodeString(sink, value, path);
    case 'bigint':
      sink.tag(TAG_BIGINT);
      return sink.text(value.toString(10));
    case 'object':
      break;
    default:
      fail(path, `${describe(value)} cannot be hashed; use plain data (strings, numbers, booleans, arrays, objects)`);
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) fail(path, 'invalid Date');
    sink.tag(TAG_DATE);
    return sink.text(value.toISOString());
  }
  if (seen.has(value)) fail(path, 'circular reference');
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      sink.tag(TAG_ARRAY);
      sink.u32(value.length);
      for (let i = 0; i < value.length; i++) {
        if (!(i in value) || value[i] === undefined) fail(child(path, i), 'array holes and undefined items cannot be hashed; use null');
        encodeValue(sink, value[i], child(path, i), seen);
      }
      return;
    }
    if (!isPlainObject(value)) {
      fail(path, `${describe(value)} cannot be hashed; convert it to plain data`);
    }
    if (Object.getOwnPropertySymbols(value).length > 0) fail(path, 'symbol-keyed properties cannot be hashed');
    // undefined-valued properties are absent, as in JSON and as zod produces for optional fields.
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => compareKeys(a, b));
    sink.tag(TAG_OBJECT);
    sink.u32(entries.length);
    for (const [key, entryValue] of entries) {
      const keyPath = child(path, key);
      encodeString(sink, key, keyPath);
      encodeValue(sink, entryValue, keyPath, seen);
    }
  } finally {
    seen.delete(value);
  }
}

/** Encodes a value canonically; throws NotCanonicalError naming the offending path. */
export function canonicalEncode(value: unknown, path = 'value'): Uint8Array {
  const sink = new ByteSink();
  encodeValue(sink, value, { key: path }, new Set());
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

/**
 * Deterministic JSON (sorted keys, no spaces) for manifests, records and JSON outputs. Refuses what JSON
 * would silently change (a Map becoming {}, NaN becoming null, a Date becoming a string), naming the path.
 */
export function canonicalJson(value: unknown, path = 'value'): string {
  return JSON.stringify(jsonValue(value, { key: path }));
}

function jsonValue(value: unknown, path: Path): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(path, `${value} is not representable in JSON; use null or a finite number`);
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((item: unknown, i) => {
      if (item === undefined) fail(child(path, i), 'undefined array items are not representable in JSON; use null');
      return jsonValue(item, child(path, i));
    });
  }
  if (typeof value !== 'object' || !isPlainObject(value)) fail(path, `${describe(value)} is not representable in JSON; convert it to plain data`);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    // Assigning it would set the prototype, not a key: the value would vanish from the encoding.
    if (key === '__proto__') fail(child(path, key), 'a key named __proto__ cannot be encoded canonically; rename it');
    const v = value[key];
    if (v !== undefined) out[key] = jsonValue(v, child(path, key));
  }
  return out;
}
