import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineStep, definePipeline, dir, file, json, openStore, runPipelineForTest, type RunRecord, type Store } from 'flywheel';
import type { Usage } from '../../cache/records.js';
import type { CompareResponse, RunResponse } from '../../ui/server/api-types.js';
import { startUiServer, type RunsPage, type UiServer } from '../../ui/server/index.js';
import { REPO } from '../support/cli.js';

// A step writing the artifacts the UI previews: an HTML report with a script, JSON Lines, CSV and a directory.
const report = defineStep({
  id: 'report',
  version: 1,
  config: z.object({ title: z.string().default('weekly') }),
  outputs: {
    html: file({ fileName: 'report.html' }),
    rows: file({ fileName: 'rows.jsonl' }),
    table: file({ fileName: 'table.csv' }),
    bundle: dir(),
  },
  async run({ config, outputs }) {
    await writeFile(outputs.html, `<!doctype html><h1>${config.title}</h1><script>parent.document.title = 'pwned'</script>`);
    await writeFile(outputs.rows, Array.from({ length: 250 }, (_, i) => `${JSON.stringify({ i, text: `row ${i} ✓` })}\n`).join(''));
    const csvRows = Array.from({ length: 30 }, (_, i) => `${i},"name, ${i}","multi\nline ""${i}"""\n`).join('');
    await writeFile(outputs.table, `id,name,note\n${csvRows}`);
    await mkdir(join(outputs.bundle, 'sub'), { recursive: true });
    await writeFile(join(outputs.bundle, 'a.txt'), 'a\n');
    await writeFile(join(outputs.bundle, 'sub', 'b.txt'), 'bb\n');
  },
});

const summarize = defineStep({
  id: 'summarize',
  version: 1,
  config: z.object({ factor: z.number().default(1) }),
  inputs: { rows: file() },
  outputs: { stats: json(z.object({ lines: z.number(), factor: z.number() })) },
  async run({ config, inputs }) {
    const text = await readFile(inputs.rows, 'utf8');
    return { stats: { lines: text.split('\n').length - 1, factor: config.factor } };
  },
});

const pipeline = definePipeline({
  name: 'ui-fixture',
  build(p) {
    const r = p.add(report, {});
    p.add(summarize, { inputs: { rows: r.out.rows } });
  },
});

interface Fetched {
  status: number;
  headers: Headers;
  body: string;
}

/** A raw request: the path goes out exactly as written (fetch would normalise `..`). */
function rawGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

let storeDir: string;
let assetsDir: string;
let store: Store;
let server: UiServer;
let first: RunRecord;
let second: RunRecord;

