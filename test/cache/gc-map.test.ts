import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { CacheKey, Digest } from '../../cache/digest.js';
import { LocalStore } from '../../cache/local-store.js';
import { collectGarbage } from '../../cache/maintenance.js';
import type { RunRecord } from '../../cache/records.js';
import { listRuns } from '../../engine/records/run-history.js';
import { definePipeline, defineStep, json, runPipelineForTest } from '../../index.js';
import { blobFile, tempDir } from './helpers.js';

// `cache gc` and p.map: a map's per-element entries are referenced only through its key list (the run
// record's `elements.keys`, a whole map entry's `elements.keys`), not as a step's cache key.

const Item = z.object({ id: z.string(), text: z.string() });
type Item = z.infer<typeof Item>;

const items = defineStep({
  id: 'gc-map-items',
  version: 1,
  config: z.object({ items: z.array(Item).default([]) }),
  outputs: { list: json(z.array(Item)) },
  run: async ({ config }) => ({ list: config.items }),
});

const upper = defineStep({
  id: 'gc-map-upper',
  version: 1,
  inputs: { item: json(Item) },
  outputs: { out: json(Item) },
  run: async ({ inputs }) => ({ out: { id: inputs.item.id, text: inputs.item.text.toUpperCase() } }),
});

const pipeline = definePipeline({
  name: 'gc-map',
  build(p) {
    const src = p.add(items, { id: 'items' });
    p.map(upper, { id: 'upper', over: { item: src.out.list } });
  },
});

const make = (n: number, prefix = 'item'): Item[] => Array.from({ length: n }, (_, i) => ({ id: `e${i}`, text: `${prefix} ${i}` }));

/** `flywheel cache gc --keep <keepRuns> --grace PT0S`: the function and run list the CLI uses. */
async function gc(storeDir: string, keepRuns: number, runs?: RunRecord[]) {
  const store = new LocalStore(storeDir);
  return collectGarbage(store, runs ?? (await listRuns(store)), { keepRuns, graceMs: 0, dryRun: false });
}

/** The per-element cache keys a map step's record lists, in element order. */
async function elementKeys(storeDir: string, record: RunRecord): Promise<CacheKey[]> {
  const keys = record.steps.find((s) => s.id === 'upper')?.elements?.keys;
  if (keys === undefined) throw new Error('the map step records no key list');
  return JSON.parse((await new LocalStore(storeDir).readBytes(keys)).toString('utf8')) as CacheKey[];
}

async function present(storeDir: string, keys: CacheKey[]): Promise<boolean[]> {
  const store = new LocalStore(storeDir);
  return Promise.all(keys.map(async (k) => ((await store.getAction(k)) ?? 'unreadable') !== 'unreadable'));
}

describe('cache gc keeps a map’s element entries', () => {
  it('with the kept run: the map stays cached and a changed element re-runs alone', async () => {
    const storeDir = await tempDir('flywheel-gc-map');
    const run = (list: Item[]) => runPipelineForTest(pipeline, { storeDir, config: { items: { items: list } } });
    const first = await run(make(6));
    expect(first.step('upper').elements).toMatchObject({ total: 6, executed: 6 });
    const keys = await elementKeys(storeDir, first.record);
    expect(keys).toHaveLength(6);

    const report = await gc(storeDir, 1);
    expect(report.keptRuns).toEqual([first.record.runId]);
    expect(report.deletedEntries).toEqual([]);
    expect(await present(storeDir, keys)).toEqual(keys.map(() => true));
    const keyList = first.step('upper').elements?.keys as Digest;
    expect(await new LocalStore(storeDir).checkBlob(keyList, 'full')).toBe('ok');

    const again = await run(make(6));
    expect(again.statuses).toEqual({ items: 'cached', upper: 'cached' });
    expect(again.step('upper').elements).toMatchObject({ total: 6, executed: 0, cached: 6 });

    await gc(storeDir, 1);
    const changed = make(6);
    changed[4] = { id: 'e4', text: 'changed' };
    const one = await run(changed);
    expect(one.statuses).toEqual({ items: 'executed', upper: 'executed' });
    expect(one.step('upper').elements).toMatchObject({ total: 6, executed: 1, cached: 5, executedIndices: '4' });
    expect(await one.text('upper.out')).toContain('{"id":"e4","text":"CHANGED"}');
  });

  it('deletes them once no kept run or entry references the map', async () => {
    const storeDir = await tempDir('flywheel-gc-map');
    const run = (list: Item[]) => runPipelineForTest(pipeline, { storeDir, config: { items: { items: list } } });
    const old = await run(make(5, 'old'));
    const oldKeys = await elementKeys(storeDir, old.record);
    const current = await run(make(3, 'new'));
    const currentKeys = await elementKeys(storeDir, current.record);

    const report = await gc(storeDir, 1);
    expect(report.keptRuns).toEqual([current.record.runId]);
    expect(await present(storeDir, oldKeys)).toEqual(oldKeys.map(() => false));
    expect(await present(storeDir, currentKeys)).toEqual(currentKeys.map(() => true));
    expect(report.deletedEntries).toEqual(expect.arrayContaining([...oldKeys, old.step('upper').cacheKey]));
    expect(report.deletedBlobs).toContain(old.step('upper').elements?.keys);

    const back = await run(make(5, 'old'));
    expect(back.step('upper').elements).toMatchObject({ total: 5, executed: 5, cached: 0 });
  });

  it('through a kept whole-map entry when the run record carries no key list', async () => {
    const storeDir = await tempDir('flywheel-gc-map');
    const first = await runPipelineForTest(pipeline, { storeDir, config: { items: { items: make(4) } } });
    const keys = await elementKeys(storeDir, first.record);
    // A record as written before maps recorded their key list: only the whole map's cache key.
    const withoutList: RunRecord = {
      ...first.record,
      steps: first.record.steps.map((s) => {
        const { elements: _elements, ...rest } = s;
        return rest;
      }),
    };
    const report = await gc(storeDir, 1, [withoutList]);
    expect(report.deletedEntries).toEqual([]);
    expect(await present(storeDir, keys)).toEqual(keys.map(() => true));
  });

  it('a missing key list keeps nothing but breaks nothing: gc completes and the elements re-run', async () => {
    const storeDir = await tempDir('flywheel-gc-map');
    const run = (list: Item[]) => runPipelineForTest(pipeline, { storeDir, config: { items: { items: list } } });
    const first = await run(make(3));
    const keys = await elementKeys(storeDir, first.record);
    const store = new LocalStore(storeDir);
    await rm(blobFile(store, first.step('upper').elements?.keys as Digest), { force: true });

    const report = await gc(storeDir, 1);
    expect(report.deletedEntries).toEqual(expect.arrayContaining(keys));
    expect(report.deletedEntries).not.toContain(first.step('upper').cacheKey);

    const changed = make(3);
    changed[0] = { id: 'e0', text: 'other' };
    const next = await run(changed);
    expect(next.status).toBe('succeeded');
    expect(next.step('upper').elements).toMatchObject({ total: 3, executed: 3, cached: 0 });
  });
});
