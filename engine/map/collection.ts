import { posix } from 'node:path';
import { canonicalJson, NotCanonicalError } from '../../cache/canonical.js';
import { sha256Bytes, type Digest } from '../../cache/digest.js';
import { FlywheelError } from '../../cache/errors.js';
import { readManifest } from '../../cache/manifest.js';
import type { OutputRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import type { Outputs } from '../core/run-protocol.js';
import type { Port, Ports } from '../define/ports.js';
import type { ResolvedNode } from '../validate/validate.js';
import type { MapSpec } from '../define/map-ports.js';

/** What one element's `over` input receives: a JSON value (an item, or a batch of items), or a stored file (a file of a directory). */
export type GivenInput = { kind: 'value'; value: unknown } | { kind: 'record'; record: OutputRecord };

/**
 * One element of a map, the unit it keys, executes, retries and caches on its own: its position, what it
 * receives, and the digest that enters its key as that input's.
 */
export interface MapElement {
  index: number;
  given: GivenInput;
  digest: Digest;
  fileName?: string;
}

/** The node's map spec; an internal error for a plain node. */
export function mapOf(node: ResolvedNode): MapSpec {
  if (node.map === undefined) throw new Error(`internal: ${node.id} is not a map`);
  return node.map;
}

/** The collection record the map's `over` input is wired to. */
export function collectionRecord(node: ResolvedNode, upstream: (id: string) => Outputs | undefined): { record: OutputRecord; from: string } {
  const source = node.inputs[mapOf(node).over];
  const record = source === null || source === undefined ? undefined : upstream(source.node)?.[source.output];
  if (source === null || source === undefined || record === undefined) throw new Error(`internal: the collection of map ${node.id} is not available`);
  return { record, from: `${source.node}.${source.output}` };
}

function invalid(node: ResolvedNode, from: string, message: string, fix: string): FlywheelError {
  return new FlywheelError('MAP_OVER_INVALID', `map ${node.id} over ${from}: ${message}`, { fix });
}

function jsonItems(node: ResolvedNode, record: OutputRecord, from: string, bytes: Buffer): unknown[] {
  const text = bytes.toString('utf8');
  if (record.kind === 'json') {
    const value = JSON.parse(text) as unknown;
    if (!Array.isArray(value))
      throw invalid(
        node,
        from,
        `the JSON output is a ${value === null ? 'null' : typeof value}, not an array`,
        'map over a JSON array output or a JSON Lines file',
      );
    return value;
  }
  const items: unknown[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    try {
      items.push(JSON.parse(line));
    } catch (error) {
      throw invalid(node, from, `line ${i + 1} is not JSON (${(error as Error).message})`, `make ${from} JSON Lines: one JSON value per line`);
    }
  }
  return items;
}

function valueElement(node: ResolvedNode, from: string, index: number, value: unknown): MapElement {
  try {
    return { index, given: { kind: 'value', value }, digest: sha256Bytes(Buffer.from(canonicalJson(value, `element ${index}`))) };
  } catch (error) {
    if (!(error instanceof NotCanonicalError)) throw error;
    throw invalid(node, from, error.message, 'elements must be plain JSON data');
  }
}

async function readElementsUncached(store: Store, node: ResolvedNode, record: OutputRecord, from: string): Promise<MapElement[]> {
  const map = mapOf(node);
  const port = (node.step.inputs as Ports)[map.over] as Port;
  if (port.kind === 'file') {
    const manifest = await readManifest(store, record.digest);
    // Hidden files (`.DS_Store`, `.part` markers) are not data.
    const files = manifest.entries.filter((e): e is Extract<typeof e, { type: 'file' }> => e.type === 'file' && !posix.basename(e.path).startsWith('.'));
    return files.map((file, index) => ({
      index,
      given: { kind: 'record', record: { kind: 'file', digest: file.digest, size: file.size, fileName: posix.basename(file.path) } },
      digest: file.digest,
      fileName: posix.basename(file.path),
    }));
  }
  const items = jsonItems(node, record, from, await store.readBytes(record.digest));
  if (map.batchSize === 1) return items.map((value, index) => valueElement(node, from, index, value));
  const elements: MapElement[] = [];
  for (let start = 0; start < items.length; start += map.batchSize)
    elements.push(valueElement(node, from, elements.length, items.slice(start, start + map.batchSize)));
  return elements;
}

// Every chunk of a map reads the same collection: the last few are kept per process, by digest and shape.
const recent = new Map<string, Promise<MapElement[]>>();
const RECENT_COLLECTIONS = 4;

/**
 * The elements of a map, in order: one per item of a JSON array or JSON Lines file (or per batch of
 * `batchSize` items), or one per file of a directory (in path order).
 */
export function readElements(store: Store, node: ResolvedNode, upstream: (id: string) => Outputs | undefined): Promise<MapElement[]> {
  const { record, from } = collectionRecord(node, upstream);
  const port = (node.step.inputs as Ports)[mapOf(node).over] as Port;
  const id = `${store.description}\0${record.digest}\0${record.kind}\0${port.kind}\0${mapOf(node).batchSize}`;
  let elements = recent.get(id);
  if (elements === undefined) {
    elements = readElementsUncached(store, node, record, from);
    elements.catch(() => recent.delete(id));
    recent.set(id, elements);
    if (recent.size > RECENT_COLLECTIONS) recent.delete(recent.keys().next().value as string);
  }
  return elements;
}