async function get(path: string, init: RequestInit = {}): Promise<Fetched> {
  const res = await fetch(new URL(path, server.url), init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

async function getJson<T>(path: string): Promise<T> {
  const res = await get(path);
  expect(res.status, res.body).toBe(200);
  expect(res.headers.get('content-type')).toContain('application/json');
  return JSON.parse(res.body) as T;
}

const output = (run: RunRecord, step: string, name: string): string => {
  const o = run.steps.find((s) => s.id === step)?.outputs[name];
  if (o === undefined) throw new Error(`no output ${step}.${name}`);
  return o.digest;
};

beforeAll(async () => {
  storeDir = await mkdtemp(join(tmpdir(), 'flywheel-ui-store-'));
  assetsDir = await mkdtemp(join(tmpdir(), 'flywheel-ui-assets-'));
  await mkdir(join(assetsDir, 'assets'));
  await writeFile(join(assetsDir, 'index.html'), '<!doctype html><div id="root"></div><script type="module" src="/assets/app.js"></script>');
  await writeFile(join(assetsDir, 'assets', 'app.js'), 'console.log("app")');
  first = (await runPipelineForTest(pipeline, { storeDir })).record;
  second = (await runPipelineForTest(pipeline, { storeDir, config: { summarize: { factor: 2 } } })).record;
  store = openStore(storeDir);
  server = await startUiServer({ store, assetsDir, pollMs: 100 });
});

afterAll(async () => {
  await server?.close();
  await rm(storeDir, { recursive: true, force: true });
  await rm(assetsDir, { recursive: true, force: true });
});

describe('flywheel ui server', () => {
  it('lists runs newest first with counts and compute time saved, and answers health', async () => {
    expect(await getJson('/api/health')).toEqual({ ok: true });
    const page = await getJson<RunsPage>('/api/runs');
    expect(page.runs.map((r) => r.runId)).toEqual([second.runId, first.runId]);
    expect(page.next).toBeNull();
    expect(page.pipelines).toEqual(['ui-fixture']);
    const [b, a] = page.runs;
    expect(a).toMatchObject({
      pipeline: 'ui-fixture',
      status: 'succeeded',
      steps: 2,
      executed: 2,
      cached: 0,
      failed: 0,
      skipped: 0,
      savedMs: 0,
      engine: 'local',
    });
    expect(b).toMatchObject({ status: 'succeeded', steps: 2, executed: 1, cached: 1 });
    expect(b?.savedMs).toBe(second.steps.find((s) => s.id === 'report')?.savedMs ?? 0);
    expect(typeof b?.durationMs).toBe('number');
    expect((await getJson<RunsPage>(`/api/runs?q=${second.runId.slice(-6)}`)).runs.map((r) => r.runId)).toEqual([second.runId]);
    expect((await getJson<RunsPage>('/api/runs?q=SUMMARIZE')).runs).toHaveLength(2);
    expect((await getJson<RunsPage>('/api/runs?status=failed')).runs).toEqual([]);
    expect((await getJson<RunsPage>(`/api/runs?before=${second.runId}`)).runs.map((r) => r.runId)).toEqual([first.runId]);
    expect((await get('/api/runs?limit=abc')).status).toBe(400);
  });

  it('returns a run record with its DAG and where cached results came from; unknown and malformed ids are refused', async () => {
    const { run } = await getJson<{ run: RunRecord }>(`/api/runs/${second.runId}`);
    expect(run.runId).toBe(second.runId);
    const reportStep = run.steps.find((s) => s.id === 'report');
    expect(reportStep?.status).toBe('cached');
    expect(reportStep?.computedBy).toBe(first.runId);
    expect(run.steps.find((s) => s.id === 'summarize')?.upstream).toEqual(['report']);
    const missing = await get('/api/runs/20000101T000000.000Z-abcdef');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ code: 'RUN_NOT_FOUND' });
    const bad = await get('/api/runs/..%2F..%2Fetc');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ code: 'BAD_PATH' });
    const spaced = await get('/api/runs/no%20such%20id');
    expect(spaced.status).toBe(400);
    expect(JSON.parse(spaced.body)).toMatchObject({ code: 'INVALID_RUN_ID' });
    expect((await get('/api/nothing-here')).status).toBe(404);
    expect(JSON.parse((await get('/api/nothing-here')).body)).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('serves an HTML artifact with its script sandboxed, and downloads', async () => {
    const html = await get(`/api/blobs/${output(first, 'report', 'html')}?view=raw&name=report.html`);
    expect(html.status).toBe(200);
    expect(html.body).toContain('<script>');
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html.headers.get('content-security-policy')).toBe('sandbox');
    expect(html.headers.get('x-content-type-options')).toBe('nosniff');
    const download = await get(`/api/blobs/${output(first, 'report', 'html')}?name=report.html&download=1`);
    expect(download.headers.get('content-disposition')).toBe('attachment; filename="report.html"');
    const unknownType = await get(`/api/blobs/${output(first, 'report', 'html')}`);
    expect(unknownType.headers.get('content-type')).toBe('application/octet-stream');
    expect(unknownType.headers.get('content-security-policy')).toBe('sandbox');
    expect((await get(`/api/blobs/${'0'.repeat(64)}`)).status).toBe(404);
  });

  it('refuses anything but a digest for blobs, and never serves files by path', async () => {
    for (const path of [
      '/api/blobs/..%2F..%2Fetc%2Fpasswd',
      '/api/blobs/../../etc/passwd',
      '/api/blobs/%2e%2e/%2e%2e/etc/passwd',
      `/api/blobs/${'A'.repeat(64)}`,
      '/api/blobs/abc',
    ]) {
      const res = await rawGet(server.port, path);
      expect([400, 404], `${path}: ${res.status}`).toContain(res.status);
      expect(res.body).not.toContain('root:');
    }
    expect((await rawGet(server.port, '/api/blobs/..%2F..%2Fetc%2Fpasswd')).status).toBe(400);
    for (const path of [
      '/assets/../../package.json',
      '/assets/..%2F..%2Fpackage.json',
      '/..%2F..%2Fpackage.json',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/server/index.js',
    ]) {
      const res = await rawGet(server.port, path);
      expect(res.body, path).not.toContain('"name": "flywheel"');
      expect(res.body, path).not.toContain('root:');
      expect([400, 404], path).toContain(res.status);
    }
    expect((await rawGet(server.port, '/assets/../../package.json')).status).toBe(400);
    expect((await rawGet(server.port, '/assets/..%2F..%2Fpackage.json')).status).toBe(400);
  });

  it('pages JSON Lines by line, CSV as a table, and lists a directory', async () => {
    const rows = output(first, 'report', 'rows');
    const p1 = await getJson<{ lines: string[]; offset: number; next: number; done: boolean }>(`/api/blobs/${rows}?view=lines&limit=100`);
    expect(p1.lines).toHaveLength(100);
    expect(JSON.parse(p1.lines[0] as string)).toEqual({ i: 0, text: 'row 0 ✓' });
    expect(p1).toMatchObject({ offset: 0, done: false });
    const lines = [...p1.lines];
    let page = p1;
    while (!page.done) {
      page = await getJson(`/api/blobs/${rows}?view=lines&limit=100&offset=${page.next}`);
      lines.push(...page.lines);
    }
    expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual(Array.from({ length: 250 }, (_, i) => i));

    const table = output(first, 'report', 'table');
    const t1 = await getJson<{ header: string[]; rows: string[][]; next: number; done: boolean }>(`/api/blobs/${table}?view=table&limit=20`);
    expect(t1.header).toEqual(['id', 'name', 'note']);
    expect(t1.rows).toHaveLength(20);
    expect(t1.rows[3]).toEqual(['3', 'name, 3', 'multi\nline "3"']);
    expect(t1.done).toBe(false);
    const t2 = await getJson<{ header: string[]; rows: string[][]; done: boolean }>(`/api/blobs/${table}?view=table&limit=20&offset=${t1.next}`);
    expect(t2.header).toEqual(['id', 'name', 'note']);
    expect(t2.rows.map((r) => r[0])).toEqual(Array.from({ length: 10 }, (_, i) => String(20 + i)));
    expect(t2.done).toBe(true);

    const listing = await getJson<{ entries: Array<{ path: string; digest: string; size: number }> }>(
      `/api/blobs/${output(first, 'report', 'bundle')}?view=dir`,
    );
    expect(listing.entries.map((e) => [e.path, e.size])).toEqual([
      ['a.txt', 2],
      ['sub/b.txt', 3],
    ]);
    const b = await get(`/api/blobs/${listing.entries[1]?.digest}?name=b.txt`);
    expect([b.body, b.headers.get('content-type')]).toEqual(['bb\n', 'text/plain; charset=utf-8']);
    expect((await get(`/api/blobs/${rows}?view=dir`)).status).toBe(422);
    expect((await get(`/api/blobs/${rows}?view=bogus`)).status).toBe(400);
  });

  it('compares two runs', async () => {
    const body = await getJson<{ comparison: { steps: Array<{ id: string; change: string; codes: string[] }> }; sections: unknown[] }>(
      `/api/compare/${first.runId}/${second.runId}`,
    );
    expect(Object.fromEntries(body.comparison.steps.map((s) => [s.id, s.change]))).toEqual({ report: 'same', summarize: 'reran' });
    expect(body.comparison.steps.find((s) => s.id === 'summarize')?.codes).toEqual(['config-changed']);
    expect(body.sections).toEqual([]);
    expect((await get(`/api/compare/${first.runId}/20000101T000000.000Z-abcdef`)).status).toBe(404);
  });

  it("pages a step's stored log, a live log file, and says when a step has none", async () => {
    // A record without logs (written before logs were captured).
    const { logs: _logs, ...bare } = first.steps[0] as RunRecord['steps'][number] & { logs?: string };
    const unlogged = { ...first, runId: `${first.runId}-nologs`, steps: [bare] };
    await store.putRun(unlogged);
    expect(await getJson(`/api/runs/${unlogged.runId}/steps/${bare.id}/logs`)).toEqual({ text: '', offset: 0, next: 0, done: true, source: 'none' });
    expect((await get(`/api/runs/${first.runId}/steps/nope/logs`)).status).toBe(404);

    // A stored log (written by the engine when a step ends) of more than one page.
    const text = Array.from({ length: 5000 }, (_, i) => `log line ${i} ✓\n`).join('');
    const { digest } = await store.putBytes(Buffer.from(text));
    const logged = { ...first, runId: `${first.runId}-logs`, steps: first.steps.map((s) => (s.id === 'report' ? { ...s, logs: digest } : s)) };
    await store.putRun(logged);
    let read = '';
    let offset = 0;
    let pages = 0;
    for (;;) {
      const page = await getJson<{ text: string; offset: number; next: number; done: boolean }>(`/api/runs/${logged.runId}/steps/report/logs?offset=${offset}`);
      expect(page.offset).toBe(offset);
      expect(page.next - page.offset).toBeLessThanOrEqual(64 * 1024);
      expect(page.text.endsWith('\n')).toBe(true);
      read += page.text;
      offset = page.next;
      pages++;
      if (page.done) break;
    }
    expect(read).toBe(text);
    expect(pages).toBeGreaterThan(1);

    // A running step's live file.
    const running: RunRecord = {
      ...first,
      runId: `${first.runId}-live`,
      status: 'running',
      host: hostname(),
      pid: process.pid,
      steps: first.steps.map((s) => {
        const { logs: _logs, ...rest } = s as typeof s & { logs?: string };
        return s.id === 'report' ? { ...rest, status: 'running' as const } : s;
      }),
    };
    await store.putRun(running);
    await mkdir(join(storeDir, 'logs', running.runId), { recursive: true });
    await writeFile(join(storeDir, 'logs', running.runId, 'report.log'), 'starting\nhalf a li');
    const live = await getJson<{ text: string; next: number; done: boolean }>(`/api/runs/${running.runId}/steps/report/logs`);
    expect(live).toEqual({ text: 'starting\n', offset: 0, next: 9, done: false, source: 'live' });
    await writeFile(join(storeDir, 'logs', running.runId, 'report.log'), 'starting\nhalf a line\n');
    expect(await getJson(`/api/runs/${running.runId}/steps/report/logs?offset=9`)).toEqual({
      text: 'half a line\n',
      offset: 9,
      next: 21,
      done: false,
      source: 'live',
    });
    await store.putRun({ ...running, status: 'succeeded' });
  });

  it('streams a running run as server-sent events until it ends', async () => {
    const runId = `${second.runId}-sse`;
    const base: RunRecord = {
      ...second,
      runId,
      status: 'running',
      host: hostname(),
      pid: process.pid,
      steps: second.steps.map((s) => (s.id === 'summarize' ? { ...s, status: 'running' as const } : s)),
    };
    await store.putRun(base);
    const res = await fetch(new URL(`/api/runs/${runId}/events`, server.url));
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const until = async (pattern: RegExp): Promise<void> => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${pattern}: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    await until(/event: run\ndata: .*\n\n/);
    const events = (): Array<{ event: string; data: string }> =>
      text
        .split('\n\n')
        .filter((block) => block.startsWith('event:'))
        .map((block) => ({ event: /^event: (.*)$/m.exec(block)?.[1] ?? '', data: /^data: (.*)$/m.exec(block)?.[1] ?? '' }));
    // Each record comes with its cost just before it.
    expect(events().map((e) => e.event)).toEqual(['cost', 'run']);
    expect(JSON.parse(events()[0]?.data ?? 'null')).toMatchObject({ spent: { resources: expect.any(String) }, prices: null });
    const records = (): RunRecord[] => events().flatMap((e) => (e.event === 'run' ? [JSON.parse(e.data) as RunRecord] : []));
    expect(records()[0]?.status).toBe('running');
    await store.appendRunSteps(runId, [{ ...(second.steps[1] as RunRecord['steps'][number]) }]);
    await until(/event: run[^]*event: run\ndata: .*\n\n/);
    expect(records()[1]?.steps.find((s) => s.id === 'summarize')?.status).toBe('executed');
    await store.putRun({ ...base, status: 'succeeded', steps: second.steps });
    await until(/event: end\n/);
    const all = events();
    expect(all.at(-1)?.event).toBe('end');
    expect(all.at(-2)?.event).toBe('run');
    expect(all.at(-3)?.event).toBe('cost');
    expect(records().at(-1)?.status).toBe('succeeded');
    const { done } = await reader.read();
    expect(done).toBe(true);
  });

  it("gives a run's cost and its steps', priced by the table the run recorded, in the run, the runs list and a comparison", async () => {
    // The second run again, as if its cached report had cost a 96 GPU-hour fine-tune and its summarize had called an LLM.
    const nothing: Usage = { wallMs: 0, cpuMs: 0 };
    const saved: Usage = { wallMs: 1000, cpuMs: 500, gpuSeconds: { 'NVIDIA H200': 96 * 3600 } };
    const spent: Usage = { wallMs: 200, cpuMs: 100, tokens: { 'gpt-4.1-mini': { input: 812_000, output: 96_000, calls: 1204 } }, counts: { scored: 5 } };
    const table = { currency: 'USD', gpuHour: { H200: 3.5 }, tokensPerMillion: { 'gpt-4.1-mini': { input: 0.4, output: 1.6 } } };
    const withUsage = (runId: string, steps: Record<string, { spent?: Usage; saved?: Usage }>, priced: boolean): RunRecord => {
      const { usage: _usage, prices: _prices, ...rest } = second;
      const stepsOut = second.steps.map((s) => {
        const { spent: _spent, saved: _saved, ...bare } = s;
        return { ...bare, ...steps[s.id] };
      });
      const total = (side: 'spent' | 'saved'): Usage =>
        Object.values(steps).reduce<Usage>((sum, u) => {
          const x = u[side];
          return x === undefined ? sum : { ...sum, ...x, wallMs: sum.wallMs + x.wallMs, cpuMs: sum.cpuMs + x.cpuMs };
        }, nothing);
      return {
        ...rest,
        runId,
        steps: stepsOut,
        usage: { spent: total('spent'), saved: total('saved') },
        ...(priced ? { prices: { source: '/etc/flywheel/prices.json', table } } : {}),
      };
    };
    const priced = withUsage(`${second.runId}-priced`, { report: { saved }, summarize: { spent } }, true);
    const unpriced = withUsage(`${second.runId}-unpriced`, { report: { saved }, summarize: { spent } }, false);
    // The same again with everything from the cache.
    const cached = withUsage(`${second.runId}-priced-cached`, { report: { saved }, summarize: { saved: spent } }, true);
    for (const run of [priced, unpriced, cached]) await store.putRun(run);
    // A server of its own: the shared one lists run ids at most once a second.
    const ui = await startUiServer({ store, assetsDir });
    const getJson = async <T>(path: string): Promise<T> => {
      const res = await fetch(new URL(path, ui.url));
      expect(res.status).toBe(200);
      return (await res.json()) as T;
    };
    try {
      const { cost } = await getJson<RunResponse>(`/api/runs/${priced.runId}`);
      expect(cost?.prices).toEqual({ currency: 'USD', source: '/etc/flywheel/prices.json' });
      // 812k × $0.40 + 96k × $1.60 per million = $0.4784; 96 GPU-h × $3.50 = $336.
      expect(cost?.spent).toMatchObject({
        resources: '908k tokens, CPU 100ms, scored 5',
        text: '908k tokens, CPU 100ms, scored 5 = $0.48 (+ unpriced: count scored)',
        money: '$0.48',
        unpriced: ['count scored'],
        short: '$0.48',
        notable: true,
        tokens: ['gpt-4.1-mini: 812k in / 96k out (1,204 calls)'],
      });
      expect(cost?.spent.amount).toBeCloseTo(0.4784, 6);
      expect(cost?.saved).toMatchObject({
        resources: '96.0 GPU-h H200, CPU 500ms',
        text: '96.0 GPU-h H200, CPU 500ms = $336.00',
        amount: 336,
        money: '$336.00',
      });
      expect(cost?.steps['report']).toMatchObject({ spent: null, saved: { money: '$336.00', short: '$336.00', notable: true } });
      expect(cost?.steps['summarize']).toMatchObject({ saved: null, spent: { money: '$0.48', tokens: ['gpt-4.1-mini: 812k in / 96k out (1,204 calls)'] } });

      // Without a price table: resources, no money.
      const bare = (await getJson<RunResponse>(`/api/runs/${unpriced.runId}`)).cost;
      expect(bare?.prices).toBeNull();
      expect(bare?.saved).toMatchObject({ resources: '96.0 GPU-h H200, CPU 500ms', money: null, amount: null, short: '96.0 GPU-h H200', notable: true });
      expect(bare?.spent.short).toBe('908k tokens');

      // The runs list: money where the run was priced, else GPU-hours and tokens.
      const rows = (await getJson<RunsPage>(`/api/runs?q=${second.runId}-`)).runs;
      const row = (runId: string) => rows.find((r) => r.runId === runId)?.cost;
      expect(row(priced.runId)).toMatchObject({ spent: '$0.48', saved: '$336.00', priced: true });
      expect(row(priced.runId)?.detail).toBe(
        'spent: 908k tokens, CPU 100ms, scored 5 = $0.48 (+ unpriced: count scored); saved by the cache: 96.0 GPU-h H200, CPU 500ms = $336.00',
      );
      expect(row(unpriced.runId)).toMatchObject({ spent: '908k tokens', saved: '96.0 GPU-h H200', priced: false });
      expect(row(unpriced.runId)?.detail).toContain('(resources only: no price table)');

      // A comparison: both costs, and B less A in money where both were priced, else by resource.
      const compared = (await getJson<CompareResponse>(`/api/compare/${priced.runId}/${cached.runId}`)).cost;
      expect(compared?.a?.spent.money).toBe('$0.48');
      expect(compared?.b?.spent.money).toBe('$0.00');
      expect(compared?.change).toEqual({ spent: '-$0.48', saved: '+$0.48' });
      expect((await getJson<CompareResponse>(`/api/compare/${unpriced.runId}/${cached.runId}`)).cost?.change).toEqual({
        spent: '-908k tokens, CPU -100ms',
        saved: '+908k tokens, CPU +100ms',
      });
      expect((await getJson<CompareResponse>(`/api/compare/${priced.runId}/${priced.runId}`)).cost?.change).toEqual({ spent: 'no change', saved: 'no change' });
    } finally {
      await ui.close();
    }
  });

  it('serves the app with a single-page fallback, read-only', async () => {
    const page = await get(`/runs/${first.runId}/steps/report`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<div id="root">');
    const asset = await get('/assets/app.js');
    expect(asset.headers.get('content-type')).toContain('text/javascript');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await get('/assets/missing.js')).status).toBe(404);
    const post = await get('/api/runs', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(JSON.parse(post.body)).toMatchObject({ code: 'METHOD_NOT_ALLOWED' });
    expect((await get('/', { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(new URL('/api/health', server.url), { method: 'HEAD' })).status).toBe(200);
    // A page of another site reaching this loopback server by a rebound name is refused.
    expect((await rawGet(server.port, '/api/runs', { Host: 'evil.example:80' })).status).toBe(403);
  });

  it('says how to build the app when dist/ui is missing', async () => {
    const bare = await startUiServer({ store, assetsDir: join(assetsDir, 'absent') });
    try {
      const res = await fetch(bare.url);
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('npm run build');
    } finally {
      await bare.close();
    }
  });

  it('with a token, refuses requests without it and accepts the query once, then the cookie or a bearer header', async () => {
    const token = 'test-token-123';
    const guarded = await startUiServer({ store, assetsDir, token });
    try {
      const missing = await fetch(new URL('/api/runs', guarded.url));
      expect(missing.status).toBe(401);
      expect(await missing.text()).not.toContain(first.runId);
      expect((await fetch(new URL('/', guarded.url))).status).toBe(401);
      expect((await fetch(new URL(`/api/blobs/${output(first, 'report', 'html')}`, guarded.url))).status).toBe(401);
      expect((await fetch(new URL('/api/runs', guarded.url), { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(new URL('/api/runs', guarded.url), { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
      const opened = await fetch(new URL(`/runs/x?token=${token}`, guarded.url), { redirect: 'manual' });
      expect(opened.status).toBe(302);
      expect(opened.headers.get('location')).toBe('/runs/x');
      const cookie = opened.headers.get('set-cookie') ?? '';
      expect(cookie).toContain('HttpOnly');
      expect(cookie).toContain('SameSite=Strict');
      const withCookie = await fetch(new URL('/api/runs', guarded.url), { headers: { Cookie: cookie.split(';')[0] as string } });
      expect(withCookie.status).toBe(200);
    } finally {
      await guarded.close();
    }
    await expect(startUiServer({ store, host: '0.0.0.0' })).rejects.toThrow(/token/);
  });

  it('`flywheel ui` on a non-loopback host prints a URL with a generated token, which the server requires', async () => {
    const script = `import(${JSON.stringify(join(REPO, 'cli', 'main.ts'))}).then(async (m) => { process.exitCode = await m.main(['ui', '--port', '0', '--host', '0.0.0.0', '--store', ${JSON.stringify(storeDir)}]); });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FLYWHEEL_UI_TOKEN: '' },
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          const match = /(http:\/\/\S+\?token=\S+)/.exec(out);
          if (match) resolve(match[1] as string);
        });
        child.on('exit', () => reject(new Error(`exited: ${out}${err}`)));
      });
      const printed = new URL(url);
      const local = (path: string): URL => new URL(path, `http://127.0.0.1:${printed.port}`);
      expect((await fetch(local('/api/health'))).status).toBe(401);
      expect((await fetch(local(`/api/health?token=${printed.searchParams.get('token')}`))).status).toBe(200);
      expect(printed.searchParams.get('token')?.length).toBeGreaterThanOrEqual(32);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('close', resolve));
    }
  });
});

describe('the runs list over 2,000 runs', () => {
  it('pages newest first and filters without reading everything per request', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flywheel-ui-many-'));
    const many = openStore(dir);
    const template = first;
    const ids: string[] = [];
    const start = Date.UTC(2026, 0, 1);
    const t0 = performance.now();
    for (let i = 0; i < 2000; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) => {
          const n = i + j;
          const at = new Date(start + n * 60_000).toISOString();
          const runId = `${at.replace(/[-:]/g, '')}-${n.toString(16).padStart(6, '0')}`;
          ids.push(runId);
          return many.putRun({
            ...template,
            runId,
            startedAt: at,
            pipeline: n % 3 === 0 ? 'nightly' : 'weekly',
            status: n % 10 === 0 ? 'failed' : 'succeeded',
            overrides: n === 1234 ? ['summarize.factor=1234'] : [],
          });
        }),
      );
    }
    const wrote = performance.now() - t0;
    const ui = await startUiServer({ store: many, assetsDir });
    try {
      const timed = async (path: string): Promise<[RunsPage, number]> => {
        const t = performance.now();
        const res = await fetch(new URL(path, ui.url));
        expect(res.status).toBe(200);
        return [(await res.json()) as RunsPage, performance.now() - t];
      };
      const [firstPage, firstMs] = await timed('/api/runs?limit=50');
      const newest = [...ids].sort().reverse();
      expect(firstPage.runs.map((r) => r.runId)).toEqual(newest.slice(0, 50));
      expect(firstPage.next).toBe(newest[49]);
      const seen = [...firstPage.runs.map((r) => r.runId)];
      let next = firstPage.next;
      let pages = 1;
      const t = performance.now();
      while (next !== null) {
        const [page] = await timed(`/api/runs?limit=50&before=${next}`);
        seen.push(...page.runs.map((r) => r.runId));
        next = page.next;
        pages++;
      }
      const allMs = performance.now() - t;
      expect(pages).toBe(40);
      expect(seen).toEqual(newest);

      const [failedNightly, filteredMs] = await timed('/api/runs?pipeline=nightly&status=failed&limit=500');
      expect(failedNightly.runs.map((r) => r.runId)).toEqual(newest.filter((id) => ids.indexOf(id) % 30 === 0));
      expect(failedNightly.pipelines).toEqual(['nightly', 'weekly']);
      const [found] = await timed('/api/runs?q=factor%3D1234');
      expect(found.runs.map((r) => r.runId)).toEqual([ids[1234]]);
      // Paging a filter: pages join up with no gaps or repeats.
      const weekly: string[] = [];
      let cursor: string | null = '';
      while (cursor !== null) {
        const [page]: [RunsPage, number] = await timed(`/api/runs?pipeline=weekly&limit=200${cursor === '' ? '' : `&before=${cursor}`}`);
        weekly.push(...page.runs.map((r) => r.runId));
        cursor = page.next;
      }
      expect(weekly).toEqual(newest.filter((id) => ids.indexOf(id) % 3 !== 0));
      process.stdout.write(
        `runs list over 2,000 runs: wrote records in ${wrote.toFixed(0)} ms; first page ${firstMs.toFixed(1)} ms; all 40 pages ${allMs.toFixed(0)} ms; filtered (indexed) ${filteredMs.toFixed(1)} ms\n`,
      );
    } finally {
      await ui.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
