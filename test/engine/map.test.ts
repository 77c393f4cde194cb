import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Digest } from '../../cache/digest.js';
import { z } from 'zod';
import {
  definePipeline,
  defineStep,
  dir,
  file,
  FlywheelError,
  json,
  planPipeline,
  openStore,
  PipelineInvalidError,
  runPipelineForTest,
  validatePipeline,
} from '../../index.js';
import { tempDir } from '../support/temp-dir.js';

const Item = z.object({ id: z.string(), text: z.string() });
type Item = z.infer<typeof Item>;

/** The collection: a JSON array, or the same items as JSON Lines. */
const items = defineStep({
  id: 'map-items',
  version: 1,
  config: z.object({ items: z.array(Item).default([]) }),
  outputs: { list: json(z.array(Item)), lines: file({ fileName: 'items.jsonl' }) },
  async run({ config, outputs }) {
    await writeFile(outputs.lines, config.items.map((i) => `${JSON.stringify(i)}\n`).join(''));
    return { list: config.items };
  },
});

/**
 * One element: its text in lower case. An id listed in the file MAP_TEST_FAIL names fails (outside the
 * key, so fixing it needs no config change); `flaky-` ids fail their first attempt only.
 */
const lower = defineStep({
  id: 'map-lower',
  version: 1,
  inputs: { item: json(Item) },
  outputs: { out: json(Item) },
  resources: { retries: 1 },
  async run({ inputs, attempt }) {
    const failing = process.env.MAP_TEST_FAIL === undefined ? [] : (await readFile(process.env.MAP_TEST_FAIL, 'utf8').catch(() => '')).split('\n');
    if (failing.includes(inputs.item.id)) throw new FlywheelError('ELEMENT_BROKEN', `element ${inputs.item.id} is broken`, { retryable: false });
    if (inputs.item.id.startsWith('flaky-') && attempt === 1) throw new Error('flaky first attempt');
    return { out: { id: inputs.item.id, text: inputs.item.text.toLowerCase() } };
  },
});

