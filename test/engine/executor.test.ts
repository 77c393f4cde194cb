import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { definePipeline, defineStep, dir, file, json } from '../../index.js';
import { validatePipeline } from '../../engine/validate/validate.js';
import { runLocal } from '../../engine/drivers/local-executor.js';
import { inProcessRunner, memoryLogger, statusOf } from '../support/in-process.js';

const source = (version: number, extra: { maxAge?: string; cache?: boolean; env?: string[] } = {}) =>
  defineStep({
    id: 'source',
    version,
    config: z.object({ n: z.number().default(1) }),
    outputs: { out: file() },
    async run({ config, outputs }) {
      await writeFile(outputs.out, `n=${config.n}\n`);
    },
    ...extra,
  });

const copy = defineStep({
  id: 'copy',
  version: 1,
  inputs: { in: file() },
  outputs: { out: file() },
  async run({ inputs, outputs }) {
    await writeFile(outputs.out, await readFile(inputs.in));
  },
});

function twoStep(step: ReturnType<typeof source>) {
  return definePipeline({
    name: 'two-step',
    build(p) {
      const s = p.add(step);
      p.add(copy, { inputs: { in: s.out.out } });
    },
  });
}

describe('local executor', () => {
  it('bumping a step version invalidates its cache and says so', async () => {
    const { run } = await inProcessRunner();
    await run(twoStep(source(1)));
    const bumped = await run(twoStep(source(2)));
    const step = bumped.steps.find((s) => s.id === 'source');
    expect(step?.status).toBe('executed');
    expect(step?.reasonCodes).toEqual(['version-changed']);
    expect(step?.reason).toBe('version 1 → 2');
    // Same output bytes: the downstream copy stays cached.
    expect(statusOf(bumped)).toEqual({ source: 'executed', copy: 'cached' });
  });

  it('treats a changed step interface like a version bump, so a new output is never missing from a hit', async () => {
    const { run } = await inProcessRunner();
    const oneOutput = defineStep({ id: 'grows', version: 1, outputs: { a: json(z.number()) }, run: () => ({ a: 1 }) });
    const twoOutputs = defineStep({ id: 'grows', version: 1, outputs: { a: json(z.number()), b: json(z.number()) }, run: () => ({ a: 1, b: 2 }) });
    const reader = defineStep({
      id: 'reader',
      version: 1,
      inputs: { b: json(z.number()) },
      outputs: { out: json(z.number()) },
      run: ({ inputs }) => ({ out: inputs.b }),
    });
    await run(definePipeline({ name: 'grows', build: (p) => void p.add(oneOutput) }));
    const grown = await run(
      definePipeline({
        name: 'grows',
        build(p) {
          const g = p.add(twoOutputs);
          p.add(reader, { inputs: { b: g.out.b } });
        },
      }),
    );
    expect(statusOf(grown)).toEqual({ grows: 'executed', reader: 'executed' });
    expect(grown.steps[0]?.reasonCodes).toEqual(['interface-changed']);
    expect(grown.steps[0]?.reason).toBe('step interface changed: output b: (absent) → "json"');
  });

  it('recomputes results older than maxAge, and always runs cache: false steps', async () => {
    const { run } = await inProcessRunner();
    const expiring = twoStep(source(1, { maxAge: 'PT0.05S' }));
    await run(expiring);
    await sleep(100);
    const later = await run(expiring);
    expect(later.steps.find((s) => s.id === 'source')?.reasonCodes).toEqual(['expired']);

    const uncached = twoStep(source(1, { cache: false }));
    const first = await run(uncached);
    const second = await run(uncached);
    expect(second.steps.find((s) => s.id === 'source')?.reasonCodes).toEqual(['cache-disabled']);
    expect(statusOf(second)).toEqual({ source: 'executed', copy: 'cached' });
    expect(first.steps[0]?.outputs).toEqual(second.steps[0]?.outputs);
  });

  it('declared env vars enter the key; secret-looking values are stored only as a digest', async () => {
    const { run } = await inProcessRunner();
    const pipeline = twoStep(source(1, { env: ['MODEL_DIR', 'HF_TOKEN'] }));
    const first = await run(pipeline, { env: { MODEL_DIR: '/a', HF_TOKEN: 'hf_secret_value' } });
    const components = first.steps[0]?.components;
    expect(components?.env.MODEL_DIR).toBe('/a');
    expect(components?.env.HF_TOKEN).toMatch(/^redacted:sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(first)).not.toContain('hf_secret_value');
    const same = await run(pipeline, { env: { MODEL_DIR: '/a', HF_TOKEN: 'hf_secret_value' } });
    expect(statusOf(same).source).toBe('cached');
    const changed = await run(pipeline, { env: { MODEL_DIR: '/b', HF_TOKEN: 'hf_secret_value' } });
    expect(changed.steps[0]?.reasonCodes).toEqual(['env-changed']);
    expect(changed.steps[0]?.reason).toBe('env MODEL_DIR changed');
  });

  it('retries retryable failures, and fails at once on invalid output', async () => {
    const { run } = await inProcessRunner();
    let attempts = 0;
    const flaky = defineStep({
      id: 'flaky',
      version: 1,
      resources: { retries: 2 },
      outputs: { value: json(z.number()) },
      run({ attempt }) {
        attempts++;
        if (attempt < 3) throw new Error(`transient failure ${attempt}`);
        return { value: attempt };
      },
    });
    const events: string[] = [];
    const ok = await run(definePipeline({ name: 'flaky', build: (p) => void p.add(flaky) }), {
      onEvent: (e) => e.type === 'step-retrying' && events.push(`${e.id} attempt ${e.attempt} ${e.error.code}`),
    });
    expect(ok.status).toBe('succeeded');
    expect(attempts).toBe(3);
    expect(ok.steps[0]?.attempts).toBe(3);
    expect(events).toEqual(['flaky attempt 1 STEP_FAILED', 'flaky attempt 2 STEP_FAILED']);

    let invalidAttempts = 0;
    const invalid = defineStep({
      id: 'invalid-output',
      version: 1,
      resources: { retries: 3 },
      outputs: { value: json(z.number()) },
      run() {
        invalidAttempts++;
        return { value: 'not a number' as unknown as number };
      },
    });
    const failed = await run(definePipeline({ name: 'invalid', build: (p) => void p.add(invalid) }));
    expect(failed.steps[0]?.error?.code).toBe('STEP_OUTPUT_INVALID');
    expect(invalidAttempts).toBe(1);
  });

  it('fails a step that exceeds its timeout even if it ignores the abort signal', async () => {
    const { run } = await inProcessRunner();
    const stuck = defineStep({ id: 'stuck', version: 1, resources: { timeout: 'PT0.2S' }, run: () => new Promise<void>(() => undefined) });
    const result = await run(definePipeline({ name: 'stuck', build: (p) => void p.add(stuck) }));
    expect(result.steps[0]?.status).toBe('failed');
    expect(result.steps[0]?.error?.code).toBe('STEP_TIMEOUT');
  });

  it('refuses a JSON output that JSON cannot hold exactly instead of storing a silently changed value', async () => {
    const { run } = await inProcessRunner();
    const lossy = defineStep({ id: 'lossy', version: 1, outputs: { counts: json(z.any()) }, run: () => ({ counts: { byWord: new Map([['a', 1]]) } }) });
    const result = await run(definePipeline({ name: 'lossy', build: (p) => void p.add(lossy) }));
    expect(result.steps[0]?.error?.code).toBe('STEP_OUTPUT_INVALID');
    expect(result.steps[0]?.error?.message).toContain('counts.byWord: an instance of Map');
  });

  it('explains an input wired to another upstream as a rewiring', async () => {
    const { run } = await inProcessRunner();
    const a = defineStep({ id: 'a', version: 1, outputs: { o: json(z.number()) }, run: () => ({ o: 1 }) });
    const b = defineStep({ id: 'b', version: 1, outputs: { o: json(z.number()) }, run: () => ({ o: 2 }) });
    const use = defineStep({
      id: 'use',
      version: 1,
      inputs: { x: json(z.number()) },
      outputs: { y: json(z.number()) },
      run: ({ inputs }) => ({ y: inputs.x }),
    });
    const wired = (from: 'a' | 'b') =>
      definePipeline({
        name: 'rewire',
        build(p) {
          const ha = p.add(a);
          const hb = p.add(b);
          p.add(use, { inputs: { x: from === 'a' ? ha.out.o : hb.out.o } });
        },
      });
    await run(wired('a'));
    const rewired = await run(wired('b'));
    expect(rewired.steps.find((s) => s.id === 'use')?.reason).toBe('input x rewired from a.o to b.o');
  });

  it('reports a file output the step never wrote', async () => {
    const { run } = await inProcessRunner();
    const lazy = defineStep({ id: 'lazy', version: 1, outputs: { out: file() }, run() {} });
    const result = await run(definePipeline({ name: 'lazy', build: (p) => void p.add(lazy) }));
    expect(result.steps[0]?.error?.code).toBe('STEP_OUTPUT_MISSING');
  });

  it('executes identical work once when two steps share a key', async () => {
    const { run } = await inProcessRunner();
    let executions = 0;
    const counted = defineStep({
      id: 'counted',
      version: 1,
      config: z.object({ label: z.string() }),
      outputs: { out: json(z.string()) },
      async run({ config }) {
        executions++;
        await sleep(50);
        return { out: config.label };
      },
    });
    const result = await run(
      definePipeline({
        name: 'twins',
        build(p) {
          p.add(counted, { id: 'first', config: { label: 'same' } });
          p.add(counted, { id: 'second', config: { label: 'same' } });
        },
      }),
    );
    expect(executions).toBe(1);
    expect(result.steps.map((s) => s.status).sort()).toEqual(['cached', 'executed']);
    expect(result.steps.find((s) => s.status === 'cached')?.reasonCodes).toEqual(['shared-execution']);
  });

  it('passes directories between steps with nested files intact', async () => {
    const { run, store } = await inProcessRunner();
    const writeTree = defineStep({
      id: 'write-tree',
      version: 1,
      outputs: { tree: dir() },
      async run({ outputs }) {
        await mkdir(join(outputs.tree, 'a', 'b'), { recursive: true });
        await writeFile(join(outputs.tree, 'a', 'b', 'deep.txt'), 'deep');
        await writeFile(join(outputs.tree, 'top.txt'), 'top');
      },
    });
    const listTree = defineStep({
      id: 'list-tree',
      version: 1,
      inputs: { tree: dir() },
      outputs: { listing: json(z.array(z.string())) },
      async run({ inputs }) {
        const entries = await readdir(inputs.tree, { recursive: true });
        return { listing: entries.map(String).sort() };
      },
    });
    const result = await run(
      definePipeline({
        name: 'trees',
        build(p) {
          const t = p.add(writeTree);
          p.add(listTree, { inputs: { tree: t.out.tree } });
        },
      }),
    );
    expect(result.status).toBe('succeeded');
    const listing = result.steps.find((s) => s.id === 'list-tree')?.outputs.listing;
    expect(listing?.kind).toBe('json');
    const value = JSON.parse((await store.readBytes(listing?.digest as never)).toString('utf8')) as unknown;
    expect(value).toEqual(['a', 'a/b', 'a/b/deep.txt', 'top.txt']);
  });

  it('logs with pipeline, run, step and cache-key bindings and redacts secrets', async () => {
    const { store } = await inProcessRunner();
    const { logger, lines } = memoryLogger('info');
    const chatty = defineStep({
      id: 'chatty',
      version: 1,
      run({ log }) {
        log.info({ apiKey: 'sk-live-123', request: { authorization: 'Bearer abc' } }, 'calling the LLM');
      },
    });
    await runLocal(validatePipeline(definePipeline({ name: 'chatty', build: (p) => void p.add(chatty) })), { store, logger });
    const line = lines().find((l) => l.msg === 'calling the LLM');
    expect(line).toMatchObject({ pipeline: 'chatty', stepId: 'chatty', apiKey: '[redacted]', request: { authorization: '[redacted]' } });
    expect(line?.runId).toEqual(expect.any(String));
    expect(line?.cacheKey).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(lines())).not.toContain('sk-live-123');
  });

  it('caches a convergent step under the outside state it leaves, and re-runs it when that state changes', async () => {
    const runner = await inProcessRunner();
    const stateFile = join(runner.store.root, '..', `ledger-${Date.now()}.txt`);
    let executions = 0;
    // Like deploy: reads a ledger in its key and appends to it only when its entry is missing.
    const record = defineStep({
      id: 'record-in-ledger',
      version: 1,
      config: z.object({ entry: z.string().default('v1') }),
      outputs: { result: json(z.object({ added: z.boolean() })) },
      external: async () => readFile(stateFile, 'utf8').catch(() => ''),
      convergent: true,
      async run({ config }) {
        executions += 1;
        const ledger = await readFile(stateFile, 'utf8').catch(() => '');
        if (ledger.split('\n').includes(config.entry)) return { result: { added: false } };
        await writeFile(stateFile, `${ledger}${config.entry}\n`);
        return { result: { added: true } };
      },
    });
    const pipeline = definePipeline({ name: 'ledger', build: (p) => void p.add(record) });
    expect(statusOf(await runner.run(pipeline))).toEqual({ 'record-in-ledger': 'executed' });
    expect(statusOf(await runner.run(pipeline))).toEqual({ 'record-in-ledger': 'cached' }); // the state it left
    await writeFile(stateFile, 'changed by hand\n');
    const again = await runner.run(pipeline);
    expect(statusOf(again)).toEqual({ 'record-in-ledger': 'executed' });
    expect(again.steps[0]?.reasonCodes).toContain('external-changed');
    expect(statusOf(await runner.run(pipeline))).toEqual({ 'record-in-ledger': 'cached' });
    expect(executions).toBe(2);
  });
});
