import { totalUsage } from '../core/usage.js';
import type { KeyComponents } from '../../cache/cache-key.js';
import { canonicalJson } from '../../cache/canonical.js';
import type { CacheKey, Digest } from '../../cache/digest.js';
import { FlywheelError } from '../../cache/errors.js';
import { trustFromEnv } from '../../cache/trust-config.js';
import { readManifest, type DirManifest } from '../../cache/manifest.js';
import type { ActionEntry, OutputRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import type { Outputs } from '../core/run-protocol.js';
import { decide } from '../keys/decide.js';
import { putEntry } from '../execute/execute-once.js';
import { mapBounded } from '../helpers/map-bounded.js';
import { checkedKeyOf, elementKeys } from '../keys/node-key.js';
import type { Ports } from '../define/ports.js';
import type { ResolvedNode } from '../validate/validate.js';
import { readElements } from './collection.js';
import { collectionFileName } from '../define/map-ports.js';

const READS_AT_ONCE = 32;

export interface AssembleRequest {
  node: ResolvedNode;
  key: CacheKey;
  components: KeyComponents;
  /** Elements that failed under minSuccessRatio: the collection goes without them. */
  leftOut: readonly number[];
  /** The map's time, from its look-up to now: what a later whole hit saves. */
  durationMs: number;
  runId: string;
  upstream: Record<string, Outputs>;
  store: Store;
  env: NodeJS.ProcessEnv;
  /** Check the map's key against this process's code (a worker); the process that resolved it need not. */
  checkKey: boolean;
}

/** Each element's entry in a collection: a zero-padded index, so path order is element order. */
function label(index: number, total: number): string {
  return String(index).padStart(Math.max(5, String(Math.max(0, total - 1)).length), '0');
}

/** One JSON output's lines: a batch's array output is one line per item, anything else one line. */
function jsonLines(bytes: Buffer, batched: boolean): string[] {
  const text = bytes.toString('utf8');
  if (!batched) return [text];
  const value = JSON.parse(text) as unknown;
  return Array.isArray(value) ? value.map((item) => canonicalJson(item)) : [text];
}

async function directoryOf(store: Store, entries: DirManifest['entries']): Promise<OutputRecord> {
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifest: DirManifest = { format: 'flywheel.dir/v1', entries };
  return { kind: 'dir', ...(await store.putBytes(Buffer.from(canonicalJson(manifest)))) };
}

/**
 * Stores a map's collection from its elements' cached results, in element order: a JSON output as
 * JSON Lines, a file or directory output as a directory with one entry per element (a manifest
 * over blobs already stored: no bytes are copied). Identical results give an identical collection,
 * so everything downstream stays cached. The whole map's entry is written only when nothing is left
 * out; a map with failed elements is looked up element by element next time, and only those re-run.
 */
export async function assembleMap(request: AssembleRequest): Promise<{ outputs: Outputs; keys: Digest }> {
  const { node, store } = request;
  const upstream = (id: string): Outputs | undefined => request.upstream[id];
  if (request.checkKey) checkedKeyOf(node, upstream, request.env, request);
  const elements = await readElements(store, node, upstream);
  const keyOfElement = elementKeys(node, upstream, request.env);
  const keys = await mapBounded(elements, READS_AT_ONCE, async (element) => (await keyOfElement(element)).key);
  const left = new Set(request.leftOut);
  const kept = elements.filter((element) => !left.has(element.index));
  // Each element's result by the one rule, judged as of the map's look-up that chose it; its bytes are read (and verified) below.
  const lookedUpAt = Date.now() - request.durationMs;
  let otherCode = false;
  const entries = await mapBounded(kept, READS_AT_ONCE, async (element) => {
    const decision = await decide(node, keys[element.index] as CacheKey, {
      store,
      forced: undefined,
      repair: false,
      verifyBlobs: false,
      now: lookedUpAt,
      trusted: trustFromEnv(request.env).trusted,
    });
    if (!decision.hit) {
      throw new FlywheelError('MAP_ELEMENT_MISSING', `map ${node.id}: the result of element ${element.index} is no longer usable (${decision.why.reason})`, {
        fix: 'run again (was `cache gc` running at the same time?)',
      });
    }
    if (decision.otherCode !== undefined) otherCode = true;
    return decision.entry;
  });
  const batched = (node.map?.batchSize ?? 1) > 1;
  const outputs: Outputs = {};
  for (const [name, port] of Object.entries(node.step.outputs as Ports)) {
    const records = entries.map((entry: ActionEntry) => entry.outputs[name] as OutputRecord);
    if (port.kind === 'json') {
      const lines = await mapBounded(records, READS_AT_ONCE, async (record) => jsonLines(await store.readBytes(record.digest), batched));
      const bytes = Buffer.from(
        lines
          .flat()
          .map((line) => `${line}\n`)
          .join(''),
      );
      outputs[name] = { kind: 'file', ...(await store.putBytes(bytes)), fileName: collectionFileName(name) };
    } else if (port.kind === 'file') {
      const files: DirManifest['entries'] = records.map((record, i) => ({
        type: 'file',
        path: `${label(kept[i]?.index ?? i, elements.length)}-${record.fileName ?? name}`,
        digest: record.digest,
        size: record.size,
        executable: false,
      }));
      outputs[name] = await directoryOf(store, files);
    } else {
      const trees = await mapBounded(records, READS_AT_ONCE, (record) => readManifest(store, record.digest));
      const all: DirManifest['entries'] = [];
      trees.forEach((tree, i) => {
        const prefix = label(kept[i]?.index ?? i, elements.length);
        all.push({ type: 'dir', path: prefix });
        for (const entry of tree.entries) all.push({ ...entry, path: `${prefix}/${entry.path}` });
      });
      outputs[name] = await directoryOf(store, all);
    }
  }
  const keyList = await store.putBytes(Buffer.from(canonicalJson(keys)));
  // The whole entry is as old as its oldest element (maxAge), and only made of this code's results: an
  // element kept from other code (onCodeChange: 'warn') must still be found, and re-run, one by one.
  const oldest = entries.reduce((min, entry) => (entry.createdAt < min ? entry.createdAt : min), new Date().toISOString());
  if (left.size === 0 && !otherCode) {
    // What the collection cost: its elements' results, each as its entry keeps it.
    const usage = totalUsage(entries.map((entry) => entry.usage));
    await putEntry(store, trustFromEnv(request.env), {
      format: 'flywheel.action/v1',
      key: request.key,
      step: node.step.id,
      createdAt: oldest,
      durationMs: request.durationMs,
      runId: request.runId,
      outputs,
      components: request.components,
      ...(node.code === undefined ? {} : { code: node.code }),
      elements: { total: elements.length, keys: keyList.digest },
      ...(usage === undefined ? {} : { usage }),
    });
  }
  return { outputs, keys: keyList.digest };
}