/** Downstream of the collection: the lines joined. */
const join_ = defineStep({
  id: 'map-join',
  version: 1,
  inputs: { lines: file() },
  outputs: { joined: json(z.object({ count: z.number(), texts: z.array(z.string()) })) },
  async run({ inputs }) {
    const rows = (await readFile(inputs.lines, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => Item.parse(JSON.parse(l)));
    return { joined: { count: rows.length, texts: rows.map((r) => r.text) } };
  },
});

function pipelineOver(source: 'list' | 'lines', options: { minSuccessRatio?: number } = {}) {
  return definePipeline({
    name: `map-${source}`,
    build(p) {
      const src = p.add(items, { id: 'items' });
      const mapped = p.map(lower, { id: 'lower', over: { item: source === 'list' ? src.out.list : src.out.lines }, ...options });
      p.add(join_, { id: 'join', inputs: { lines: mapped.out.out } });
    },
  });
}

const make = (n: number, prefix = 'Item'): Item[] => Array.from({ length: n }, (_, i) => ({ id: `e${i}`, text: `${prefix} ${i}` }));

/** Makes the listed element ids fail (the step reads the list from MAP_TEST_FAIL, in this process). */
async function failList(dirPath: string, ids: string[]): Promise<void> {
  const path = join(dirPath, 'fail.txt');
  await writeFile(path, ids.join('\n'));
  process.env.MAP_TEST_FAIL = path;
}

afterEach(() => {
  delete process.env.MAP_TEST_FAIL;
});

describe('p.map: one cache entry per element', () => {
  it.each(['list', 'lines'] as const)(
    'over a %s: hits per element, one changed element runs alone, identical results keep downstream cached',
    async (source) => {
      const storeDir = await tempDir();
      const pipeline = pipelineOver(source);
      const run = (list: Item[]) => runPipelineForTest(pipeline, { storeDir, config: { items: { items: list } } });

      const first = await run(make(5));
      expect(first.status).toBe('succeeded');
      expect(first.step('lower').elements).toMatchObject({ total: 5, executed: 5, cached: 0, failed: 0, executedIndices: '0-4' });
      expect(await first.output('join.joined')).toEqual({ count: 5, texts: make(5).map((i) => i.text.toLowerCase()) });
      expect(await first.text('lower.out')).toBe(
        make(5)
          .map((i) => `{"id":"${i.id}","text":"${i.text.toLowerCase()}"}\n`)
          .join(''),
      );

      const again = await run(make(5));
      expect(again.statuses).toEqual({ items: 'cached', lower: 'cached', join: 'cached' });
      expect(again.step('lower').elements).toMatchObject({ total: 5, executed: 0, cached: 5 });

      const changed = make(5);
      changed[3] = { id: 'e3', text: 'Changed' };
      const one = await run(changed);
      expect(one.statuses).toEqual({ items: 'executed', lower: 'executed', join: 'executed' });
      expect(one.step('lower').elements).toMatchObject({ total: 5, executed: 1, cached: 4, executedIndices: '3' });
      expect(one.step('lower').reason).toContain('map over 5 elements: 4 cached, 1 to run (element 3 changed)');

      // Only the case differs: the element re-runs, its result and so the collection are unchanged.
      const sameResult = [...changed];
      sameResult[3] = { id: 'e3', text: 'CHANGED' };
      const cutoff = await run(sameResult);
      expect(cutoff.statuses).toEqual({ items: 'executed', lower: 'executed', join: 'cached' });
      expect(cutoff.step('lower').elements).toMatchObject({ executed: 1, cached: 4 });
      await one.cleanup();
    },
  );

  it('adding elements runs only those; removing runs none and re-assembles the collection', async () => {
    const storeDir = await tempDir();
    const pipeline = pipelineOver('lines');
    const run = (list: Item[]) => runPipelineForTest(pipeline, { storeDir, config: { items: { items: list } } });
    await run(make(4));
    const added = await run(make(6));
    expect(added.step('lower').elements).toMatchObject({ total: 6, executed: 2, cached: 4, executedIndices: '4-5' });
    expect(added.step('lower').reason).toContain('elements 4–5 added');
    expect(((await added.output('join.joined')) as { count: number }).count).toBe(6);

    const removed = await run(make(6).filter((i) => i.id !== 'e1'));
    expect(removed.statuses).toEqual({ items: 'executed', lower: 'executed', join: 'executed' });
    expect(removed.step('lower').elements).toMatchObject({ total: 5, executed: 0, cached: 5 });
    expect(removed.step('lower').reason).toContain('1 element removed');
    expect(((await removed.output('join.joined')) as { texts: string[] }).texts).not.toContain('item 1');
  });

  it('a failing element fails the map at minSuccessRatio 1, listing it; downstream is skipped and nothing is stored', async () => {
    const storeDir = await tempDir();
    await failList(storeDir, ['e2']);
    const run = await runPipelineForTest(pipelineOver('list'), { storeDir, config: { items: { items: make(4) } } });
    expect(run.status).toBe('failed');
    const lowerStep = run.step('lower');
    expect(lowerStep.status).toBe('failed');
    expect(lowerStep.error?.code).toBe('MAP_ELEMENTS_FAILED');
    expect(lowerStep.error?.message).toContain('1 of 4 elements failed');
    expect(lowerStep.elements).toMatchObject({ total: 4, executed: 3, failed: 1, leftOut: '2' });
    expect(lowerStep.elements?.failures?.[0]).toMatchObject({ index: 2, message: expect.stringContaining('element e2 is broken') });
    // The failed element's own log is kept; every element's lines went to the map's live log.
    const store = openStore(storeDir);
    const failedLog = (await store.readBytes(lowerStep.elements?.failures?.[0]?.logs as Digest)).toString('utf8');
    expect(failedLog).toContain('element 2: step failed');
    const live = await readFile(store.liveLogPath?.(run.record.runId, 'lower') as string, 'utf8');
    expect(live).toContain('element 0: step executed');
    expect(live).toContain('element 2: step failed');
    expect(lowerStep.outputs).toEqual({});
    expect(run.statuses.join).toBe('skipped');
  });

  it('under minSuccessRatio the collection leaves the failed element out; the next run executes only it', async () => {
    const storeDir = await tempDir();
    await failList(storeDir, ['e1']);
    const pipeline = pipelineOver('list', { minSuccessRatio: 0.7 });
    const first = await runPipelineForTest(pipeline, { storeDir, config: { items: { items: make(4) } } });
    expect(first.status).toBe('succeeded');
    expect(first.step('lower').elements).toMatchObject({ total: 4, executed: 3, failed: 1, leftOut: '1' });
    expect(((await first.output('join.joined')) as { count: number }).count).toBe(3);

    await failList(storeDir, []);
    const retry = await runPipelineForTest(pipeline, { storeDir, config: { items: { items: make(4) } } });
    expect(retry.statuses).toEqual({ items: 'cached', lower: 'executed', join: 'executed' });
    expect(retry.step('lower').elements).toMatchObject({ total: 4, executed: 1, cached: 3, failed: 0, executedIndices: '1' });
    expect(((await retry.output('join.joined')) as { count: number }).count).toBe(4);

    const settled = await runPipelineForTest(pipeline, { storeDir, config: { items: { items: make(4) } } });
    expect(settled.statuses).toEqual({ items: 'cached', lower: 'cached', join: 'cached' });
  });

  it("retries an element that fails its first attempt, on its own, by the step's policy, and says how many attempts it took", async () => {
    const list = [...make(2), { id: 'flaky-1', text: 'Flaky' }];
    const run = await runPipelineForTest(pipelineOver('list'), { config: { items: { items: list } } });
    expect(run.status).toBe('succeeded');
    expect(run.step('lower').elements).toMatchObject({ executed: 3, failed: 0, retried: { '2': '2' } });
  });

  it('does not retry an element whose failure no retry can change, and counts the attempts of one that keeps failing', async () => {
    const failFile = join(await tempDir(), 'fail.txt');
    await writeFile(failFile, 'e0\n');
    process.env.MAP_TEST_FAIL = failFile;
    try {
      const list = [...make(2), { id: 'flaky-9', text: 'x' }];
      const run = await runPipelineForTest(pipelineOver('list', { minSuccessRatio: 0.5 }), { config: { items: { items: list } } });
      expect(run.status).toBe('succeeded');
      // e0 fails with a non-retryable code: one attempt; flaky-9 succeeds on its second.
      expect(run.step('lower').elements).toMatchObject({
        executed: 2,
        failed: 1,
        failures: [{ index: 0, code: 'ELEMENT_BROKEN', message: 'element e0 is broken' }],
        retried: { '2': '2' },
      });
      expect(run.step('lower').elements?.failures?.[0]?.attempts).toBeUndefined();
    } finally {
      delete process.env.MAP_TEST_FAIL;
    }
  });

  it('plan says how many elements are cached and which run', async () => {
    const storeDir = await tempDir();
    const pipeline = pipelineOver('lines');
    await runPipelineForTest(pipeline, { storeDir, config: { items: { items: make(3) } } });
    // The items step re-runs first, so the map is pending in a plan; plan the map itself over a cached collection.
    const changed = make(3);
    changed[1] = { id: 'e1', text: 'other' };
    await runPipelineForTest(pipelineOver('lines'), { storeDir, config: { items: { items: changed } }, force: ['lower'] });
    const store = openStore(storeDir);
    const plan = await planPipeline(validatePipeline(pipeline, { items: { items: changed }, lower: {} }), store, { force: [] });
    expect(plan.steps.find((s) => s.id === 'lower')?.decision).toBe('cached');
  });
});

describe('p.map over shards and in batches', () => {
  const shards = defineStep({
    id: 'map-shards',
    version: 1,
    config: z.object({ files: z.record(z.string(), z.string()) }),
    outputs: { parts: dir() },
    async run({ config, outputs }) {
      for (const [name, text] of Object.entries(config.files)) await writeFile(join(outputs.parts, name), text);
    },
  });
  const count = defineStep({
    id: 'map-count-words',
    version: 1,
    inputs: { shard: file() },
    outputs: { words: file({ fileName: 'words.txt' }), stats: json(z.object({ words: z.number() })) },
    async run({ inputs, outputs }) {
      const words = (await readFile(inputs.shard, 'utf8')).split(/\s+/).filter((w) => w !== '');
      await writeFile(outputs.words, words.join('\n'));
      return { stats: { words: words.length } };
    },
  });
  const batch = defineStep({
    id: 'map-batch-len',
    version: 1,
    inputs: { items: json(z.array(Item)) },
    outputs: { lengths: json(z.array(z.number())) },
    run: ({ inputs }) => ({ lengths: inputs.items.map((i) => i.text.length) }),
  });

  it('maps a directory, one file per element, into a directory with one entry per element', async () => {
    const pipeline = definePipeline({
      name: 'map-shards',
      build(p) {
        const src = p.add(shards, { id: 'shards' });
        p.map(count, { id: 'count', over: { shard: src.out.parts } });
      },
    });
    const storeDir = await tempDir();
    const files = { 'a.txt': 'one two', 'b.txt': 'three', 'c.txt': 'four five six' };
    const first = await runPipelineForTest(pipeline, { storeDir, config: { shards: { files } } });
    expect(first.step('count').elements).toMatchObject({ total: 3, executed: 3 });
    expect(await first.text('count.stats')).toBe('{"words":2}\n{"words":1}\n{"words":3}\n');
    const words = (await first.output('count.words')) as string;
    expect(await readFile(join(words, '00000-words.txt'), 'utf8')).toBe('one\ntwo');
    expect(await readFile(join(words, '00002-words.txt'), 'utf8')).toBe('four\nfive\nsix');

    const second = await runPipelineForTest(pipeline, { storeDir, config: { shards: { files: { ...files, 'b.txt': 'three and more' } } } });
    expect(second.step('count').elements).toMatchObject({ executed: 1, cached: 2, executedIndices: '1' });
  });

  it('batchSize hands each element an array of items and flattens JSON outputs back to one line per item', async () => {
    const pipeline = definePipeline({
      name: 'map-batches',
      build(p) {
        const src = p.add(items, { id: 'items' });
        p.map(batch, { id: 'lengths', over: { items: src.out.list }, batchSize: 2 });
      },
    });
    const run = await runPipelineForTest(pipeline, { config: { items: { items: make(5) } } });
    expect(run.step('lengths').elements).toMatchObject({ total: 3, executed: 3, batchSize: 2 });
    expect(await run.text('lengths.lengths')).toBe('6\n6\n6\n6\n6\n');
  });

  it('validation names a map wired to the wrong kind of collection, and a bad ratio', async () => {
    const bad = definePipeline({
      name: 'map-bad',
      build(p) {
        const src = p.add(items, { id: 'items' });
        // @ts-expect-error a JSON input cannot take a directory
        p.map(lower, { id: 'lower', over: { item: p.add(shards, { id: 'shards' }).out.parts }, minSuccessRatio: 2 });
        void src;
      },
    });
    expect(() => validatePipeline(bad)).toThrow(PipelineInvalidError);
    try {
      validatePipeline(bad);
    } catch (error) {
      const codes = (error as PipelineInvalidError).problems.map((p) => p.code);
      expect(codes).toEqual(expect.arrayContaining(['INPUT_KIND_MISMATCH', 'MAP_INVALID']));
    }
  });
});

describe('p.map guards', () => {
  it('refuses a map of a cache: false step: its collection is made from the elements’ entries', () => {
    const uncached = defineStep({ ...lower, id: 'map-lower-uncached', cache: false });
    const pipeline = definePipeline({
      name: 'map-uncached',
      build(p) {
        const src = p.add(items, { id: 'items' });
        p.map(uncached, { id: 'lower', over: { item: src.out.list } });
      },
    });
    try {
      validatePipeline(pipeline);
      expect.unreachable('validation passed');
    } catch (error) {
      expect((error as PipelineInvalidError).problems).toEqual([
        expect.objectContaining({ code: 'MAP_INVALID', stepId: 'lower', message: expect.stringContaining('cache: false') }),
      ]);
    }
  });

  it('fails a batch whose JSON output has not one result per element, storing nothing for it', async () => {
    const short = defineStep({
      id: 'map-batch-short',
      version: 1,
      inputs: { items: json(z.array(Item)) },
      outputs: { firsts: json(z.array(z.string())) },
      run: ({ inputs }) => ({ firsts: inputs.items.slice(0, 1).map((i) => i.id) }),
    });
    const pipeline = definePipeline({
      name: 'map-batch-short',
      build(p) {
        const src = p.add(items, { id: 'items' });
        p.map(short, { id: 'firsts', over: { items: src.out.list }, batchSize: 2 });
      },
    });
    const run = await runPipelineForTest(pipeline, { config: { items: { items: make(5) } } });
    const step = run.step('firsts');
    expect(step.status).toBe('failed');
    // The last batch holds one element, so its one result is right; the two full batches are not.
    expect(step.elements).toMatchObject({ total: 3, executed: 1, failed: 2, leftOut: '0-1' });
    expect(step.elements?.failures?.[0]?.message).toContain('returned an array of 1 for JSON output firsts of a batch of 2');
  });

  it("gives a step's external hook each element's own digest, so one changed element re-keys only itself", async () => {
    const seen: string[] = [];
    const keyed = defineStep({
      ...lower,
      id: 'map-lower-external',
      external: (_config, digests) => {
        seen.push(digests.item ?? 'none');
        return { item: digests.item };
      },
    });
    const pipeline = definePipeline({
      name: 'map-external',
      build(p) {
        const src = p.add(items, { id: 'items' });
        p.map(keyed, { id: 'lower', over: { item: src.out.list } });
      },
    });
    const storeDir = await tempDir();
    await runPipelineForTest(pipeline, { storeDir, config: { items: { items: make(3) } } });
    expect(new Set(seen).size).toBeGreaterThanOrEqual(4); // the collection's digest, then each element's
    const changed = make(3);
    changed[2] = { id: 'e2', text: 'new' };
    const second = await runPipelineForTest(pipeline, { storeDir, config: { items: { items: changed } } });
    expect(second.step('lower').elements).toMatchObject({ executed: 1, cached: 2, executedIndices: '2' });
  });

  it("a failed map's record keeps its key list, so cache gc spares the elements it finished", async () => {
    const storeDir = await tempDir();
    await failList(storeDir, ['e3']);
    const failed = await runPipelineForTest(pipelineOver('list'), { storeDir, config: { items: { items: make(5) } } });
    expect(failed.step('lower').status).toBe('failed');
    expect(failed.step('lower').elements?.keys).toMatch(/^[0-9a-f]{64}$/);
    const store = openStore(storeDir);
    const { collectGarbage } = await import('../../cache/maintenance.js');
    const { listRuns } = await import('../../engine/records/run-history.js');
    await collectGarbage(store, await listRuns(store), { keepRuns: 5, graceMs: 0, dryRun: false });
    await failList(storeDir, []);
    const retry = await runPipelineForTest(pipelineOver('list'), { storeDir, config: { items: { items: make(5) } } });
    expect(retry.step('lower').elements).toMatchObject({ total: 5, executed: 1, cached: 4, executedIndices: '3' });
  });
});
